"""Schema and partition evolution of a `skyfabric.tables.Table` (a mixin of it).

Every change is one metadata commit; no data file is rewritten: Iceberg tracks columns by
field id, so renamed and added columns read correctly from old files, and files written
under an old partition spec keep it while scans prune across all specs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from skyfabric.tables import _schema

if TYPE_CHECKING:
    from pyiceberg.table import Table as IcebergTable
    from pyiceberg.table.update.schema import UpdateSchema
    from pyiceberg.table.update.spec import UpdateSpec

__all__ = ["Evolution", "partition_text"]


class Evolution:
    """Schema and partition evolution methods (needs ``_fresh()`` from the table)."""

    if TYPE_CHECKING:  # provided by `Table`, which mixes this class in

        def _fresh(self) -> IcebergTable: ...

        def _commit(self, verb: str, op: Any, replayable: bool = True) -> Any: ...

    @contextmanager
    def update_schema(self, allow_incompatible_changes: bool = False) -> Iterator[UpdateSchema]:
        """Context manager around pyiceberg's ``UpdateSchema``; commits on exit.

        ``with t.update_schema() as u: u.add_column("humidity", "double")``
        """
        tbl = self._fresh()
        with tbl.update_schema(allow_incompatible_changes=allow_incompatible_changes) as update:
            yield update

    @contextmanager
    def update_partitioning(self) -> Iterator[UpdateSpec]:
        """Context manager around pyiceberg's ``UpdateSpec`` (partition evolution); commits on exit."""
        tbl = self._fresh()
        with tbl.update_spec() as update:
            yield update

    def _evolve(self, verb: str, change: Any) -> None:
        """Apply ``change(update_schema)`` and commit; re-applied on a fresh table after a lost race."""
        self._commit(verb, lambda tbl: change(tbl.update_schema()).commit())

    def add_column(self, name: str, type: Any, doc: str | None = None) -> None:
        """Add an optional column; ``type`` is Iceberg text (``"double"``, ``"decimal(10,2)"``),
        a pyarrow type or a pyiceberg type. Existing rows read it as null.

        Raises:
            ValueError: the column exists or the type cannot be read.
        """
        field_type = _iceberg_type(type)
        self._evolve(f"add column {name} to", lambda u: u.add_column(name, field_type, doc=doc))

    def rename_column(self, old: str, new: str) -> None:
        """Rename a column; data files are untouched (Iceberg tracks columns by id).

        Raises:
            ValueError: ``old`` does not exist or ``new`` is taken.
        """
        self._evolve(f"rename column {old} of", lambda u: u.rename_column(old, new))

    def widen_column(self, name: str, type: Any) -> None:
        """Promote a column's type: int->long, float->double, decimal(P,S)->decimal(P',S), P'>P
        (Iceberg spec, "Schema Evolution").

        Raises:
            ValueError: the change is not a legal Iceberg promotion.
        """
        field_type = _iceberg_type(type)
        self._evolve(f"widen column {name} of", lambda u: u.update_column(name, field_type=field_type))

    def union_by_name(self, schema: Any) -> None:
        """Add every column of ``schema`` (Arrow or Iceberg schema, or data) the table lacks and
        widen types where ``schema``'s are wider.

        Raises:
            ValueError: a column's types cannot be reconciled (e.g. string vs long).
        """
        import pyarrow as pa
        from pyiceberg.schema import Schema as IcebergSchema

        if not isinstance(schema, pa.Schema | IcebergSchema):
            schema = _schema.to_arrow(schema).schema
        self._evolve("union schema of", lambda u: u.union_by_name(schema))

    def partition_by(self, *fields: str, drop: Sequence[str] = ()) -> None:
        """Partition evolution: add ``fields`` (``"day(ts)"``, ``"bucket(16, id)"``, ``"site"``)
        and drop partition fields named in ``drop`` (e.g. ``"ts_day"``, ``"site"``). Old files
        keep their layout; new writes use the new spec; scans prune both.

        Raises:
            ValueError: a field text cannot be read, or names a column the table lacks.
        """
        parsed = [_schema.parse_partition(spec) for spec in fields]

        def change(tbl: IcebergTable) -> None:
            update = tbl.update_spec()
            for name in drop:
                update.remove_field(name)
            for column, transform, field_name in parsed:
                update.add_field(column, transform, field_name)
            update.commit()

        self._commit("change partitioning of", change)


def partition_text(transform: str, column: str | None) -> str:
    """``identity`` -> ``col``; ``bucket[16]`` -> ``bucket(16, col)``; ``day`` -> ``day(col)``."""
    if transform == "identity":
        return str(column)
    if "[" in transform:
        name, width = transform.rstrip("]").split("[", 1)
        return f"{name}({width}, {column})"
    return f"{transform}({column})"



def _iceberg_type(value: Any) -> Any:
    from pyiceberg.types import IcebergType

    if isinstance(value, IcebergType):
        return value
    if isinstance(value, str):
        return IcebergType.model_validate(value.replace(" ", "").replace(",", ", "))
    import pyarrow as pa

    if isinstance(value, pa.DataType):
        from pyiceberg.io.pyarrow import _pyarrow_to_schema_without_ids

        return _pyarrow_to_schema_without_ids(pa.schema([pa.field("x", value)])).fields[0].field_type
    raise TypeError(f"cannot read column type {value!r}; fix: use Iceberg text like 'double'")
