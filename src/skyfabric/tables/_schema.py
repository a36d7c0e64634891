"""Arrow data in, Iceberg schemas and partition specs out, and why a schema does not fit.

- `to_arrow`: pandas / polars / Arrow / anything with ``__arrow_c_stream__`` -> Arrow.
- `conform`: the cheap casts every writer needs and pyiceberg refuses to guess —
  ``timestamp[ns]`` -> ``timestamp[us]`` for format v1/v2 tables (pandas' default unit), and
  nullable columns with no nulls written into ``required`` table columns.
- `schema_diff` / `mismatch_error`: which columns differ, and how to evolve.
- `parse_partition`: ``"day(ts)"``, ``"bucket(16, id)"``, ``"truncate(4, name)"``,
  ``"region"`` (identity) -> ``(source column, transform, field name)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from skyfabric.tables.errors import SchemaMismatchError

if TYPE_CHECKING:
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import Transform

__all__ = ["check_fits", "conform", "mismatch_error", "parse_partition", "schema_diff", "to_arrow"]

ArrowData = pa.Table | pa.RecordBatchReader


def to_arrow(data: Any) -> ArrowData:
    """Arrow view of ``data``: ``pa.Table``/``RecordBatchReader`` as is, ``pa.RecordBatch``,
    pandas and polars frames (a polars ``LazyFrame`` is collected), or any object exporting
    ``__arrow_c_stream__`` (DuckDB relations, ...).

    Raises:
        TypeError: ``data`` is none of these.
    """
    if isinstance(data, pa.Table | pa.RecordBatchReader):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    module = type(data).__module__.split(".", 1)[0]
    if module == "pandas" and hasattr(data, "columns"):
        return pa.Table.from_pandas(data, preserve_index=False)
    if module == "polars":
        if hasattr(data, "collect"):
            data = data.collect()
        return data.to_arrow()
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    raise TypeError(
        f"cannot write {type(data).__name__}: expected a pyarrow Table/RecordBatchReader/"
        "RecordBatch, a pandas or polars DataFrame, or an object with __arrow_c_stream__"
    )


def _needs_us(t: pa.DataType) -> bool:
    return pa.types.is_timestamp(t) and t.unit == "ns"


def conform(data: ArrowData, schema: Schema, format_version: int = 2) -> ArrowData:
    """Cast ``data`` where it is safe and pyiceberg would refuse it (see the module docstring).

    Returns ``data`` itself when nothing needs changing; only top-level columns are touched.
    A stream is checked batch by batch as it is written.

    Raises:
        SchemaMismatchError: (streams only, while reading) a batch holds a null in a column
            the table requires.
    """
    required = {f.name for f in schema.fields if f.required}
    fields = []
    for field in data.schema:
        new = field
        if format_version < 3 and _needs_us(field.type):
            new = new.with_type(pa.timestamp("us", tz=field.type.tz))
        if field.name in required and field.nullable and (
                not isinstance(data, pa.Table) or data.column(field.name).null_count == 0):
            new = new.with_nullable(False)
        fields.append(new)
    if all(new is old for new, old in zip(fields, data.schema, strict=True)):
        return data
    target = pa.schema(fields, metadata=data.schema.metadata)
    if isinstance(data, pa.Table):
        return data.cast(target, safe=False)
    strict = [f.name for f, old in zip(fields, data.schema, strict=True)
              if not f.nullable and old.nullable]

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in data:
            for name in strict:
                if batch.column(name).null_count:
                    raise SchemaMismatchError(
                        f"column {name!r} is required by the table but the data holds nulls; "
                        "fix: fill or drop those rows first", changed=[(name, "required", "nulls")])
            if batch.num_rows:
                yield pa.Table.from_batches([batch]).cast(target, safe=False).to_batches()[0]

    return pa.RecordBatchReader.from_batches(target, batches())


def schema_diff(
    table_schema: Schema, data_schema: pa.Schema
) -> tuple[list[str], list[str], list[tuple[str, str, str]]]:
    """``(extra, missing, changed)`` between a table's schema and data's Arrow schema.

    ``extra``: ``"name (type)"`` of data columns the table lacks; ``missing``: required table
    columns absent from the data; ``changed``: ``(name, table type, data type)`` where the
    data's type cannot be promoted to the table's (Iceberg spec, "Schema Evolution") or is
    optional where the table requires a value.
    """
    from pyiceberg.exceptions import ResolveError
    from pyiceberg.io.pyarrow import _pyarrow_to_schema_without_ids
    from pyiceberg.schema import promote

    data = _pyarrow_to_schema_without_ids(data_schema)
    table_fields = {f.name: f for f in table_schema.fields}
    data_fields = {f.name: f for f in data.fields}
    extra = [f"{n} ({f.field_type})" for n, f in data_fields.items() if n not in table_fields]
    missing = [n for n, f in table_fields.items() if f.required and n not in data_fields]
    changed: list[tuple[str, str, str]] = []
    for name, tf in table_fields.items():
        df = data_fields.get(name)
        if df is None:
            continue
        if tf.required and not df.required:
            changed.append((name, f"required {tf.field_type}", f"optional {df.field_type}, with nulls"))
        elif tf.field_type != df.field_type and tf.field_type.is_primitive:
            try:
                promote(df.field_type, tf.field_type)
            except ResolveError:
                changed.append((name, str(tf.field_type), str(df.field_type)))
    return extra, missing, changed


def check_fits(table: str, table_schema: Schema, data_schema: pa.Schema, verb: str) -> None:
    """Raise `SchemaMismatchError` when top-level columns do not fit (checked before
    pyiceberg's own check, which prints a table to stdout when it fails).

    Raises:
        SchemaMismatchError: a column is extra, missing (required) or of another type.
    """
    extra, missing, changed = schema_diff(table_schema, data_schema)
    if extra or missing or changed:
        raise mismatch_error(table, table_schema, data_schema, verb)


def mismatch_error(table: str, table_schema: Schema, data_schema: pa.Schema, verb: str) -> SchemaMismatchError:
    """A `SchemaMismatchError` naming every differing column and the way to evolve."""
    extra, missing, changed = schema_diff(table_schema, data_schema)
    lines = [f"cannot {verb} {table}: the data's schema does not fit the table's"]
    if extra:
        lines.append(f"  in the data, not in the table: {', '.join(extra)}")
    if missing:
        lines.append(f"  required by the table, missing from the data: {', '.join(missing)}")
    for name, ttype, dtype in changed:
        lines.append(f"  {name}: table has {ttype}, data has {dtype}")
    if not (extra or missing or changed):
        lines.append("  (nested fields differ; compare table.schema with the data's schema)")
    lines.append(
        "fix: pass evolve=True to add the new columns and widen types (union by name), or "
        "evolve explicitly with table.update_schema() (add_column / update_column / "
        "rename_column), or cast the data to the table's types"
    )
    return SchemaMismatchError("\n".join(lines), extra=[e.split(" ", 1)[0] for e in extra],
                               missing=missing, changed=changed)


_CALL = re.compile(r"^\s*(\w+)\s*[\(\[]\s*([^,\)\]]+?)\s*(?:,\s*([^\)\]]+?)\s*)?[\)\]]\s*$")
_UNITS = {"year": "year", "years": "year", "month": "month", "months": "month", "day": "day",
          "days": "day", "date": "day", "hour": "hour", "hours": "hour", "identity": "identity",
          "void": "void"}


def parse_partition(spec: str | tuple[str, Any]) -> tuple[str, Transform[Any, Any], str | None]:
    """One partition field: ``"region"``, ``"day(ts)"``, ``"bucket(16, id)"`` or
    ``"bucket(id, 16)"``, ``"truncate(4, name)"``, or ``(column, transform)``.

    Returns ``(source column, transform, None)``; the field name is left to pyiceberg
    (``ts_day``, ``id_bucket_16``).

    Raises:
        ValueError: the text is not one of these forms.
    """
    from pyiceberg.transforms import (
        BucketTransform,
        DayTransform,
        HourTransform,
        IdentityTransform,
        MonthTransform,
        TruncateTransform,
        VoidTransform,
        YearTransform,
        parse_transform,
    )

    if isinstance(spec, tuple):
        column, transform = spec
        return column, parse_transform(transform) if isinstance(transform, str) else transform, None
    text = spec.strip()
    match = _CALL.match(text)
    if match is None:
        if re.fullmatch(r"[\w.]+", text):
            return text, IdentityTransform(), None
        raise ValueError(_partition_help(spec))
    func, a, b = match.group(1).lower(), match.group(2), match.group(3)
    if func in ("bucket", "truncate"):
        if b is None:
            raise ValueError(_partition_help(spec))
        width, column = (int(a), b) if a.isdigit() else (int(b), a) if b.isdigit() else (None, None)
        if width is None or column is None:
            raise ValueError(_partition_help(spec))
        cls = BucketTransform if func == "bucket" else TruncateTransform
        return column, cls(width), None
    unit = _UNITS.get(func)
    if unit is None or b is not None:
        raise ValueError(_partition_help(spec))
    transform = {"year": YearTransform, "month": MonthTransform, "day": DayTransform,
                 "hour": HourTransform, "identity": IdentityTransform, "void": VoidTransform}[unit]
    return a, transform(), None


def _partition_help(spec: object) -> str:
    return (f"cannot read partition field {spec!r}; fix: use a column name (identity), "
            "year(col), month(col), day(col), hour(col), bucket(N, col) or truncate(W, col)")
