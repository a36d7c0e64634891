"""Data files of a table's current snapshot, and relocating them in one snapshot commit.

Placement moves a table's cold partitions to another store; Iceberg records every data
file by its full URL, so a copied file is only used once the table metadata names the copy.
`relocate` commits that as one ``overwrite`` snapshot that removes each old data file entry
and adds an identical entry (same partition, row count, column statistics) whose
``file_path`` is the copy's: no row changes, and the snapshot summary carries
``skyfabric.operation = relocate``. (Iceberg's spec has a ``replace`` operation for exactly
this, "relocating data files"; pyiceberg 0.12 cannot write its summary, so ``overwrite`` it is.)

Earlier snapshots still name the old files, which therefore stay where they are: time travel
keeps working in every engine. They are deleted when those snapshots expire
(`Table.expire_snapshots`), which also deletes relocated files that only expired snapshots
name: the new roots are recorded in the table property `ROOTS_PROPERTY`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from skyfabric.tables._fileio import parse_location
from skyfabric.tables.errors import TableError

if TYPE_CHECKING:
    from pyiceberg.expressions import BooleanExpression
    from pyiceberg.table import Table as IcebergTable

    from skyfabric.tables._service import TableService

__all__ = [
    "ROOTS_PROPERTY",
    "LiveFile",
    "RelocateResult",
    "Relocation",
    "live_data_files",
    "relocate",
    "roots_of",
]

ROOTS_PROPERTY = "skyfabric.placement.roots"
OPERATION_PROPERTY = "skyfabric.operation"


@dataclass(frozen=True)
class LiveFile:
    """A data file of the current snapshot.

    ``path``: native URL as the metadata records it; ``size``: bytes; ``records``: rows;
    ``added_ms``: commit time (ms since the epoch) of the snapshot that added it;
    ``partition``: partition values by partition field name; ``has_deletes``: a delete file
    of the snapshot may apply to it (it must not move: position deletes name it by path);
    ``partition_end_ms``: where the partition is by time (``year``/``month``/``day``/``hour``
    of a date or timestamp, or a date/timestamp itself), the end of the partition's time
    range in ms since the epoch (the earliest end over such fields), else None;
    ``current_spec``: written under the table's current partition spec (pyiceberg can only
    commit files of the current spec, so only those can be relocated).
    """

    path: str
    size: int
    records: int
    added_ms: int
    partition: dict[str, Any]
    has_deletes: bool = False
    partition_end_ms: int | None = None
    current_spec: bool = True


@dataclass
class RelocateResult:
    """What `relocate` committed.

    ``relocated``: old native URL -> new native URL, committed now or by an earlier run;
    ``missing``: old URLs the current snapshot no longer has (a writer replaced them since
    the copy: the copy is not used); ``snapshot_id``: the new snapshot (None: nothing to commit).
    """

    relocated: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    snapshot_id: int | None = None


def _partition_evaluators(
    tbl: IcebergTable, row_filter: BooleanExpression | None
) -> dict[int, _Evaluator]:
    """spec id -> (DataFile.partition -> bool) for files whose every row satisfies the filter."""
    from pyiceberg.expressions import AlwaysFalse, AlwaysTrue
    from pyiceberg.expressions.visitors import expression_evaluator, strict_projection
    from pyiceberg.schema import Schema

    schema = tbl.schema()
    out: dict[int, _Evaluator] = {}
    for spec_id, spec in tbl.specs().items():
        if row_filter is None or isinstance(row_filter, AlwaysTrue):
            out[spec_id] = _Evaluator(lambda _p: True)
            continue
        # Strict, not inclusive: a file moves only when its partition guarantees every row
        # matches (``ts < X`` with day(ts) partitions leaves X's own day where it is).
        projected = strict_projection(schema, spec, case_sensitive=True)(row_filter)
        part_schema = Schema(*spec.partition_type(schema).fields)
        out[spec_id] = _Evaluator(
            expression_evaluator(part_schema, projected, case_sensitive=True),
            decides_nothing=isinstance(projected, AlwaysFalse),
        )
    return out


class _Evaluator:
    """A partition evaluator that knows whether its projection is plain false (the filter
    says nothing about this spec's partition values)."""

    def __init__(self, fn: Any, decides_nothing: bool = False) -> None:
        self.fn = fn
        self.decides_nothing = decides_nothing

    def __call__(self, partition: Any) -> bool:
        return bool(self.fn(partition))


def _end_ms(transform: Any, source_type: Any, value: Any) -> int | None:
    """End (exclusive, ms since the epoch) of the time range a partition value stands for."""
    from pyiceberg.transforms import (
        DayTransform,
        HourTransform,
        IdentityTransform,
        MonthTransform,
        YearTransform,
    )
    from pyiceberg.types import DateType, TimestampType, TimestamptzType

    if value is None or isinstance(value, bool) or not isinstance(value, int):
        return None
    day = 86_400_000
    if isinstance(transform, HourTransform):
        return (value + 1) * 3_600_000
    if isinstance(transform, DayTransform):
        return (value + 1) * day
    if isinstance(transform, MonthTransform | YearTransform):
        months = value + 1 if isinstance(transform, MonthTransform) else (value + 1) * 12
        year, month = 1970 + months // 12, months % 12 + 1
        return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)
    if isinstance(transform, IdentityTransform):
        if isinstance(source_type, DateType):
            return (value + 1) * day
        if isinstance(source_type, TimestampType | TimestamptzType):
            return value // 1000 + 1
    return None


def _end_fn(tbl: IcebergTable, spec: Any) -> Any:
    """partition Record -> `LiveFile.partition_end_ms` for one partition spec."""
    schema = tbl.schema()
    fields = []
    for i, pf in enumerate(spec.fields):
        try:
            fields.append((i, pf.transform, schema.find_type(pf.source_id)))
        except ValueError:  # a dropped source column
            continue

    def end(partition: Any) -> int | None:
        ends = [_end_ms(t, typ, partition[i]) for i, t, typ in fields]
        known = [e for e in ends if e is not None]
        return min(known) if known else None

    return end


def live_data_files(
    tbl: IcebergTable, row_filter: BooleanExpression | None = None
) -> list[LiveFile]:
    """Data files of ``tbl``'s current snapshot whose partition satisfies ``row_filter``.

    Args:
        tbl: the pyiceberg table.
        row_filter: over the table's columns (None: every file). Only what the partition
            values prove counts: an unpartitioned file matches only when there is no filter.

    Raises:
        TableError: the filter names a column the table does not have.
    """
    from pyiceberg.manifest import DataFileContent, ManifestContent

    snap = tbl.current_snapshot()
    if snap is None:
        return []
    name = ".".join(tbl.name())
    try:
        evaluators = _partition_evaluators(tbl, row_filter)
    except ValueError as exc:  # pyiceberg's binding error names the unknown field
        columns = ", ".join(f.name for f in tbl.schema().fields)
        raise TableError(
            f"partition filter {row_filter} does not fit table {name}: {exc}; columns: "
            f"{columns} (timestamps are written with a zone, e.g. '2026-01-01T00:00:00+00:00')"
        ) from exc
    if row_filter is not None and all(e.decides_nothing for e in evaluators.values()):
        parts = sorted({str(f) for s in tbl.specs().values() for f in s.fields})
        raise TableError(
            f"partition filter {row_filter} of table {name} names no partition source column, so "
            f"no data file's partition can prove it; partitioning: {', '.join(parts) or 'none'}. "
            "Fix: filter on the partition columns (or drop `partition` to select every file)"
        )
    timestamps = {s.snapshot_id: s.timestamp_ms for s in tbl.metadata.snapshots}
    specs = tbl.specs()
    data: list[tuple[int, Any, Any]] = []  # (spec id, manifest entry, data file)
    deletes_in: set[tuple[int, str]] = set()  # partitions that have delete files
    for manifest in snap.manifests(tbl.io):
        spec_id = manifest.partition_spec_id
        for entry in manifest.fetch_manifest_entry(tbl.io, discard_deleted=True):
            df = entry.data_file
            if manifest.content == ManifestContent.DELETES:
                deletes_in.add((spec_id, repr(df.partition)))
            elif df.content == DataFileContent.DATA and evaluators[spec_id](df.partition):
                data.append((spec_id, entry, df))
    files = []
    ends = {spec_id: _end_fn(tbl, spec) for spec_id, spec in specs.items()}
    for spec_id, entry, df in data:
        names = [f.name for f in specs[spec_id].fields]
        files.append(
            LiveFile(
                path=df.file_path,
                size=int(df.file_size_in_bytes),
                records=int(df.record_count),
                added_ms=timestamps.get(entry.snapshot_id or 0, snap.timestamp_ms),
                partition=dict(zip(names, list(df.partition), strict=False)),
                has_deletes=(spec_id, repr(df.partition)) in deletes_in,
                partition_end_ms=ends[spec_id](df.partition),
                current_spec=spec_id == tbl.spec().spec_id,
            )
        )
    return files


def json_list_property(tbl: Any, name: str) -> list[str]:
    """A table property holding a JSON list of strings (empty when unset or malformed)."""
    raw = tbl.properties.get(name)
    if not raw:
        return []
    try:
        values = json.loads(raw)
    except json.JSONDecodeError:
        return []
    return [str(v) for v in values] if isinstance(values, list) else []


def roots_of(tbl: IcebergTable) -> list[str]:
    """Native URL roots outside the table location that hold relocated files."""
    return json_list_property(tbl, ROOTS_PROPERTY)


def _relocated(df: Any, new_path: str, version: int) -> Any:
    """A copy of DataFile ``df`` that points at ``new_path`` (everything else unchanged)."""
    from pyiceberg.manifest import DATA_FILE_TYPE, DataFile

    struct = DATA_FILE_TYPE[version]  # type: ignore[index]
    values = {f.name: getattr(df, f.name) for f in struct.fields if hasattr(df, f.name)}
    values["file_path"] = new_path
    copy = DataFile.from_args(_table_format_version=version, **values)
    copy.spec_id = df.spec_id
    return copy


def relocate(tbl: IcebergTable, moves: Mapping[str, str], roots: list[str]) -> RelocateResult:
    """Point the current snapshot's data files ``moves`` keys at their values, in one commit.

    Args:
        tbl: the pyiceberg table, freshly loaded (the caller retries on a commit conflict).
        moves: old native URL -> new native URL; the new files must already hold the same
            bytes (the mover verified them).
        roots: native roots of the new files outside the table location, added to
            `ROOTS_PROPERTY` so snapshot expiry cleans them up too.

    Idempotent: entries whose new URL is already in the snapshot count as relocated.

    Raises:
        CommitFailedException, ValidationException: a concurrent commit won (retry).
    """
    from pyiceberg.manifest import DataFileContent

    snap = tbl.current_snapshot()
    current: dict[str, Any] = {}
    if snap is not None:
        for manifest in snap.manifests(tbl.io):
            for entry in manifest.fetch_manifest_entry(tbl.io, discard_deleted=True):
                df = entry.data_file
                if df.content == DataFileContent.DATA:
                    df.spec_id = manifest.partition_spec_id
                    current[df.file_path] = df
    result = RelocateResult()
    todo = {}
    for old, new in moves.items():
        if new in current:
            result.relocated[old] = new
        elif old in current:
            todo[old] = new
        else:
            result.missing.append(old)
    if not todo:
        return result
    # pyiceberg writes every added file into a manifest of the *current* spec: a file of an
    # earlier spec would get its partition tuple read under the wrong fields (wrong scans).
    stale = [o for o in todo if current[o].spec_id != tbl.spec().spec_id]
    if stale:
        raise TableError(
            f"table {'.'.join(tbl.name())}: {len(stale)} data file(s) were written under an "
            f"earlier partition spec (e.g. {stale[0]}), and pyiceberg can only commit files of "
            "the current spec; fix: compact the table first (`skyfabric tables compact "
            f"{'.'.join(tbl.name())}` or Table.compact()), which rewrites them into the current spec"
        )
    version = tbl.format_version
    known = roots_of(tbl)
    merged = known + [r for r in roots if r not in known]
    with tbl.transaction() as tx:
        if merged != known:
            tx.set_properties({ROOTS_PROPERTY: json.dumps(merged)})
        props = {OPERATION_PROPERTY: "relocate", "skyfabric.relocated-files": str(len(todo))}
        with tx.update_snapshot(snapshot_properties=props).overwrite() as producer:
            for old, new in todo.items():
                producer.delete_data_file(current[old])
                producer.append_data_file(_relocated(current[old], new, version))
    result.relocated.update(todo)
    fresh = tbl.refresh().current_snapshot()
    result.snapshot_id = fresh.snapshot_id if fresh is not None else None
    return result


class Relocation:
    """Placement's view of a `skyfabric.tables.Table` (a mixin of it): its data files, and
    relocating them in one commit."""

    if TYPE_CHECKING:  # provided by `Table`, which mixes this class in
        _service: TableService

        def _fresh(self) -> IcebergTable: ...

        def _commit(self, verb: str, op: Any, replayable: bool = True) -> Any: ...

    def data_files(self, partition: str | BooleanExpression | None = None) -> list[LiveFile]:
        """Data files of the current snapshot whose partition proves ``partition`` true for
        every row (all files without a filter); see `skyfabric.tables._relocate`.

        Raises:
            TableError: the filter names a column the table does not have.
        """
        from pyiceberg.expressions.parser import parse

        expr = parse(partition) if isinstance(partition, str) else partition
        return live_data_files(self._fresh(), expr)

    def relocate_files(self, moves: Mapping[str, str]) -> RelocateResult:
        """Commit one snapshot in which each data file ``old`` is read from ``new`` instead.

        Args:
            moves: old -> new location (``fabric://`` or native URLs) of current data files;
                each new file must already hold the old one's bytes (placement verifies it).

        Earlier snapshots keep the old files (time travel); expiring them deletes the old
        files. Idempotent, and re-planned on commit conflicts like every write.

        Raises:
            CommitConflictError: other writers kept winning the commit race.
        """
        native = {self._service.native(o): self._service.native(n) for o, n in moves.items()}

        def op(tbl: IcebergTable) -> RelocateResult:
            location = tbl.location().rstrip("/")
            # Compared as protocol-less paths: metadata may say file:///x where files say /x.
            loc = parse_location(location)
            base = loc.path.rstrip("/") + "/" if loc else location + "/"
            roots = []
            for old, new in native.items():
                old_loc = parse_location(old)
                old_path = old_loc.path if old_loc else old
                rel = old_path[len(base) :] if old_path.startswith(base) else ""
                root = (
                    new[: -len(rel) - 1]
                    if rel and new.endswith("/" + rel)
                    else new.rsplit("/", 1)[0]
                )
                if root != location and root not in roots:
                    roots.append(root)
            return relocate(tbl, native, roots)

        return self._commit("relocate files of", op)
