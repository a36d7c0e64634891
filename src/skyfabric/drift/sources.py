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
their order (`skyfabric.drift.file_schemas`); a column no type holds is reported as
``type_changed`` by a check and refused by a fit (`Source.require_consistent`). Partition
keys fixed by the URL itself (``.../month=7/``) are not columns.

Which files a URL or path names, and the errors for files that are not data, live in
`skyfabric.drift.source_files`.

`open_source` returns a `Source` that knows its display name, schema, and how to
yield batches with a column projection; file-backed sources also list their files as
`FileTask` records, which the Dask engine ships to workers instead of data.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as pads

from skyfabric.drift._scan import scan_batches
from skyfabric.drift.file_io import FABRIC_PREFIX, _connect
from skyfabric.drift.file_schemas import unify_file_schemas
from skyfabric.drift.source_files import (
    Files,
    fabric_files,
    local_files,
    names_a_file_that_is_not_parquet,
    raise_with_user_paths,
    require_files,
    user_paths,
)
from skyfabric.errors import DriftError

if TYPE_CHECKING:
    from skyfabric.drift.table_source import TableSource
    from skyfabric.fabric import Fabric

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "FileTask",
    "Source",
    "TableSource",
    "open_source",
]

#: Rows per Arrow batch when scanning files: 128 Ki rows of one float64 column is 1 MiB, so a
#: dozen columns and a few batches in flight stay well under 100 MB.
DEFAULT_BATCH_SIZE = 131_072
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
        promoted: column -> the types its files hold and the one they were promoted to
            (``"timestamp[ms] in a.parquet, timestamp[ns] in b.parquet -> timestamp[ns]"``).
    """

    name: str
    data: Any
    store: str | None = None
    conflicts: dict[str, str] = field(default_factory=dict)
    promoted: dict[str, str] = field(default_factory=dict)
    _consumed: bool = False
    #: native paths in a message -> the user's spelling (`Files.user_text`)
    user_text: Callable[[str], str] = field(default=str, repr=False)

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Name the promoted columns when a value does not fit its promoted type mid-scan,
        and the files of a ``fabric://`` source by their URLs in any error of the scan
        (pyarrow names them ``bucket/key``).

        Raises:
            DriftError: pyarrow could not cast a value of a file to the column's promoted
                type (`promoted`); names the columns, their files and the fix.
        """
        try:
            yield
        except pa.ArrowInvalid as exc:
            if not self.promoted:
                raise_with_user_paths(exc, self.user_text)
                raise
            detail = "; ".join(f"{c!r}: {d}" for c, d in self.promoted.items())
            raise DriftError(
                self.user_text(
                    f"reading {self.name} failed: {exc}. Its files disagree on column types, "
                    f"read as one type each ({detail}), and a value of one file does not fit "
                    "(an int64 beyond 2**53 as double, a year-9999 timestamp in ns). Fix: "
                    "rewrite those files with one type per column, or check them separately"
                )
            ) from exc
        except (OSError, pa.ArrowException, DriftError) as exc:
            raise_with_user_paths(exc, self.user_text)
            raise

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


_PARTITION_CLASH = re.compile(r"Unable to merge: Field (\S+) has incompatible types")
_HIVE_SEGMENT = re.compile(r"^([^=*?\[\]]+)=[^*?\[\]]*$")


def _open_files(files: Files) -> pads.Dataset:
    """``files.open(partitioning=...)``, hive partitions discovered, with
    the partition keys the URL itself fixes (``.../month=7/``) left out: a constant
    column would show as drift against a baseline of another partition, and a local path
    does not read them anyway. When the files also hold a partition column (pandas writes
    ``month`` into ``month=7/part-0.parquet``), pyarrow's discovery refuses to merge the
    two types; the partition field is then typed as the files' column, so that files
    without it still get the value from their path."""
    typed: list[pa.Field] = []
    while True:
        part = pads.HivePartitioning.discover(schema=pa.schema(typed)) if typed else "hive"
        try:
            with names_a_file_that_is_not_parquet(files):
                data = files.open(partitioning=part)
            break
        except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
            clash = _PARTITION_CLASH.search(str(exc))
            if clash is None or any(f.name == clash.group(1) for f in typed):
                raise
            with names_a_file_that_is_not_parquet(files):
                in_files = files.open(partitioning=None).schema
            typed.append(in_files.field(clash.group(1)))
    drop = set(fixed_partition_keys(files.url)) & set(data.schema.names)
    if not drop or not isinstance(data, pads.FileSystemDataset) or not data.files:
        return data
    fragments = list(data.get_fragments())
    drop -= set(fragments[0].physical_schema.names)
    if not drop:
        return data
    schema = pa.schema([f for f in data.schema if f.name not in drop])
    return pads.FileSystemDataset(fragments, schema, data.format, data.filesystem)


def fixed_partition_keys(url: str) -> dict[str, str]:
    """Hive partition keys that ``url`` itself fixes, with their values:
    ``fabric://lake/flights/month=7/`` -> ``{"month": "7"}``. They are not columns of the
    source (see `_open_files`), so a baseline fitted on all partitions finds them missing."""
    return {
        m.group(1): seg.split("=", 1)[1]
        for seg in url.replace(os.sep, "/").split("/")
        if (m := _HIVE_SEGMENT.match(seg))
    }


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
        DriftError: an unsupported type, or a malformed ``table:`` source; a path or URL
            that is one file that is not parquet (a baseline JSON: the arguments look
            swapped), a device or FIFO (``/dev/null``), a folder holding files that are not
            parquet (counted, one named), or a parquet file without a footer. Files of a
            ``fabric://`` URL are named by their URLs in every message.
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
            files = fabric_files(source, _connect(fabric))
        else:
            files = local_files(source)
        with user_paths(files):
            u = unify_file_schemas(require_files(_open_files(files), source))
        show = files.user_text
        return Source(
            source,
            u.data,
            files.store,
            {c: show(d) for c, d in u.conflicts.items()},
            {c: show(d) for c, d in u.promoted.items()},
            user_text=show,
        )
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
