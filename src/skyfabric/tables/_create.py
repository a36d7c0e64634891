"""What ``create_table`` accepts as a schema: Iceberg or Arrow schemas, or data to seed it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from skyfabric.tables._schema import to_arrow

if TYPE_CHECKING:
    from pyiceberg.schema import Schema

__all__ = ["iceberg_schema", "seed_data"]


def seed_data(obj: Any) -> pa.Table | None:
    """``obj`` as an Arrow table when it is data (not a schema), else None."""
    from pyiceberg.schema import Schema

    if isinstance(obj, Schema | pa.Schema):
        return None
    data = to_arrow(obj)
    return data.read_all() if isinstance(data, pa.RecordBatchReader) else data


def iceberg_schema(schema: Schema | pa.Schema, key: Sequence[str] = (), format_version: int = 2) -> Schema:
    """An Iceberg schema with fresh field ids; ``key`` columns become required identifier
    fields (what ``upsert`` matches on by default).

    ``timestamp[ns]`` columns become microsecond timestamps for format v1/v2 tables.

    Raises:
        ValueError: a key column is not in the schema, or is not a primitive type.
    """
    from pyiceberg.io.pyarrow import _pyarrow_to_schema_without_ids
    from pyiceberg.schema import Schema, assign_fresh_schema_ids

    if isinstance(schema, pa.Schema):
        missing = [k for k in key if k not in schema.names]
        if missing:
            raise ValueError(f"key column(s) {missing} are not in the schema {schema.names}")
        arrow = pa.schema([f.with_nullable(False) if f.name in key else f for f in schema])
        ice = assign_fresh_schema_ids(_pyarrow_to_schema_without_ids(
            arrow, downcast_ns_timestamp_to_us=format_version < 3, format_version=format_version))
    else:
        ice = schema
    if not key:
        return ice
    fields = []
    for field in ice.fields:
        if field.name in key and not field.required:
            field = field.model_copy(update={"required": True})
        fields.append(field)
    try:
        ids = [ice.find_field(k).field_id for k in key]
    except ValueError as exc:
        raise ValueError(f"key column(s) {list(key)} not all in the schema: {exc}") from exc
    return Schema(*fields, schema_id=ice.schema_id, identifier_field_ids=ids)
