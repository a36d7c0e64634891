"""Parsing and checking ``fabric://<store>/<key>`` URLs.

A fabric path is ``<store>/<key>``: the store name, then the object key relative to the
store's root (bucket plus optional prefix). Keys are kept byte-for-byte (spaces, ``#``,
``+``, ``%20`` and non-ASCII are literal characters, never URL-decoded); only ``.``/``..``
segments and repeated slashes are refused or folded, so no path can leave its store.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from skyfabric.errors import InvalidPathError

PROTOCOL = "fabric"
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
PREFIX = f"{PROTOCOL}://"

__all__ = [
    "GLOB_CHARS",
    "PARTIAL_MARKER",
    "PREFIX",
    "PROTOCOL",
    "FabricPath",
    "is_hidden_name",
    "is_partial",
    "join",
    "parse",
    "partition_base",
    "strip_protocol",
]

PARTIAL_MARKER = ".skyfabric-partial-"
"""Name prefix of a copy's temporary object (see `skyfabric.storage.transfer`)."""


def is_partial(path: str) -> bool:
    """True for the temporary object of an in-flight or interrupted copy."""
    return path.rstrip("/").rpartition("/")[2].startswith(PARTIAL_MARKER)


class FabricPath(NamedTuple):
    """A parsed fabric path: ``store`` name and ``key`` (may be empty: the store root)."""

    store: str
    key: str

    def __str__(self) -> str:
        return f"{PREFIX}{self.store}/{self.key}" if self.key else f"{PREFIX}{self.store}"

    @property
    def path(self) -> str:
        """The protocol-less form ``store/key`` that fsspec methods use."""
        return f"{self.store}/{self.key}" if self.key else self.store


def strip_protocol(url: str) -> str:
    """``fabric://a/b`` -> ``a/b``; a path without the protocol is returned as is (minus slashes)."""
    if url.startswith(PREFIX):
        url = url[len(PREFIX) :]
    elif url.startswith(f"{PROTOCOL}::"):
        url = url[len(PROTOCOL) + 2 :]
    return url.lstrip("/")


def parse(url: str) -> FabricPath:
    """Split ``fabric://store/key`` (or ``store/key``) into a `FabricPath`.

    Raises:
        InvalidPathError: the store name is empty, or a ``.``/``..`` segment would let the
            key escape its store.
    """
    if not isinstance(url, str):
        raise InvalidPathError(f"expected a fabric URL string, got {type(url).__name__}: {url!r}")
    scheme = _SCHEME.match(url)
    if scheme and scheme.group(1) != PROTOCOL:
        raise InvalidPathError(
            f"{url!r} is a {scheme.group(1)}:// URL; fix: name it through a configured store, "
            "fabric://<store>/<path> (skyfabric stores lists them)"
        )
    rest = strip_protocol(url)
    store, _, key = rest.partition("/")
    if not store:
        raise InvalidPathError(
            f"{url!r} names no store; fix: write fabric://<store>/<path>, e.g. fabric://local/data.parquet"
        )
    # Inner "//" is kept: "a//b" is a legal object key distinct from "a/b" on object stores.
    parts = key.strip("/").split("/") if key.strip("/") else []
    if any(p in (".", "..") for p in parts):
        raise InvalidPathError(
            f"{url!r} contains a '.' or '..' segment, which could escape store {store!r}; "
            "fix: use a plain path inside the store"
        )
    return FabricPath(store, "/".join(parts))


def join(base: str, *parts: str) -> str:
    """Join key parts with single slashes (no normalisation beyond that)."""
    out = base.rstrip("/") or ("/" if base.startswith("/") else "")
    for part in parts:
        part = part.strip("/")
        if part:
            out = f"{out.rstrip('/')}/{part}" if out else part
    return out


#: Characters that make a path a glob pattern (fsspec and Python's glob alike).
GLOB_CHARS = frozenset("*?[")


def is_hidden_name(name: str) -> bool:
    """True for a file name that a dataset leaves out: starting with ``_`` or ``.``
    (``_SUCCESS``, ``.part-0.parquet.crc``, in-flight temporaries), as pyarrow's dataset
    discovery does for the files of a folder (``ignore_prefixes``). Globs apply it to their
    matches, so ``data/month=*/*`` reads what ``data/`` reads."""
    return name.startswith(("_", "."))


_HIVE_FOLDER = re.compile(r"^[^=*?\[]+=")


def partition_base(key: str) -> str | None:
    """The key above the first hive ``name=value`` folder (``flights`` for
    ``flights/month=7/day=1``, also ``flights/month=1*/*.parquet``), or ``None`` without one.

    The last segment counts as a folder unless it looks like a file name (has a ``.``).
    """
    parts = key.split("/")
    for i, part in enumerate(parts):
        is_last = i == len(parts) - 1
        if _HIVE_FOLDER.match(part) and not (is_last and "." in part):
            return "/".join(parts[:i])
        if GLOB_CHARS & set(part):
            return None
    return None
