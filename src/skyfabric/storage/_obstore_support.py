"""What the obstore data path shares: part sizes and concurrency, which keys obstore can
address, the translation of its exceptions (`map_errors`) and the per-process worker
threads (`pools`)."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from skyfabric.errors import (
    FabricError,
    InvalidPathError,
    ObjectExistsError,
    ObjectNotFoundError,
    StoreError,
    StoreUnreachableError,
    brief,
)

__all__ = [
    "CONCURRENCY",
    "MAX_COPY",
    "PARALLEL_SPAN",
    "PART_SIZE",
    "base64_md5",
    "etag",
    "map_errors",
    "obstore_addressable",
    "pools",
]

#: Bytes per part of a multipart upload and per ranged request of a large read. 8 MiB: above
#: S3's 5 MiB minimum part, 1,250 parts for 10 GB (S3 allows 10,000 parts per upload).
PART_SIZE = 8 * 2**20
#: Ranged reads longer than this are split into concurrent `PART_SIZE` requests (a whole
#: object is one GET, as obstore reads it: emulators answer each range by copying the object).
PARALLEL_SPAN = 64 * 2**20
#: Requests one transfer keeps in flight (parts of one object, or objects of a batch).
CONCURRENCY = 16
# Server-side copy is one request up to S3's 5 GiB CopyObject limit; larger goes to fsspec.
MAX_COPY = 5 * 2**30

# object_store's `Path` percent-encodes these in a key segment (path/parts.rs, INVALID: the
# characters AWS and GCS advise against) and drops empty segments, so such keys are not
# reachable byte-for-byte through obstore.
_UNADDRESSABLE = re.compile(r'[\x00-\x1f\x7f\\{}^%`\]"<>\[~#|*?]')


def obstore_addressable(key: str) -> bool:
    """True when obstore reads and writes ``key`` byte-for-byte (no characters it
    percent-encodes, no empty, ``.`` or ``..`` segments, no leading or trailing ``/``)."""
    if not key or _UNADDRESSABLE.search(key):
        return False
    return all(part not in ("", ".", "..") for part in key.split("/"))


@contextlib.contextmanager
def map_errors(what: str) -> Iterator[None]:
    """Translate obstore's exceptions raised inside the block into skyfabric's.

    ``what`` names the object or prefix for the message (a native path). Mapping:
    ``FileNotFoundError``/``NotFoundError`` and a missing bucket -> `ObjectNotFoundError`;
    ``AlreadyExistsError``/``PreconditionError`` -> `ObjectExistsError`;
    ``PermissionDeniedError``/``UnauthenticatedError`` -> `StoreUnreachableError`
    (credentials refused); ``InvalidPathError`` -> `InvalidPathError`; timeouts and
    connection failures (``GenericError``) -> `StoreUnreachableError`; other obstore errors
    -> `StoreError`. Messages are redacted; the original stays in ``__cause__``.
    """
    from obstore import exceptions as ox

    try:
        yield
    except FabricError:
        raise
    except (FileNotFoundError, ox.NotFoundError) as exc:
        raise ObjectNotFoundError(f"no object at {what}") from exc
    except (ox.AlreadyExistsError, ox.PreconditionError) as exc:
        raise ObjectExistsError(
            f"an object already exists at {what} (conditional write refused): {brief(exc)}"
        ) from exc
    except (ox.PermissionDeniedError, ox.UnauthenticatedError) as exc:
        raise StoreUnreachableError(
            f"the store refused the credentials for {what}: {brief(exc)}; fix: check the "
            "store's credentials (the env vars it names) and their permissions"
        ) from exc
    except ox.InvalidPathError as exc:
        raise InvalidPathError(f"{what} is not a valid object path: {brief(exc)}") from exc
    except ox.GenericError as exc:
        text = str(exc).lower()
        if any(s in text for s in ("nosuchbucket", "containernotfound", "404 not found")):
            raise ObjectNotFoundError(
                f"no object at {what}: the bucket/container does not exist"
            ) from exc
        if any(s in text for s in ("timed out", "timeout", "connect", "dns", "broken pipe")):
            raise StoreUnreachableError(
                f"the store did not answer for {what}: {brief(exc)}; fix: check the "
                "endpoint and the network (retries stopped at the deadline)"
            ) from exc
        raise StoreError(f"{what}: {brief(exc)}") from exc
    except ox.BaseError as exc:
        raise StoreError(f"{what}: {brief(exc)}") from exc


class _Pools:
    """This process's worker threads: ``objects`` run one request chain per object (many
    objects at once), ``parts`` fetch the parts of one large object; an object task may wait
    on parts, never the reverse, so neither pool can deadlock the other.

    Threads around obstore's blocking calls (which release the GIL), not its ``*_async``
    calls: those run on a tokio runtime that a forked child (a process pool) inherits dead,
    and hang there.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.objects = ThreadPoolExecutor(CONCURRENCY * 2, thread_name_prefix="skyfabric-obj")
        self.parts = ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="skyfabric-part")


_pools_lock = threading.Lock()
_pools_now: _Pools | None = None


def pools() -> _Pools:
    global _pools_now
    current = _pools_now
    if current is None or current.pid != os.getpid():
        with _pools_lock:
            if _pools_now is None or _pools_now.pid != os.getpid():
                _pools_now = _Pools()
            current = _pools_now
    return current


if hasattr(os, "register_at_fork"):  # the lock may be held by a thread that is not forked
    os.register_at_fork(after_in_child=lambda: globals().update(_pools_lock=threading.Lock()))


def etag(meta: dict[str, Any]) -> str | None:
    tag = meta.get("e_tag")
    return tag if tag is None else str(tag)


def base64_md5(tag: str | None) -> str | None:
    """``tag`` when it is a base64-encoded 16-byte digest, else ``None``."""
    if not tag:
        return None
    tag = tag.strip('"')
    if len(tag) != 24 or not tag.endswith("=="):
        return None
    try:
        return tag if len(base64.b64decode(tag, validate=True)) == 16 else None
    except ValueError:
        return None
