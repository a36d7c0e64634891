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
  records when that gives the same rows (see `TableSource.file_tasks`).

`open_source` returns a `Source` that knows its display name, schema, and how to
yield batches with a column projection; file-backed sources also list their files as
`FileTask` records, which the Dask engine ships to workers instead of data.
"""

from __future__ import annotations

import glob as _glob
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as pads

from skyfabric.drift._scan import scan_batches
from skyfabric.errors import DriftError, ObjectNotFoundError

if TYPE_CHECKING:
    from skyfabric.fabric import Fabric
    from skyfabric.tables.table import Table as FabricTable

__all__ = [
    "DEFAULT_BATCH_SIZE", "FileTask", "Source", "TableSource", "open_source", "read_text",
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
    """

    name: str
    data: Any
    store: str | None = None
    _consumed: bool = False

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
        bounded number of batches ahead (`skyfabric.drift._scan`), so memory does not grow
        with the size of the data nor when the consumer is slow.

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
        frags = [(f.path, dict(pads.get_partition_keys(f.partition_expression) or {}))
                 for f in data.get_fragments()]
        # partition fields are the keys the fragments' paths carry (``data.partitioning`` is
        # not reliable: for a single file it reports the file's own schema)
        part_names = {k for _, part in frags for k in part}
        file_schema = pa.schema([f for f in data.schema if f.name not in part_names])
        tasks = [
            FileTask(path=path, format=fmt, store=self.store,
                     filesystem=None if self.store else data.filesystem, partition=part,
                     schema=file_schema)
            for path, part in frags
        ]
        return tasks


def _connect(fabric: Fabric | None) -> Fabric:
    if fabric is not None:
        return fabric
    from skyfabric.fabric import connect

    return connect()


@dataclass
class TableSource(Source):
    """An Iceberg table at one pinned snapshot (``table:<namespace.name>[@snapshot_id]``).

    Attributes:
        data: the `skyfabric.tables.Table`.
        snapshot_id: the snapshot every scan reads (None: the table was never written, so
            it has no rows).
    """

    snapshot_id: int | None = None
    _schema: pa.Schema | None = None

    @property
    def table(self) -> FabricTable:
        """The `skyfabric.tables.Table` read."""
        return self.data

    @property
    def schema(self) -> pa.Schema:
        """Arrow schema of the table as of the pinned snapshot."""
        if self._schema is None:
            self._schema = self.table.scan(snapshot_id=self.snapshot_id).arrow_schema
        return self._schema

    @property
    def reiterable(self) -> bool:
        """Always True: every scan re-reads the pinned snapshot."""
        return True

    def batches(
        self, columns: list[str], batch_size: int = DEFAULT_BATCH_SIZE
    ) -> Iterator[pa.RecordBatch]:
        """Yield batches of ``columns`` from the pinned snapshot, one data file at a time.

        Only the projected columns are read (Iceberg column projection, delete files
        applied); batches longer than ``batch_size`` rows are sliced (zero-copy).
        """
        if self.snapshot_id is None:
            return
        # an empty projection means "all columns" to pyiceberg: read the first column only
        # and drop it, so that row counts still flow
        read = columns or [self.schema.names[0]]
        reader = self.table.scan(columns=read, snapshot_id=self.snapshot_id).to_batches()
        for batch in reader:
            batch = batch.select(columns)
            for start in range(0, max(batch.num_rows, 1), batch_size):
                yield batch.slice(start, batch_size)

    def fit_input(self, columns: list[str] | None = None) -> Any:
        """A streaming ``RecordBatchReader`` of ``columns`` (default: all) at the snapshot.

        `Baseline.fit` reads it in one pass: exact quantiles while the values fit its memory
        budget, a KLL sketch (rank error stated in the baseline) beyond it.
        """
        if self.snapshot_id is None:
            return self.schema.empty_table()
        names = self.present(columns) if columns else None
        return self.table.scan(columns=names, snapshot_id=self.snapshot_id).to_batches()

    def count_rows(self) -> int | None:
        """Rows in the pinned snapshot (from manifest metadata when no deletes apply)."""
        if self.snapshot_id is None:
            return 0
        return self.table.count(snapshot_id=self.snapshot_id)

    def file_tasks(self) -> list[FileTask]:
        """One `FileTask` per data file of the pinned snapshot, read through its store.

        A data file alone gives the table's rows only when no delete file applies to it and
        its columns are named as in the table; so this needs a table with a single schema
        (never evolved), no delete files in the snapshot, and files in a configured store.

        Raises:
            DriftError: one of those conditions does not hold; the local engine reads the
                table through Iceberg and handles all of them.
        """
        from skyfabric.tables._fileio import parse_location

        if self.snapshot_id is None:
            return []
        ice = self.table.iceberg
        fix = "fix: use engine='local' (it reads the table through Iceberg)"
        if self.store is None:
            raise DriftError(
                f"the files of {self.name} ({self.table.native_location}) are in no configured "
                f"store, so dask workers cannot open them; {fix}, or add a store holding them"
            )
        if len(ice.metadata.schemas) > 1:
            raise DriftError(
                f"the schema of {self.name} has evolved, so its data files alone do not give "
                f"the table's columns; {fix}"
            )
        scan = ice.scan(snapshot_id=self.snapshot_id)
        schema = self.schema
        tasks = []
        for task in scan.plan_files():
            if task.delete_files:
                raise DriftError(
                    f"{self.name} has delete files (rows deleted or updated in place), which "
                    f"dask workers reading data files directly would not apply; {fix}"
                )
            loc = parse_location(task.file.file_path)
            if loc is None:  # pragma: no cover - the store was found, so the scheme is known
                raise DriftError(f"cannot map {task.file.file_path} to a store; {fix}")
            path = loc.path if loc.kind in ("local", "memory") else loc.path.lstrip("/")
            tasks.append(FileTask(path=path, format="parquet", store=self.store, schema=schema))
        return tasks


def _parse_table_name(spec: str) -> tuple[str, int | None]:
    """``"ns.name@123"`` -> ``("ns.name", 123)``; ``"ns.name"`` -> ``("ns.name", None)``.

    Raises:
        DriftError: empty name, or a snapshot that is not an integer id.
    """
    name, at, snap = spec.partition("@")
    name = name.strip()
    if not name:
        raise DriftError(
            f"the source {TABLE_PREFIX}{spec} names no table; fix: write "
            f"{TABLE_PREFIX}<namespace.name>[@snapshot_id]"
        )
    if not at:
        return name, None
    try:
        return name, int(snap.strip())
    except ValueError:
        raise DriftError(
            f"the snapshot {snap!r} in {TABLE_PREFIX}{spec} is not a snapshot id (an integer); "
            f"fix: pick one from `skyfabric tables snapshots {name}` or table.snapshots()"
        ) from None


def _open_table(name: str, fabric: Fabric | None) -> Source:
    """Open ``table:<namespace.name>[@snapshot_id]`` at its current or the given snapshot.

    Raises:
        TableNotFoundError: no such table (the message names the closest existing ones).
        SnapshotNotFoundError: the table has no snapshot with that id.
        DriftError: the text after ``@`` is not an integer.
    """
    table_name, snapshot_id = _parse_table_name(name)
    table = _connect(fabric).table(table_name)
    scan = table.scan(snapshot_id=snapshot_id)  # raises SnapshotNotFoundError
    pinned = scan.snapshot_id
    display = f"{TABLE_PREFIX}{table.name}" + (f"@{pinned}" if pinned is not None else "")
    return TableSource(display, table, store=table.store, snapshot_id=pinned,
                       _schema=scan.arrow_schema)


def _local_dataset(path: str) -> pads.Dataset:
    path = os.path.expanduser(path)
    if _GLOB_CHARS & set(path):
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
    return pads.dataset(path, format=fmt, partitioning="hive")


def open_source(source: Any, *, fabric: Fabric | None = None) -> Source:
    """Open ``source`` (see the module docstring for the accepted kinds) without reading it.

    Args:
        source: URL, path, ``table:`` name, or a pyarrow object.
        fabric: the Fabric resolving ``fabric://`` URLs; default ``skyfabric.connect()``.

    Raises:
        ObjectNotFoundError: nothing exists at the URL or path.
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
            return _open_table(source[len(TABLE_PREFIX) :], fabric)
        if source.startswith(FABRIC_PREFIX):
            from skyfabric.storage.paths import parse

            fab = _connect(fabric)
            return Source(source, fab.dataset(source), store=parse(source).store)
        return Source(source, _local_dataset(source))
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


def write_text(url: str, text: str, *, fabric: Fabric | None = None) -> None:
    """Write UTF-8 ``text`` to a ``fabric://`` URL or a local path (parents created).

    Local files are written to a temporary name and renamed, so a reader never sees half a
    file; object stores publish an object only when its upload completes.
    """
    data = text.encode("utf-8")
    if not url.startswith(FABRIC_PREFIX):
        path = os.path.abspath(os.path.expanduser(url))
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        return
    fs, path = _parent_and_fs(url, fabric)
    parent = path.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)
    fs.pipe_file(path, data)


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
