"""Arrow types as Trino column types, for the Hive external tables over parquet datasets.

Mapping (Trino "Hive connector" type mapping and "Parquet" reader docs): signed integers to
``tinyint``/``smallint``/``integer``/``bigint``; unsigned ones to the next wider signed type
(``uint64`` has none and is refused); ``float32`` ``real``; ``float64`` ``double``; strings
``varchar``; binary ``varbinary``; ``date32`` ``date``; timestamps ``timestamp(3)`` (the
Hive connector's default ``hive.timestamp-precision``), with ``with time zone`` when the
Arrow type has one; decimals keep precision and scale; lists ``array(...)``, maps
``map(...)``, structs ``row(...)``; dictionaries their value type.
"""

from __future__ import annotations

import pyarrow as pa

from skyfabric.views._idents import ident
from skyfabric.views.errors import InvalidViewError

__all__ = ["trino_type"]

_SIMPLE = [
    (pa.types.is_boolean, "boolean"),
    (pa.types.is_int8, "tinyint"),
    (pa.types.is_int16, "smallint"),
    (pa.types.is_int32, "integer"),
    (pa.types.is_int64, "bigint"),
    (pa.types.is_uint8, "smallint"),
    (pa.types.is_uint16, "integer"),
    (pa.types.is_uint32, "bigint"),
    (pa.types.is_float16, "real"),
    (pa.types.is_float32, "real"),
    (pa.types.is_float64, "double"),
    (pa.types.is_date, "date"),
]


def trino_type(dtype: pa.DataType, column: str = "?") -> str:
    """The Trino type name for an Arrow type, e.g. ``int64`` -> ``bigint``.

    Raises:
        InvalidViewError: the type has no Trino equivalent (``uint64``, durations, unions);
            the message names the column and suggests casting it when writing the dataset.
    """
    for test, name in _SIMPLE:
        if test(dtype):
            return name
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return "varchar"
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype) or pa.types.is_fixed_size_binary(dtype):
        return "varbinary"
    if pa.types.is_timestamp(dtype):
        return "timestamp(3) with time zone" if dtype.tz else "timestamp(3)"
    if pa.types.is_decimal(dtype):
        return f"decimal({dtype.precision}, {dtype.scale})"
    if pa.types.is_dictionary(dtype):
        return trino_type(dtype.value_type, column)
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype) or pa.types.is_fixed_size_list(dtype):
        return f"array({trino_type(dtype.value_type, column)})"
    if pa.types.is_map(dtype):
        return f"map({trino_type(dtype.key_type, column)}, {trino_type(dtype.item_type, column)})"
    if pa.types.is_struct(dtype):
        fields = ", ".join(
            f"{ident(f.name).sql(dialect='trino')} {trino_type(f.type, column)}" for f in dtype
        )
        return f"row({fields})"
    raise InvalidViewError(
        f"column {column!r} has Arrow type {dtype}, which Trino cannot read from parquet; "
        "fix: cast it (e.g. to int64, string or timestamp) when writing the dataset"
    )
