"""Dict rows to Arrow for `skyfabric.drift.capture`: types widened, values that cannot be
widened refused.

A column's type is the one seen so far (the capture's known schema) widened by the type of
each kind of Python value in turn, first seen first, as ``pyarrow.unify_schemas(...,
promote_options="permissive")`` widens (int to float, null to any type, narrower to wider
numbers); a kind whose type cannot be widened into it (a string in an int column, a bool in a
float column) is refused, row by row. Once a column's type is known, values of kinds that go
into it exactly are converted without inference (`safe_kinds`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["conform", "rows_table", "safe_kinds", "widens"]


def rows_table(
    rows: list[dict[str, Any]], known: pa.Schema
) -> tuple[pa.Table, np.ndarray, list[str]]:
    """(table of the rows that fit, mask of those rows, one sentence per refused column).

    Columns are every key of the rows: the first row's in order, then the others sorted; a
    row without a key has null there.
    """
    first = list(rows[0])
    names = first + sorted(set().union(*rows).difference(first))
    keep = np.ones(len(rows), dtype=bool)
    arrays: dict[str, pa.Array] = {}
    refused: list[str] = []
    for name in names:
        values = [r.get(name) for r in rows]
        array, bad = _column(values, known.field(name).type if name in known.names else None)
        if bad is not None:
            keep &= ~bad
            example = next(v for v, b in zip(values, bad, strict=True) if b)
            refused.append(
                f"{int(bad.sum())} row(s) with column {name!r} = {type(example).__name__} "
                f"values (e.g. {example!r:.60}) where the column is {array.type}"
            )
        arrays[name] = array
    table = pa.table(arrays)
    return (table.filter(pa.array(keep)) if refused else table), keep, refused


def _column(values: list[Any], known: pa.DataType | None) -> tuple[pa.Array, np.ndarray | None]:
    """(Arrow array of ``values`` in ``known`` widened as needed, mask of the values that
    cannot go in it, or None when all fit).

    The column's type is ``known`` widened by the type of each kind of Python value in
    turn, first seen first; a kind whose type cannot be widened into it is refused."""
    if known is not None and safe_kinds(known) >= set(map(type, values)):
        try:  # the steady state: the column's type is known, no inference
            return pa.array(values, type=known), None
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass  # e.g. an int beyond int64: the general path says which rows
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types within this buffer
        array = None
    if array is not None and (known is None or widens(known, array.type)):
        if known is not None:
            array = array.cast(_unified(known, array.type))
        return array, None
    target = None if known is None or pa.types.is_null(known) else known
    examples: dict[type, Any] = {}
    for v in values:
        if v is not None and type(v) not in examples:
            examples[type(v)] = v
    refused: set[type] = set()
    for kind, example in examples.items():
        try:
            t = pa.array([example]).type
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            refused.add(kind)
            continue
        if target is None:
            target = t
        elif widens(target, t):
            target = _unified(target, t)
        else:
            refused.add(kind)
    bad = np.fromiter((type(v) in refused for v in values), dtype=bool, count=len(values))
    good = [None if b else v for v, b in zip(values, bad, strict=True)]
    return pa.array(good, type=target), bad


def safe_kinds(known: pa.DataType) -> set[type]:
    """Python types whose values go into a ``known`` column exactly (no truncation, no
    bool-to-number), so it can be converted without inference; empty when unsure."""
    if pa.types.is_boolean(known):
        kinds: set[type] = {bool}
    elif pa.types.is_integer(known):
        kinds = {int}
    elif pa.types.is_floating(known):
        kinds = {float, int}
    elif pa.types.is_string(known) or pa.types.is_large_string(known):
        kinds = {str}
    else:
        return set()
    return kinds | {type(None)}


def _unified(old: pa.DataType, new: pa.DataType) -> pa.DataType:
    one = pa.unify_schemas([pa.schema([("c", old)]), pa.schema([("c", new)])],
                           promote_options="permissive")
    return one.field("c").type


def widens(old: pa.DataType, new: pa.DataType) -> bool:
    try:
        pa.unify_schemas([pa.schema([("c", old)]), pa.schema([("c", new)])],
                         promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return False
    return True


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns and types (absent columns as nulls)."""
    arrays = [
        table.column(f.name).cast(f.type) if f.name in table.column_names
        else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)
