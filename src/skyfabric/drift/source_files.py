"""The files a URL or local path names, opened as a ``pyarrow.dataset``, and what is wrong
with them when they are not data.

`Files` wraps a local path or glob (`local_files`) or a ``fabric://`` URL (`fabric_files`):
how to open it, whether it is one file, its first bytes, and how to write the storage
libraries' paths of its files (``bucket/key``) back as the user's URLs (`Files.user_text`).
The errors say what the source is instead of pyarrow's "magic bytes not found": one file
that is not parquet (a baseline JSON given as the source: the arguments look swapped), a
device such as ``/dev/null``, a folder holding files that are not parquet (counted, one
named), an empty folder or prefix, a parquet file without a footer. `skyfabric.drift.sources`
turns these files into a `Source`.
"""

from __future__ import annotations

import contextlib
import glob as _glob
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as pads

from skyfabric.drift.file_io import FABRIC_PREFIX, special_kind
from skyfabric.errors import DriftError, ObjectNotFoundError
from skyfabric.storage.paths import (  # no pydantic/fsspec import
    GLOB_CHARS,
    is_hidden_name,
    partition_base,
)

if TYPE_CHECKING:
    from skyfabric.fabric import Fabric

__all__ = [
    "Files",
    "fabric_files",
    "local_files",
    "names_a_file_that_is_not_parquet",
    "raise_with_user_paths",
    "require_files",
    "user_paths",
]


def _local_dataset(path: str, partitioning: Any = "hive", **kwargs: Any) -> pads.Dataset:
    path = os.path.expanduser(path)
    if GLOB_CHARS & set(path) and not os.path.exists(path):  # a folder named run[1] is no glob
        files = sorted(
            f
            for p in _glob.glob(path, recursive=True)
            if not is_hidden_name(os.path.basename(p.rstrip(os.sep)))
            for f in _files_under(p)
        )
        if not files:
            raise ObjectNotFoundError(f"the glob {path!r} matches no file; fix: check the pattern")
        # from the pattern, as for a fabric:// glob: a stray notes.csv sorting first is then
        # named as a file that is not parquet, instead of every parquet file failing as CSV
        fmt = "csv" if path.lower().endswith((".csv", ".csv.gz")) else "parquet"
        # data/month=*/*.parquet reads month as data/ would, as a fabric:// glob does
        base = partition_base(path.replace(os.sep, "/"))
        if base is None or partitioning is None:
            return pads.dataset(files, format=fmt, **kwargs)
        return pads.dataset(
            files, format=fmt, partitioning=partitioning, partition_base_dir=base, **kwargs
        )
    if not os.path.exists(path):
        raise ObjectNotFoundError(
            f"no file or directory at {path!r}; fix: check the path, or write fabric://<store>/... "
            "for data in a configured store"
        )
    mode = os.stat(path).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # /dev/null: pyarrow said only its name
        raise DriftError(
            f"{path!r} is a {special_kind(mode)}, not a parquet file nor a folder of them; "
            "fix: give the path of the data (a parquet file, a folder or a glob of them)"
        )
    fmt = "csv" if path.lower().endswith((".csv", ".csv.gz")) else "parquet"
    return pads.dataset(path, format=fmt, partitioning=partitioning, **kwargs)


def _files_under(path: str) -> list[str]:
    """``[path]`` for a file; for a folder the files below it, hidden names (``_SUCCESS``,
    ``.tmp``) skipped at every level: a glob of folders (``year=200[0-3]/``) reads
    the partitions it matches, as the folder above them would."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        return []
    out = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not is_hidden_name(d))
        out.extend(os.path.join(root, n) for n in sorted(names) if not is_hidden_name(n))
    return out


_PARQUET_NAMES = (".parquet", ".parq", ".pq")
_NOT_PARQUET = re.compile(r"Could not read schema from '([^']*)'\. Is this a 'parquet' file")
_HEAD = 4096  # bytes read to tell what a file that is not parquet is


@dataclass(frozen=True)
class Files:
    """The files a URL or local path names, as `open_source` needs them.

    Attributes:
        url: the URL or path as the user wrote it.
        open: ``open(**kwargs)`` -> the ``pyarrow.dataset`` of the files (kwargs of
            `pyarrow.dataset.dataset`: ``partitioning``, ``schema``).
        is_file: True when ``url`` names one file (not a folder, prefix or glob).
        head: the first bytes of that one file.
        native_root: the store's root as pyarrow names its files (``bucket/prefix``, or a
            local store's directory), for a ``fabric://`` URL; None for a local path.
        store: the store's name, for a ``fabric://`` URL.
    """

    url: str
    open: Callable[..., pads.Dataset]
    is_file: Callable[[], bool]
    head: Callable[[], bytes]
    native_root: str | None = None
    store: str | None = None

    def user_text(self, text: str) -> str:
        """``text`` with the native paths of a ``fabric://`` URL's files written as the
        user's URLs: ``drift-data/d5/a.parquet`` -> ``fabric://s3/d5/a.parquet``."""
        if self.native_root is None:
            return text
        root = self.native_root.rstrip("/")
        lead = "" if root.startswith("/") else "/?"  # s3fs/gcsfs paths may gain a "/"
        # only where a path starts: not inside the user's own fabric://<store>/... URL
        native = re.compile(rf"(?<![\w/:.-]){lead}{re.escape(root)}/")
        return native.sub(f"{FABRIC_PREFIX}{self.store}/", text)


def local_files(path: str) -> Files:
    def head() -> bytes:
        with open(os.path.expanduser(path), "rb") as fh:
            return fh.read(_HEAD)

    return Files(
        path,
        lambda **kw: _local_dataset(path, **kw),
        lambda: os.path.isfile(os.path.expanduser(path)),
        head,
    )


def fabric_files(url: str, fab: Fabric) -> Files:
    store, _, _ = fab.fs.route(url)  # UnknownStoreError / InvalidPathError before any I/O

    def head() -> bytes:
        with fab.fs.open(url, "rb") as fh:
            return bytes(fh.read(_HEAD))

    return Files(
        url,
        lambda **kw: fab.dataset(url, **kw),
        lambda: bool(fab.fs.isfile(url)),
        head,
        native_root=store.root,
        store=store.name,
    )


def raise_with_user_paths(exc: BaseException, user_text: Callable[[str], str]) -> None:
    """Raise ``exc`` again, as the same type, with its native paths written as the user's
    URLs (`Files.user_text`); return when there are none, or when the type cannot be
    rebuilt from a message (the caller then re-raises ``exc`` as it is)."""
    text = str(exc)
    shown = user_text(text)
    if shown == text:
        return
    try:
        again = type(exc)(shown)
    except Exception:  # a constructor that takes more than a message
        return
    raise again from exc


@contextlib.contextmanager
def user_paths(files: Files) -> Iterator[None]:
    """Name a ``fabric://`` URL's files by their URLs in any error opening them."""
    try:
        yield
    except (OSError, pa.ArrowException, DriftError) as exc:
        raise_with_user_paths(exc, files.user_text)
        raise


def _looks_like_a_baseline(head: bytes) -> bool:
    """A skyfabric baseline JSON (`Baseline.to_json`): an object whose first keys include
    ``format_version`` and ``skyfabric_version``."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return text.startswith(b"{") and b'"format_version"' in text and b'"skyfabric_version"' in text


def _not_a_parquet_file(files: Files) -> DriftError:
    """The error for a source that is one file, and not parquet: a baseline JSON (the
    arguments of ``drift check`` swapped), or any other file."""
    url = files.url
    try:
        head = files.head()
    except OSError:
        head = b""
    if _looks_like_a_baseline(head):
        return DriftError(
            f"{url!r} is a skyfabric baseline JSON, not data: the baseline and the source look "
            f"swapped; fix: give the data as the source and this file as the baseline: "
            f"skyfabric drift check --baseline {url} <data> (Python: check({url!r}, <data>))"
        )
    return DriftError(
        f"{url!r} is not a parquet file (it does not end with parquet's footer); fix: give "
        "the parquet data: a parquet file, a folder or a glob of them (a file whose name "
        "ends in .csv is read as CSV)"
    )


def _stray_files_error(url: str, others: list[str], total: int) -> DriftError:
    """The error for ``others``, the files of ``url`` (``total`` in all) that are not parquet."""
    if len(others) == total:
        csv = all(f.lower().endswith((".csv", ".csv.gz")) for f in others)
        hint = (
            f"; to read CSV files, give a glob ending in .csv, e.g. {url.rstrip('/')}/*.csv"
            if csv
            else ""
        )
        return DriftError(
            f"{url!r} holds no parquet file: its {total} file(s) are not parquet, e.g. "
            f"{others[0]!r}; fix: point at a folder of parquet files{hint}"
        )
    return DriftError(
        f"{url!r} holds {len(others)} file(s) that are not parquet among {total}, e.g. "
        f"{others[0]!r}, which would fail the scan; fix: move or remove them, or rename them "
        "to start with '_' or '.' (such files are skipped)"
    )


def _not_parquet(path: str) -> bool:
    return not path.lower().endswith(_PARQUET_NAMES)


@contextlib.contextmanager
def names_a_file_that_is_not_parquet(files: Files) -> Iterator[None]:
    """pyarrow reads the schema of a folder's first file when it opens the folder: a stray
    ``notes.csv`` sorting first fails there, as a `_stray_files_error` too (the files are
    then listed, without reading any, to count them); a source that is itself one file
    that is not parquet gets `_not_a_parquet_file`."""
    try:
        yield
    except pa.ArrowInvalid as exc:
        found = _NOT_PARQUET.search(str(exc))
        if found is None:
            raise
        path = found.group(1)
        if path.lower().endswith(_PARQUET_NAMES):  # named parquet, but no footer
            raise DriftError(
                f"cannot read the parquet footer of {path}: {exc}; fix: remove or rewrite "
                "that file (an empty or truncated file, or one a job is still writing)"
            ) from exc
        if files.is_file():
            raise _not_a_parquet_file(files) from exc
        listed = files.open(partitioning=None, schema=pa.schema([])).files  # no file read
        others = [f for f in listed if _not_parquet(f)] or [path]
        raise _stray_files_error(files.url, others, max(len(listed), 1)) from exc


def require_files(data: pads.Dataset, url: str) -> pads.Dataset:
    """``data`` when it has files, all of one kind; an empty folder or prefix is an error.

    Without this an empty prefix opens as a dataset with no columns, and every baseline
    column would read as ``missing_column``, blaming the schema for what is missing data.
    A folder of ``*.parquet`` files that also holds another file (``notes.csv``,
    ``README.txt``) would fail mid-scan with pyarrow's "magic bytes not found"; it is named
    here instead, before any data is read. (pyarrow already skips names starting with ``_``
    or ``.``: ``_SUCCESS``, ``.crc`` files.)

    Raises:
        ObjectNotFoundError: no data file under ``url``.
        DriftError: parquet-named files mixed with files of other names.
    """
    if isinstance(data, pads.FileSystemDataset) and isinstance(data.format, pads.ParquetFileFormat):
        others = [f for f in data.files if _not_parquet(f)]
        if others and len(others) < len(data.files):
            raise _stray_files_error(url, others, len(data.files))
    if isinstance(data, pads.FileSystemDataset) and not data.files:
        fmt = data.format.default_extname or "data"
        raise ObjectNotFoundError(
            f"no data files were found under {url!r}: it exists, but holds no {fmt} file "
            "(names starting with '_' or '.', such as _SUCCESS, are skipped); fix: check the "
            "URL (partition, date) and that the job writing the data has finished"
        )
    return data
