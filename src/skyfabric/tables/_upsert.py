"""Upsert by key columns as one copy-on-write commit, with vectorized key matching.

pyiceberg's ``Table.upsert`` builds an ``In``/``Or`` predicate with one literal per key,
binds and evaluates it per file, and compares matched rows one Python object at a time —
minutes at 10^5-10^6 keys. Here:

1. files are pruned by the key range (or, for <= `IN_LIST_MAX` keys, the key list)
   against partition values and column statistics;
2. each remaining file's **key columns only** are read and matched against the new keys with
   Arrow's hash-based ``is_in`` (one column) or a semi-join (several), in parallel threads;
3. only files holding a matching key are read in full; their other rows, the updated rows
   and the new rows are written as new files; one ``overwrite`` snapshot swaps them in
   (a plain ``append`` when no file is touched).

A matched key counts as updated even when its values did not change (pyiceberg skips
those; rewriting them costs one file rewrite, which the file needed anyway).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skyfabric.tables._model import UpsertResult
from skyfabric.tables._schema import check_fits, conform, mismatch_error
from skyfabric.tables._writes import commit_or_clean
from skyfabric.tables.errors import DuplicateKeysError

if TYPE_CHECKING:
    from pyiceberg.expressions import BooleanExpression
    from pyiceberg.table import Table as IcebergTable

__all__ = ["IN_LIST_MAX", "match_mask", "run_upsert"]

IN_LIST_MAX = 200  # up to this many keys, prune files with an exact In() instead of a range


def match_mask(left: pa.Table, right: pa.Table, on: Sequence[str]) -> pa.Array:
    """Boolean array: row i of ``left`` has its ``on`` columns' values among ``right``'s rows.

    Null keys never match.
    """
    if len(left) == 0 or len(right) == 0:
        return pa.array(np.zeros(len(left), dtype=bool))
    if len(on) == 1:
        col = left.column(on[0]).combine_chunks()
        values = right.column(on[0]).combine_chunks().cast(col.type)
        return pc.fill_null(pc.is_in(col, value_set=values, skip_nulls=True), False)
    rows = left.select(list(on)).append_column("__row", pa.array(np.arange(len(left))))
    keys = right.select(list(on)).cast(left.select(list(on)).schema).group_by(list(on)).aggregate([])
    hit = rows.join(keys, keys=list(on), join_type="left semi").column("__row").to_numpy()
    mask = np.zeros(len(left), dtype=bool)
    mask[hit] = True
    return pa.array(mask)


def _prefilter(keys: pa.Table, on: Sequence[str]) -> BooleanExpression:
    """A filter every matching row satisfies: ``In`` for few keys, else a per-column range."""
    from pyiceberg.expressions import AlwaysTrue, And, GreaterThanOrEqual, In, LessThanOrEqual

    try:
        if len(on) == 1 and len(keys) <= IN_LIST_MAX:
            values = [v for v in keys.column(on[0]).to_pylist() if v is not None]
            return In(on[0], values) if values else AlwaysTrue()
        expr: BooleanExpression = AlwaysTrue()
        for name in on:
            bounds = pc.min_max(keys.column(name))
            lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
            if lo is None or hi is None or isinstance(lo, bytes | dict | list):
                continue
            expr = And(expr, And(GreaterThanOrEqual(name, lo), LessThanOrEqual(name, hi)))
        return expr
    except (TypeError, ValueError, pa.ArrowNotImplementedError):
        return AlwaysTrue()  # a key type without an Iceberg literal: no pruning, still correct


def _align(table: pa.Table, target: pa.Schema) -> pa.Table:
    """``table`` with ``target``'s columns, order and types (missing optional columns null)."""
    columns = [
        table.column(f.name).cast(f.type) if f.name in table.column_names
        else pa.nulls(len(table), f.type)
        for f in target
    ]
    return pa.Table.from_arrays(columns, schema=target)


def _check_schema(name: str, tbl: IcebergTable, data: pa.Table) -> None:
    from pyiceberg.io.pyarrow import _check_pyarrow_schema_compatible

    check_fits(name, tbl.schema(), data.schema, "upsert into")
    try:
        _check_pyarrow_schema_compatible(tbl.schema(), data.schema,
                                         format_version=tbl.format_version)
    except ValueError as exc:
        raise mismatch_error(name, tbl.schema(), data.schema, "upsert into") from exc


def _key_columns(tbl: IcebergTable, on: Sequence[str] | None, data: pa.Table) -> list[str]:
    schema = tbl.schema()
    keys = list(on) if on else [schema.find_column_name(i) for i in schema.identifier_field_ids]
    if not keys:
        raise ValueError(
            "upsert needs key columns: pass on=['id'] or create the table with key=['id'] "
            "(Iceberg identifier fields)"
        )
    missing = [k for k in keys if k not in data.column_names]
    if missing:
        raise ValueError(f"upsert key column(s) {missing} are not in the data; "
                         f"data columns: {data.column_names}")
    return keys  # type: ignore[return-value]


def _check_duplicates(data: pa.Table, on: list[str]) -> None:
    counts = data.group_by(on).aggregate([([], "count_all")])
    if len(counts) != len(data):
        dupes = counts.filter(pc.greater(counts.column("count_all"), 1)).slice(0, 3).to_pylist()
        raise DuplicateKeysError(
            f"upsert data holds {len(data) - len(counts)} duplicate key row(s), e.g. {dupes}; "
            "fix: deduplicate on the key columns first (which row should win is up to you)"
        )


def _probe(tbl: IcebergTable, tasks: list[Any], keys: pa.Table, on: list[str],
           read_rest: bool) -> list[tuple[Any, pa.Table, pa.Table | None]]:
    """Per file with a matching key: (data file, its matching keys, its other rows)."""
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.io.pyarrow import ArrowScan
    from pyiceberg.utils.concurrent import ExecutorFactory

    schema = tbl.schema()
    key_scan = ArrowScan(tbl.metadata, tbl.io, schema.select(*on), AlwaysTrue())
    full_scan = ArrowScan(tbl.metadata, tbl.io, schema, AlwaysTrue())

    def one(task: Any) -> tuple[Any, pa.Table, pa.Table | None] | None:
        file_keys = key_scan.to_table([task])
        mask = match_mask(file_keys, keys, on)
        if not pc.any(mask).as_py():
            return None
        rest = full_scan.to_table([task]).filter(pc.invert(mask)) if read_rest else None
        return task.file, file_keys.filter(mask), rest

    found = ExecutorFactory.get_or_create().map(one, tasks)
    return [r for r in found if r is not None]


def run_upsert(name: str, tbl: IcebergTable, data: pa.Table, on: Sequence[str] | None,
               update: bool, insert: bool) -> UpsertResult:
    """Upsert ``data`` into ``tbl`` on key columns ``on`` (see the module docstring).

    Raises:
        DuplicateKeysError: a key appears more than once in ``data``.
        SchemaMismatchError: ``data`` does not fit the table's schema.
        ValueError: no key columns, or a key column is missing from ``data``.
        CommitFailedException, ValidationException: a concurrent commit conflicts (the
            caller re-plans); the files written for this attempt are deleted first.
    """
    from pyiceberg.io.pyarrow import _dataframe_to_data_files

    keys_on = _key_columns(tbl, on, data)
    data = conform(data, tbl.schema(), tbl.format_version)
    _check_schema(name, tbl, data)
    _check_duplicates(data, keys_on)
    if not (update or insert) or len(data) == 0:
        return UpsertResult(0, 0, tbl.metadata.current_snapshot_id)

    keys = data.select(keys_on)
    hits: list[tuple[Any, pa.Table, pa.Table | None]] = []
    if tbl.current_snapshot() is not None:
        tasks = list(tbl.scan(row_filter=_prefilter(keys, keys_on)).plan_files())
        hits = _probe(tbl, tasks, keys, keys_on, read_rest=update)
    matched = match_mask(keys, pa.concat_tables([h[1] for h in hits]), keys_on) if hits \
        else pa.array(np.zeros(len(data), dtype=bool))
    target = tbl.schema().as_arrow()
    parts: list[pa.Table] = []
    updated = 0
    if update and hits:
        parts += [_align(h[2], target) for h in hits if h[2] is not None and len(h[2])]
        updated_rows = data.filter(matched)
        updated = len(updated_rows)
        parts.append(_align(updated_rows, target))
    inserted_rows = data.filter(pc.invert(matched)) if insert else data.slice(0, 0)
    if len(inserted_rows):
        parts.append(_align(inserted_rows, target))
    deleted = [h[0] for h in hits] if update else []
    if not deleted and not len(inserted_rows):
        return UpsertResult(0, 0, tbl.metadata.current_snapshot_id)

    commit_uuid = uuid.uuid4()
    new_rows = pa.concat_tables(parts) if parts else target.empty_table()
    new_files = list(_dataframe_to_data_files(tbl.metadata, new_rows, tbl.io, commit_uuid)) \
        if len(new_rows) else []
    summary = {"skyfabric.operation": "upsert", "skyfabric.upsert-updated": str(updated),
               "skyfabric.upsert-inserted": str(len(inserted_rows))}

    def stage(tx: Any) -> None:
        snapshot = tx.update_snapshot(snapshot_properties=summary)
        producer = snapshot.overwrite(commit_uuid) if deleted else snapshot.fast_append()
        with producer as change:
            for data_file in deleted:
                change.delete_data_file(data_file)
            for data_file in new_files:
                change.append_data_file(data_file)

    commit_or_clean(tbl, stage, new_files)  # files of a commit that did not land are removed
    return UpsertResult(updated, len(inserted_rows), tbl.metadata.current_snapshot_id)
