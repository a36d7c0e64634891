"""Turn what a user calls "the data" into Arrow batches, streamed, never loaded whole.

A *source* is one of:

- a ``fabric://<store>/<file|prefix|glob>`` URL (parquet; CSV when the name ends ``.csv``),
  opened through `skyfabric.fabric.Fabric.dataset` (hive partitions discovered);
- a local path (file, directory or glob), opened with `pyarrow.dataset.dataset`;
- a ``pyarrow.Table``, ``RecordBatch``, ``RecordBatchReader`` or ``pyarrow.dataset.Dataset``,
  passed through (a ``RecordBatchReader`` is one-shot: it can be scanned once);
- ``table:<namespace.name>[@snapshot_id]``: an Iceberg table of the fabric catalog
  (`skyfabric.tables`), read at its current snapshot or at ``snapshot_id`` (time travel).
  The snapshot is pinned when the source is opened, so every pass over it (a baseline reads
  its data twice) sees the same rows even if a writer commits meanwhile. Batches stream
  through the table layer's scan (column projection, one data file's batches at a time,
  delete files applied); for the Dask engine the snapshot's data files become `FileTask`
  records when that gives the same rows (see `TableSource.file_tasks`). That source lives in
  `skyfabric.drift.table_source` (imported on first use) and is re-exported here.

Files of a URL or path that disagree on column types get one promoted schema, whatever
their order (`skyfabric.drift.file_schemas`); columns no type holds are refused by
`Source.require_consistent`.

`open_source` returns a `Source` that knows its display name, schema, and how to
yield batches with a column projection; file-backed sources also list their files as
`FileTask` records, which the Dask engine ships to workers instead of data.
"""

from __future__ import annotations

import contextlib
import glob as _glob
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as pads

from skyfabric.drift._scan import scan_batches
from skyfabric.drift.file_schemas import unify_file_schemas
from skyfabric.errors import DriftError, ObjectNotFoundError

if TYPE_CHECKING:
    from skyfabric.drift.table_source import TableSource
    from skyfabric.fabric import Fabric

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "FileTask",
    "Source",
    "TableSource",
    "open_source",
    "read_bytes",
    "read_text",
    "validate_output",
    "write_text",
]

#: Rows per Arrow batch when scanning files: 128 Ki rows of one float64 column is 1 MiB, so a
#: dozen columns and a few batches in flight stay well under 100 MB.
DEFAULT_BATCH_SIZE = 131_072
_GLOB_CHARS = set("*?[")
FABRIC_PREFIX = "fabric://"
TABLE_PREFIX = "table:"


@dataclass(frozen=True)
class FileTask:
    """One file of a file-backed source, described so another process can reopen it.

    Attributes:
        path: the file's path on ``filesystem`` (native: ``/abs/path`` or ``bucket/key``).
        format: ``"parquet"`` or ``"csv"``.
        store: the fabric store name, when the file came from a ``fabric://`` URL; the worker
            rebuilds the store's filesystem from the Fabric configuration.
        filesystem: a picklable ``pyarrow.fs.FileSystem`` when ``store`` is ``None``.
        partition: hive partition values of the file (``{"month": 7}``), added as constant
            columns when requested, exactly as the local scan does.
        schema: the dataset's file schema (partition fields excluded), so a column absent
            from one file reads as nulls on a worker just as it does locally.
    """

    path: str
    format: str
    store: str | None = None
    filesystem: Any = None
    partition: dict[str, Any] = field(default_factory=dict)
    schema: pa.Schema | None = None


@dataclass
class Source:
    """A source ready to scan.

    Attributes:
        name: display name used in reports (the URL, the path, or ``"<pyarrow.Table>"``).
        data: a ``pyarrow.dataset.Dataset``, ``Table``, ``RecordBatch`` or ``RecordBatchReader``.
        store: fabric store name for ``fabric://`` sources, else ``None``.
        conflicts: column -> the types its files disagree on (``"int64 in a.parquet, string
            in b.parquet"``), for the columns of a URL's or path's files that no type holds
            (`skyfabric.drift.file_schemas`): `require_consistent` refuses to fit them, and
            a check reports them as ``type_changed``.
    """

    name: str
    data: Any
    store: str | None = None
    conflicts: dict[str, str] = field(default_factory=dict)
    _consumed: bool = False

    def require_consistent(self, columns: list[str]) -> None:
        """Raise unless every one of ``columns`` has one type across the source's files.

        Raises:
            DriftError: names each conflicting column, its types and files, and the fix.
        """
        bad = [c for c in columns if c in self.conflicts]
        if bad:
            raise DriftError(self.conflict_message(bad))

    def conflict_message(self, columns: list[str]) -> str:
        """Why ``columns`` (all in `conflicts`) cannot be binned, with the fix."""
        detail = "; ".join(f"{c!r}: {self.conflicts[c]}" for c in columns)
        return (
            f"the files of {self.name} disagree on the type of column(s) {detail}. Each "
            "column is binned as one type, and which file pyarrow reads first would decide. "
            "Fix: rewrite those files with one type per column, point at files of one schema "
            "(a narrower prefix or glob), or leave the column(s) out (--columns on the "
            "command line, columns= in Python)"
        )

    @property
    def schema(self) -> pa.Schema:
        """Arrow schema of the source (for a dataset: unified over files and partitions)."""
        return self.data.schema

    @property
    def reiterable(self) -> bool:
        """True unless the source is a one-shot ``RecordBatchReader``."""
        return not isinstance(self.data, pa.RecordBatchReader)

    def fit_input(self, columns: list[str] | None = None) -> Any:
        """What `Baseline.fit` reads: the underlying pyarrow object (``columns`` unused)."""
        return self.data

    def present(self, columns: list[str]) -> list[str]:
        """The subset of ``columns`` that the source has, in the given order."""
        names = set(self.schema.names)
        return [c for c in columns if c in names]

    def batches(
        self, columns: list[str], batch_size: int = DEFAULT_BATCH_SIZE
    ) -> Iterator[pa.RecordBatch]:
        """Yield record batches holding only ``columns`` (all must exist: see `present`).

        Dataset scans read only the projected column chunks of each parquet row group, a
        bounded number of batches ahead (`skyfabric.drift._scan`, local files and object
        stores alike), so memory does not grow with the size of the data nor when the
        consumer is slow; CSV and ``Dataset.filter`` datasets go through pyarrow's scanner,
        which is not bounded that way.

        Raises:
            DriftError: a one-shot ``RecordBatchReader`` is scanned a second time.
        """
        data = self.data
        if isinstance(data, pads.Dataset):
            yield from scan_batches(data, columns, batch_size)
        elif isinstance(data, pa.Table):
            yield from data.select(columns).to_batches(max_chunksize=batch_size)
        elif isinstance(data, pa.RecordBatch):
            yield data.select(columns)
        elif isinstance(data, pa.RecordBatchReader):
            if self._consumed:
                raise DriftError(
                    f"{self.name} is a RecordBatchReader that was already read; fix: pass a "
                    "pyarrow Table, Dataset or a URL, which can be scanned more than once"
                )
            self._consumed = True
            for batch in data:
                yield batch.select(columns)
        else:  # pragma: no cover - open_source only builds the kinds above
            raise DriftError(f"cannot scan {type(data).__name__}")

    def count_rows(self) -> int | None:
        """Row count from metadata when cheap (datasets, tables), else ``None``."""
        if isinstance(self.data, pads.Dataset):
            return self.data.count_rows()
        if isinstance(self.data, pa.Table | pa.RecordBatch):
            return self.data.num_rows
        return None

    def file_tasks(self) -> list[FileTask]:
        """One `FileTask` per file, for engines that ship work to other processes.

        Raises:
            DriftError: the source is in memory (a Table, RecordBatch or reader), which has
                no files to send; use the local engine for it.
        """
        data = self.data
        if not isinstance(data, pads.FileSystemDataset):
            raise DriftError(
                f"the source {self.name} is in memory ({type(data).__name__}), not files; "
                "the dask engine ships file paths to workers, not data. Fix: use "
                "engine='local', or pass a fabric:// URL or a path to parquet files"
            )
        fmt = data.format.default_extname or "parquet"
        frags = [
            (f.path, dict(pads.get_partition_keys(f.partition_expression) or {}))
            for f in data.get_fragments()
        ]
        # partition fields are the keys the fragments' paths carry (``data.partitioning`` is
        # not reliable: for a single file it reports the file's own schema)
        part_names = {k for _, part in frags for k in part}
        file_schema = pa.schema([f for f in data.schema if f.name not in part_names])
        tasks = [
            FileTask(
                path=path,
                format=fmt,
                store=self.store,
                filesystem=None if self.store else data.filesystem,
                partition=part,
                schema=file_schema,
            )
            for path, part in frags
        ]
        return tasks


def __getattr__(name: str) -> Any:
    # TableSource lives in its own module, which imports this one: re-exported lazily
    if name == "TableSource":
        from skyfabric.drift.table_source import TableSource

        return TableSource
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _connect(fabric: Fabric | None) -> Fabric:
    if fabric is not None:
        return fabric
    from skyfabric.fabric import connect

    return connect()


def _local_dataset(path: str, partitioning: str | None = "hive") -> pads.Dataset:
    path = os.path.expanduser(path)
    if _GLOB_CHARS & set(path) and not os.path.exists(path):  # a folder named run[1] is no glob
        files = sorted(p for p in _glob.glob(path, recursive=True) if os.path.isfile(p))
        if not files:
            raise ObjectNotFoundError(f"the glob {path!r} matches no file; fix: check the pattern")
        fmt = "csv" if files[0].lower().endswith((".csv", ".csv.gz")) else "parquet"
        return pads.dataset(files, format=fmt)
    if not os.path.exists(path):
        raise ObjectNotFoundError(
            f"no file or directory at {path!r}; fix: check the path, or write fabric://<store>/... "
            "for data in a configured store"
        )
    fmt = "csv" if path.lower().endswith((".csv", ".csv.gz")) else "parquet"
    return pads.dataset(path, format=fmt, partitioning=partitioning)


_PARQUET_NAMES = (".parquet", ".parq", ".pq")
_NOT_PARQUET = re.compile(r"Could not read schema from '([^']*)'\. Is this a 'parquet' file")


def _stray_files_error(url: str, others: list[str]) -> DriftError:
    return DriftError(
        f"{url!r} holds {len(others)} file(s) that are not parquet, e.g. {others[0]!r}, "
        "which would fail the scan; fix: move or remove them, or rename them to start with "
        "'_' or '.' (such files are skipped)"
    )


@contextlib.contextmanager
def _names_a_file_that_is_not_parquet(url: str) -> Iterator[None]:
    """pyarrow reads the schema of a folder's first file when it opens the folder: a stray
    ``notes.csv`` sorting first fails there, as a `_stray_files_error` too."""
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
        raise _stray_files_error(url, [path]) from exc


_HIVE_SEGMENT = re.compile(r"^([^=*?\[\]]+)=[^*?\[\]]*$")


def _open_files(url: str, open_: Callable[..., pads.Dataset]) -> pads.Dataset:
    """``open_(partitioning=...)`` for the files at ``url``, hive partitions discovered, with
    the partition keys the URL itself fixes (``.../month=7/``) left out: a constant
    column would show as drift against a baseline of another partition, and a local path
    does not read them anyway. When the files also hold a partition column (pandas writes
    ``month`` into ``month=7/part-0.parquet``), pyarrow's discovery refuses to merge the
    two types; the files' own column is used instead."""
    try:
        with _names_a_file_that_is_not_parquet(url):
            data = open_()
    except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
        if "Unable to merge" not in str(exc):
            raise
        with _names_a_file_that_is_not_parquet(url):
            data = open_(partitioning=None)
    fixed = {m.group(1) for seg in url.split("/") if (m := _HIVE_SEGMENT.match(seg))}
    drop = fixed & set(data.schema.names)
    if not drop or not isinstance(data, pads.FileSystemDataset) or not data.files:
        return data
    fragments = list(data.get_fragments())
    in_files = set(fragments[0].physical_schema.names)
    drop -= in_files
    if not drop:
        return data
    schema = pa.schema([f for f in data.schema if f.name not in drop])
    return pads.FileSystemDataset(fragments, schema, data.format, data.filesystem)


def _require_files(data: pads.Dataset, url: str) -> pads.Dataset:
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
        others = [f for f in data.files if not f.lower().endswith(_PARQUET_NAMES)]
        if others and len(others) < len(data.files):
            raise _stray_files_error(url, others)
    if isinstance(data, pads.FileSystemDataset) and not data.files:
        fmt = data.format.default_extname or "data"
        raise ObjectNotFoundError(
            f"no data files were found under {url!r}: it exists, but holds no {fmt} file "
            "(names starting with '_' or '.', such as _SUCCESS, are skipped); fix: check the "
            "URL (partition, date) and that the job writing the data has finished"
        )
    return data


def open_source(source: Any, *, fabric: Fabric | None = None) -> Source:
    """Open ``source`` (see the module docstring for the accepted kinds) without reading it.

    Args:
        source: URL, path, ``table:`` name, or a pyarrow object.
        fabric: the Fabric resolving ``fabric://`` URLs; default ``skyfabric.connect()``.

    Raises:
        ObjectNotFoundError: nothing exists at the URL or path, or no data file under it.
        UnknownStoreError: the URL names a store that is not configured.
        TableNotFoundError, SnapshotNotFoundError: a ``table:`` source names an unknown table
            or snapshot.
        DriftError: an unsupported type, or a malformed ``table:`` source.
    """
    if isinstance(source, Source):
        return source
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if isinstance(source, str):
        if source.startswith(TABLE_PREFIX):
            from skyfabric.drift.table_source import open_table

            return open_table(source[len(TABLE_PREFIX) :], fabric)
        if source.startswith(FABRIC_PREFIX):
            from skyfabric.storage.paths import parse

            fab = _connect(fabric)
            data = _open_files(source, lambda **kw: fab.dataset(source, **kw))
            data, conflicts = unify_file_schemas(_require_files(data, source))
            return Source(source, data, store=parse(source).store, conflicts=conflicts)
        data = _open_files(source, lambda **kw: _local_dataset(source, **kw))
        data, conflicts = unify_file_schemas(_require_files(data, source))
        return Source(source, data, conflicts=conflicts)
    if isinstance(source, pads.Dataset):
        files = getattr(source, "files", None)
        name = f"<dataset of {len(files)} files>" if files is not None else "<pyarrow dataset>"
        return Source(name, source)
    if isinstance(source, pa.Table | pa.RecordBatch | pa.RecordBatchReader):
        return Source(f"<pyarrow.{type(source).__name__}>", source)
    raise DriftError(
        f"cannot read drift data from a {type(source).__name__}; fix: pass a fabric:// URL, a "
        "local path, a pyarrow Table/RecordBatch/RecordBatchReader/Dataset (for pandas or "
        "polars: pyarrow.Table.from_pandas(df) / df.to_arrow())"
    )


def _parent_and_fs(url: str, fabric: Fabric | None) -> tuple[Any, str]:
    if url.startswith(FABRIC_PREFIX):
        return _connect(fabric).fs, url
    import fsspec

    return fsspec.filesystem("file"), os.path.abspath(os.path.expanduser(url))


def _not_a_directory(url: str, is_dir: bool, example: str) -> None:
    if is_dir or url.endswith(("/", os.sep)):
        raise DriftError(
            f"cannot write to {url!r}: it is a directory (or ends with '/'), and the output "
            f"is one file; fix: name the file, e.g. {url.rstrip('/' + os.sep)}/{example}"
        )


def _local_parent_writable(url: str, path: str) -> None:
    """Raise unless the file ``path`` can be created: its nearest existing ancestor must be
    a directory this process may write into (`write_text` creates the missing ones)."""
    parent = os.path.dirname(path) or "."
    nearest = parent
    # lexists: a dangling symlink stops the walk, as it would stop os.makedirs
    while not os.path.lexists(nearest) and os.path.dirname(nearest) != nearest:
        nearest = os.path.dirname(nearest)
    missing = "" if nearest == parent else f" (the file's directory {parent!r} does not exist yet)"
    if not os.path.isdir(nearest):
        raise NotADirectoryError(
            f"cannot write to {url!r}: {nearest!r} is a file, not a directory, so nothing can "
            f"be created under it{missing}; fix: write to a path under an existing directory"
        )
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise PermissionError(
            f"cannot write to {url!r}: this user may not create files in the directory "
            f"{nearest!r}{missing}; fix: choose a directory you can write to, or grant write "
            "access to it"
        )


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _not_another_scheme(url: str) -> None:
    """Refuse ``s3://...``, ``gs://...``, ``fabric:x`` and the like as an output: taken as a
    local path they would quietly become a file named ``s3:/...`` in the working directory."""
    if _SCHEME.match(url) or url.startswith("fabric:"):
        raise DriftError(
            f"cannot write to {url!r}: outputs go to fabric://<store>/<path> URLs or local "
            "paths, and this would become a local file named after the URL; fix: configure "
            "the bucket as a store in skyfabric.toml and write fabric://<store>/<path>, or give "
            "a local path"
        )


_NOT_REGULAR = (
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISFIFO, "named pipe (FIFO)"),
    (stat.S_ISSOCK, "socket"),
)


def _not_stdout(url: str, example: str) -> None:
    """Refuse ``-``: outputs are files, and this one would be a file named ``-``."""
    if url == "-":
        raise DriftError(
            f"cannot write to '-': outputs are files, not stdout, and this would create a file "
            f"named '-'; fix: give a file, e.g. {example} (`skyfabric drift check --json` prints "
            "the result on stdout)"
        )


def _regular_target(url: str, path: str, example: str) -> str:
    """The file a write to the local ``path`` lands in: ``path`` when nothing is there yet,
    else the regular file it is or a symlink points to (`os.path.realpath`), so that the
    rename of a finished temporary replaces that file and keeps the link a link.

    Raises:
        DriftError: ``path`` is (or a symlink at it points to) a device, a FIFO or a socket:
            the rename would put a regular file in its place (``/dev/null``, ``/dev/stdout``);
            a symlink loop; a dangling symlink whose target directory does not exist.
    """
    if not os.path.lexists(path):
        return path
    target = os.path.realpath(path)
    try:
        mode = os.stat(path).st_mode  # follows symlinks
    except FileNotFoundError:  # a dangling symlink: the write creates the file it names
        if not os.path.isdir(os.path.dirname(target)):
            raise DriftError(
                f"cannot write to {url!r}: it is a symlink to {target!r}, whose directory does "
                "not exist; fix: create that directory, or write to another path"
            ) from None
        return target
    except OSError as exc:  # ELOOP: a symlink loop
        raise DriftError(
            f"cannot write to {url!r}: {exc.strerror}; fix: point the symlink at a file, or "
            f"write to another path, e.g. {example}"
        ) from None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):  # a directory is refused by the caller
        return target
    kind = next((k for test, k in _NOT_REGULAR if test(mode)), "special file")
    via = f" (through the symlink to {target!r})" if os.path.islink(path) else ""
    raise DriftError(
        f"cannot write to {url!r}: it is a {kind}{via}, not a regular file; outputs are written "
        f"to a temporary file renamed over the destination, which would replace the {kind} "
        f"with a regular file; fix: give the path of a regular file, e.g. {example}"
    )


def _checked_output(url: str, fabric: Fabric | None, example: str) -> str | None:
    """`validate_output`; returns the local file to write (`_regular_target`), or None for
    a ``fabric://`` URL."""
    _not_stdout(url, example)
    if not url.startswith(FABRIC_PREFIX):
        _not_another_scheme(url)
        path = os.path.abspath(os.path.expanduser(url))
        _not_a_directory(url, os.path.isdir(path), example)
        target = _regular_target(url, path, example)
        _local_parent_writable(url, target)
        return target
    fs = _connect(fabric).fs
    store, _, native = fs.route(url)  # UnknownStoreError / InvalidPathError before any I/O
    _not_a_directory(url, url.endswith("/") or fs.isdir(url), example)
    if store.kind == "local":
        _local_parent_writable(url, _regular_target(url, native, example))
    return None


def validate_output(url: str, *, fabric: Fabric | None = None, example: str = "output.txt") -> None:
    """Check that `write_text` can write one file at ``url``, without writing anything.

    `write_text` (hence ``write_html``, ``write_json``, ``save_baseline``) runs it first; the
    CLI runs it before a scan that may take minutes, so a bad destination fails at once
    instead of after the work is done. Nothing is created: no file, no directory, no probe.

    Checks, in order: ``-`` is refused (it is not stdout here: it would be a file named
    ``-``); a URL of another scheme (``s3://``, ``gs://``, ``fabric:x``) is refused;
    a ``fabric://`` URL parses and names a configured store; ``url`` does
    not end with ``/`` and is not an existing directory (for an object store: a prefix with
    objects under it); for a local path or a ``local`` store, an existing file must be a
    regular file or a symlink to one (a device, FIFO or socket is refused, since the write
    renames a temporary over it; a symlink is written through, to its target), and the
    nearest existing ancestor of the file is a directory this process may write into
    (missing parents are fine: `write_text` creates them).

    Args:
        example: a file name suggested in the error when ``url`` is a directory.

    Raises:
        UnknownStoreError: the URL names a store that is not configured.
        InvalidPathError: the URL names no store or escapes its store.
        DriftError: ``url`` is ``-``, an existing directory or ends with ``/``, a URL of
            another scheme than ``fabric://``, or an existing file that is not a regular file
            (character or block device, FIFO, socket, symlink loop).
        NotADirectoryError: an existing ancestor of the file is a file.
        PermissionError: the directory the file (or its first missing parent) would be
            created in is not writable.
        StoreUnreachableError: the store holding ``url`` cannot be reached.
    """
    _checked_output(url, fabric, example)


def write_text(
    url: str, text: str, *, fabric: Fabric | None = None, example: str = "output.txt"
) -> None:
    """Write UTF-8 ``text`` to a ``fabric://`` URL or a local path (parents created).

    Local files are written to a temporary name and renamed, so a reader never sees half a
    file, and the temporary is removed if anything fails; object stores publish an object
    only when its upload completes. A local symlink is written through: its target file is
    replaced and the link stays. `validate_output` runs first, so a bad destination
    leaves nothing behind.

    Args:
        example: a file name suggested in the error when ``url`` is a directory.

    Raises:
        DriftError: ``url`` is ``-``, an existing directory, ends with ``/``, or is a device,
            FIFO or socket; nothing is written.
        UnknownStoreError, InvalidPathError: a ``fabric://`` URL that names no configured
            store or escapes it.
        OSError: the file cannot be written (permissions, an ancestor that is a file, disk
            full).
    """
    if url.startswith(FABRIC_PREFIX):
        fabric = _connect(fabric)  # once, for the check and the write
    path = _checked_output(url, fabric, example)
    data = text.encode("utf-8")
    if path is not None:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
            raise
        return
    fs, native = _parent_and_fs(url, fabric)
    parent = native.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)
    fs.pipe_file(native, data)


def read_bytes(url: str, *, fabric: Fabric | None = None) -> bytes:
    """Read one file from a ``fabric://`` URL or a local path.

    Raises:
        ObjectNotFoundError: nothing at ``url``.
    """
    if not url.startswith(FABRIC_PREFIX):
        path = os.path.expanduser(url)
        if not os.path.isfile(path):
            raise ObjectNotFoundError(f"no file at {url!r}; fix: check the path")
        with open(path, "rb") as fh:
            return fh.read()
    fs, path = _parent_and_fs(url, fabric)
    return bytes(fs.cat_file(path))


def read_text(url: str, *, fabric: Fabric | None = None) -> str:
    """Read a UTF-8 text object from a ``fabric://`` URL or a local path.

    Raises:
        ObjectNotFoundError: nothing at ``url``.
    """
    if not url.startswith(FABRIC_PREFIX):
        path = os.path.expanduser(url)
        if not os.path.isfile(path):
            raise ObjectNotFoundError(f"no file at {url!r}; fix: check the path")
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    fs, path = _parent_and_fs(url, fabric)
    return fs.cat_file(path).decode("utf-8")
