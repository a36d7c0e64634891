"""Compaction: rewrite a table's small data files, and files of earlier partition specs,
into target-sized files of the current spec, in one ``replace`` snapshot.

What is rewritten (the same choices as Iceberg's ``RewriteDataFiles`` bin-pack strategy,
``org.apache.iceberg.actions.SizeBasedFileRewritePlanner``):

- files are grouped by partition spec and partition value;
- a group of an **earlier spec** is rewritten whole, into the current spec (its rows may land
  in several partitions of the new spec);
- in a group of the current spec, files smaller than ``MIN_FILE_RATIO`` x the target size
  (Iceberg's ``min-file-size-bytes`` default, 75 %) are rewritten when there are at least
  ``min_input_files`` of them (merging one small file with nothing gains nothing); files that
  delete files apply to are rewritten too (their deleted rows are dropped on the way);
- the earlier-spec groups are rewritten together (in batches of `BATCH_BYTES`), so rows of
  old partitions that share a new partition share its files; a current-spec file that is
  already there stays (the next compaction merges it if it is small);
- rows are read through pyiceberg's own scan (deletes applied, columns projected to the current
  schema by field id) and written by pyiceberg's writer, which splits them into files of the
  target size; the target is given in bytes on disk, so the in-memory split size is scaled by
  the group's measured parquet-to-Arrow size ratio.

The commit is one snapshot of operation ``replace`` (the Iceberg spec's operation for "data and
delete files were added and removed without changing table data") made by pyiceberg's
overwrite producer and its commit retry, with the validation of Iceberg's ``BaseRewriteFiles``:
rows appended meanwhile do not conflict (pyiceberg re-applies the rewrite on the new
snapshot), but if another writer removed or replaced a file being rewritten, or added delete
files for it, the commit fails and the table layer re-plans from the new snapshot
(`skyfabric.tables.table.Table._commit`), deleting the files this attempt wrote.
Earlier snapshots still name the replaced files: time travel keeps working until they expire
(`Table.expire_snapshots` then deletes them; `Table.gc` deletes what a failed run left).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skyfabric.tables._writes import commit_or_clean
from skyfabric.tables.errors import TableError

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.expressions import BooleanExpression
    from pyiceberg.table import FileScanTask
    from pyiceberg.table import Table as IcebergTable

__all__ = ["MIN_FILE_RATIO", "CompactGroup", "CompactResult", "compact", "default_target_size"]

#: A file below this fraction of the target size is small (Iceberg's ``min-file-size-bytes``
#: default of RewriteDataFiles: 75 % of ``target-file-size-bytes``).
MIN_FILE_RATIO = 0.75
OPERATION_PROPERTY = "skyfabric.operation"
#: Bytes on disk of earlier-spec files read and rewritten at once (bounds memory: Arrow holds
#: them decoded, typically 2-5x this).
BATCH_BYTES = 256 * 2**20


@dataclass(frozen=True)
class CompactGroup:
    """One partition whose files are rewritten.

    ``spec_id``: the partition spec the files were written under; ``earlier_spec``: it is not
    the current spec; ``partition``: partition values by field name; ``files``: native URLs;
    ``bytes``: their size on disk; ``records``: rows they hold (before deletes);
    ``reason``: ``small files``, ``earlier partition spec`` or ``delete files``.
    """

    spec_id: int
    earlier_spec: bool
    partition: dict[str, Any]
    files: list[str]
    bytes: int
    records: int
    reason: str


@dataclass
class CompactResult:
    """What `compact` rewrote (or would, with ``dry_run``).

    ``groups``: the partitions rewritten; ``rewritten_files``/``rewritten_bytes``: the files
    replaced; ``added_files``/``added_bytes``: the files written (empty on a dry run, where
    ``estimated_files`` is ceil(bytes / target) per group); ``files_before``/``files_after``:
    data files in the current snapshot; ``target_file_size``: bytes; ``snapshot_id``: the
    ``replace`` snapshot committed (None: nothing to do, or a dry run).
    """

    target_file_size: int
    dry_run: bool = False
    groups: list[CompactGroup] = field(default_factory=list)
    rewritten_files: list[str] = field(default_factory=list)
    rewritten_bytes: int = 0
    added_files: list[str] = field(default_factory=list)
    added_bytes: int = 0
    estimated_files: int = 0
    files_before: int = 0
    files_after: int = 0
    snapshot_id: int | None = None


def default_target_size(tbl: IcebergTable) -> int:
    """The table's ``write.target-file-size-bytes`` (Iceberg's default: 512 MiB)."""
    from pyiceberg.table import TableProperties
    from pyiceberg.utils.properties import property_as_int

    return int(property_as_int(tbl.properties, TableProperties.WRITE_TARGET_FILE_SIZE_BYTES,
                               TableProperties.WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT) or 0)


def _replace_producer(tx: Any, props: dict[str, str]) -> Any:
    """pyiceberg's overwrite producer, recording its snapshot as operation ``replace``.

    pyiceberg 0.12's summary code only accepts append/overwrite/delete, so the summary is built
    as an overwrite's (same counters) and then given the ``replace`` operation.
    """
    from pyiceberg.table.snapshots import Operation, Summary
    from pyiceberg.table.update.snapshot import _OverwriteFiles

    class _ReplaceFiles(_OverwriteFiles):
        def _summary(self, snapshot_properties: Any = None) -> Summary:
            summary = super()._summary(snapshot_properties or {})
            return Summary(operation=Operation.REPLACE, **summary.additional_properties)

        def _validate_concurrency(self) -> None:
            # A rewrite changes no rows, so rows appended meanwhile do not conflict (pyiceberg
            # re-applies it on the new snapshot); it conflicts when a replaced file was removed
            # or gained delete files meanwhile: the checks of Iceberg's BaseRewriteFiles.
            from pyiceberg.table.update.validate import (
                _validate_data_files_exist,
                _validate_no_new_deletes_for_data_files,
            )

            window = self._commit_window
            if window is None or window.is_empty() or window.head is None:
                return
            table = self._transaction._table
            _validate_data_files_exist(table, window.head, self._deleted_data_files, window.base)
            _validate_no_new_deletes_for_data_files(table, window.head, None,
                                                    self._deleted_data_files, window.base)

    return _ReplaceFiles(operation=Operation.OVERWRITE, transaction=tx, io=tx._table.io,
                         snapshot_properties=props)


def _plan(tbl: IcebergTable, tasks: Iterable[FileScanTask], target: int,
          min_input_files: int) -> list[tuple[CompactGroup, list[FileScanTask]]]:
    """Group the scan tasks by (spec, partition) and pick what to rewrite (module docstring)."""
    current = tbl.spec().spec_id
    specs = tbl.specs()
    by_group: dict[tuple[int, str], list[FileScanTask]] = {}
    for task in tasks:
        by_group.setdefault((task.file.spec_id, repr(task.file.partition)), []).append(task)
    small = MIN_FILE_RATIO * target
    out = []
    for (spec_id, _), group in sorted(by_group.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        if spec_id != current:
            chosen, reason = group, "earlier partition spec"
        else:
            deleted = [t for t in group if t.delete_files]
            little = [t for t in group if not t.delete_files and t.file.file_size_in_bytes < small]
            if len(little) < min_input_files:
                little = []
            chosen = deleted + little
            if not chosen:
                continue
            reason = "delete files" if deleted and not little else "small files"
        first = chosen[0].file
        names = [f.name for f in specs[spec_id].fields]
        out.append((CompactGroup(
            spec_id=spec_id, earlier_spec=spec_id != current,
            partition=dict(zip(names, list(first.partition), strict=False)),
            files=[t.file.file_path for t in chosen],
            bytes=sum(int(t.file.file_size_in_bytes) for t in chosen),
            records=sum(int(t.file.record_count) for t in chosen), reason=reason,
        ), chosen))
    return out


def _batches(plan: list[tuple[CompactGroup, list[FileScanTask]]]
             ) -> list[tuple[int, list[FileScanTask]]]:
    """(bytes, tasks) to read and write together: each current-spec group alone (its rows stay
    in its partition); the earlier-spec groups together, up to `BATCH_BYTES` each, so rows of
    several old partitions that meet in one new partition land in the same files."""
    out: list[tuple[int, list[FileScanTask]]] = []
    earlier: list[tuple[int, list[FileScanTask]]] = []
    for group, tasks in plan:
        if not group.earlier_spec:
            out.append((group.bytes, tasks))
        elif earlier and earlier[-1][0] + group.bytes <= BATCH_BYTES:
            earlier[-1] = (earlier[-1][0] + group.bytes, earlier[-1][1] + tasks)
        else:
            earlier.append((group.bytes, list(tasks)))
    return earlier + out


def _read_plain(tbl: IcebergTable, meta: Any, tasks: list[FileScanTask]) -> pa.Table | None:
    """The files' rows read by pyarrow's dataset reader (C++, multi-threaded; pyiceberg's scan
    spends ~4 ms of Python per file), when that gives the same rows as pyiceberg's scan: no
    delete files, parquet only, a table that never changed its schema (so every file has the
    current columns by name; no registered parquet) on a pyarrow file system. None otherwise,
    and when the reader refuses or the row count is not the files' record count."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    from pyiceberg.io.pyarrow import PyArrowFileIO
    from pyiceberg.manifest import FileFormat

    from skyfabric.tables._datasets import EXTERNAL_ROOTS_PROPERTY
    from skyfabric.tables._fileio import FabricFileIO

    if (len(meta.schemas) != 1 or meta.properties.get(EXTERNAL_ROOTS_PROPERTY)
            or any(t.delete_files or t.file.file_format != FileFormat.PARQUET for t in tasks)):
        return None
    first = tasks[0].file.file_path
    io = tbl.io._io_for(first) if isinstance(tbl.io, FabricFileIO) else tbl.io
    if not isinstance(io, PyArrowFileIO):
        return None
    places = [io.parse_location(t.file.file_path, io.properties) for t in tasks]
    if len({(scheme, netloc) for scheme, netloc, _ in places}) != 1:
        return None
    try:
        fs = io.fs_by_scheme(places[0][0], places[0][1])
        rows = ds.dataset([path for _, _, path in places], format="parquet",
                          filesystem=fs).to_table()
    except (pa.ArrowException, OSError, ValueError):
        return None
    return rows if rows.num_rows == sum(int(t.file.record_count) for t in tasks) else None


def _write_batch(tx: Any, tbl: IcebergTable, tasks: list[FileScanTask], size: int, target: int,
                 written: list[Any], producer: Any, counter: Iterator[int]) -> None:
    """Read the files' rows (deletes applied) and write them as target-sized files.

    ``counter`` numbers the files of the whole commit: pyiceberg names a file
    ``<partition>/<counter>-<task>-<commit uuid>.parquet``, so batches that each started
    their own count at 0 wrote two files of one partition under one name, the second
    replacing the first's rows (found by a new user: rows lost after a spec change)."""
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files
    from pyiceberg.table import TableProperties

    meta = tx.table_metadata
    rows = _read_plain(tbl, meta, tasks)
    if rows is None:
        rows = ArrowScan(meta, tbl.io, meta.schema(), AlwaysTrue()).to_table(tasks)
    if rows.num_rows:
        # pyiceberg splits by Arrow (in-memory) bytes; scale the on-disk target by these
        # files' ratio so the new files land near it on disk.
        in_memory = max(1, rows.nbytes) / max(1, size)
        split = max(1, int(target * in_memory))
        props = {**meta.properties, TableProperties.WRITE_TARGET_FILE_SIZE_BYTES: str(split)}
        sized = meta.model_copy(update={"properties": props})
        for data_file in _dataframe_to_data_files(
            sized, rows, tbl.io, producer.commit_uuid, counter  # type: ignore[arg-type]
        ):
            written.append(data_file)
            producer.append_data_file(data_file)
    for task in tasks:
        producer.delete_data_file(task.file)


def compact(tbl: IcebergTable, target_file_size: int | None, where: str | BooleanExpression | None,
            dry_run: bool, min_input_files: int = 2) -> CompactResult:
    """Rewrite small and earlier-spec data files of ``tbl`` in one ``replace`` commit.

    Args:
        tbl: the pyiceberg table, freshly loaded (the caller re-plans on a commit conflict).
        target_file_size: bytes on disk per output file (None: the table's
            ``write.target-file-size-bytes``, Iceberg's default 512 MiB).
        where: only files that may hold matching rows (pyiceberg's scan planning: partition
            and column statistics); every file when None. Whole files are rewritten.
        dry_run: plan only; nothing is written.
        min_input_files: small files a current-spec partition needs before it is rewritten.

    Raises:
        ValueError: ``target_file_size`` or ``min_input_files`` is below 1; ``where`` names
            a column the table does not have.
        CommitFailedException, ValidationException: a concurrent commit won (retry).
    """
    from pyiceberg.expressions import AlwaysTrue

    target = default_target_size(tbl) if target_file_size is None else int(target_file_size)
    if target < 1:
        raise ValueError(f"target_file_size must be at least 1 byte (got {target_file_size!r}); "
                         "fix: give e.g. 128MiB")
    if min_input_files < 1:
        raise ValueError(f"min_input_files must be >= 1 (got {min_input_files})")
    result = CompactResult(target_file_size=target, dry_run=dry_run)
    if tbl.current_snapshot() is None:
        return result
    all_tasks = list(tbl.scan().plan_files())
    result.files_before = result.files_after = len(all_tasks)
    chosen_tasks = all_tasks if where is None or isinstance(where, AlwaysTrue) else list(
        tbl.scan(row_filter=where).plan_files())
    plan = _plan(tbl, chosen_tasks, target, min_input_files)
    result.groups = [g for g, _ in plan]
    result.rewritten_files = [f for g in result.groups for f in g.files]
    result.rewritten_bytes = sum(g.bytes for g in result.groups)
    result.estimated_files = sum(max(1, math.ceil(g.bytes / target)) for g in result.groups)
    if dry_run or not plan:
        return result
    written: list[Any] = []
    props = {OPERATION_PROPERTY: "compact",
             "skyfabric.rewritten-files": str(len(result.rewritten_files))}

    def stage(tx: Any) -> None:
        counter = itertools.count(0)  # one numbering per commit attempt: no two files alike
        first = len(written)  # this attempt's files (a retried commit adds its own)
        with _replace_producer(tx, props) as producer:
            for size, tasks in _batches(plan):
                _write_batch(tx, tbl, tasks, size, target, written, producer, counter)
            paths = [f.file_path for f in written[first:]]
            if len(set(paths)) != len(paths):  # never commit a file listed twice
                raise TableError(
                    "compaction wrote one file path twice, so rows would be lost; nothing was "
                    "committed; fix: report this as a bug, and run compact again"
                )

    commit_or_clean(tbl, stage, written)
    result.added_files = [f.file_path for f in written]
    result.added_bytes = sum(int(f.file_size_in_bytes) for f in written)
    result.files_after = result.files_before - len(result.rewritten_files) + len(written)
    fresh = tbl.refresh().current_snapshot()
    result.snapshot_id = fresh.snapshot_id if fresh is not None else None
    total = fresh.summary.get("total-data-files") if fresh and fresh.summary else None
    if total is not None:  # counts files appended meanwhile too
        result.files_after = int(total)
    return result
