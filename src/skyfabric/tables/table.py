"""``Table``: one Iceberg table, whichever store its files live on.

Every read starts from the catalog's current metadata (a cheap check on SQL catalogs: one
``SELECT`` of the metadata location; the table is reloaded only when it moved), so a table
object held in a notebook never serves a stale snapshot after a batch job commits.

Every write is one atomic Iceberg commit. A commit that loses a race with another writer is
retried: pyiceberg re-applies it on the new snapshot (appends never conflict), and if a
conflict remains the whole operation is re-planned from the latest snapshot, up to
``max_attempts`` times; after that `CommitConflictError` says nothing was committed.
"""

from __future__ import annotations

import random
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from skyfabric.tables import _schema
from skyfabric.tables._evolve import Evolution, partition_text
from skyfabric.tables._model import Snapshot, UpsertResult, parse_instant, to_ms
from skyfabric.tables._relocate import Relocation
from skyfabric.tables._upkeep import Upkeep
from skyfabric.tables._writes import append_files, commit_or_clean
from skyfabric.tables.errors import (
    CommitConflictError,
    SchemaMismatchError,
    SnapshotNotFoundError,
)
from skyfabric.tables.scan import Scan

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import polars as pl
    import pyarrow as pa
    from pyiceberg.expressions import BooleanExpression
    from pyiceberg.schema import Schema
    from pyiceberg.table import Table as IcebergTable

    from skyfabric.tables._service import TableService

__all__ = ["Table"]

T = TypeVar("T")
_SCHEMA_ERRORS = ("Mismatch in fields", "contains more columns", "Cannot promote",
                  "Cannot change", "not compatible")


class Table(Evolution, Relocation, Upkeep):
    """An Iceberg table in the fabric catalog.

    Get one with ``fab.table("namespace.name")`` or ``fab.create_table(...)``.

    Attributes:
        name: ``namespace.table``.
        max_attempts: how many times a write is re-planned after losing a commit race.
    """

    max_attempts = 5

    def __init__(self, service: TableService, identifier: tuple[str, ...], table: IcebergTable) -> None:
        self._service = service
        self._ident = identifier
        self._table = table
        self.name = ".".join(identifier)

    def __repr__(self) -> str:
        return f"Table({self.name!r}, location={self.location!r})"

    # -- state ----------------------------------------------------------------------------

    def _fresh(self) -> IcebergTable:
        current = self._service.metadata_location(self._ident)
        if current is None or current != self._table.metadata_location:
            self._table = self._service.load(self._ident)
        return self._table

    def refresh(self) -> Table:
        """Reload the table's metadata from the catalog. Raises TableNotFoundError if dropped."""
        self._table = self._service.load(self._ident)
        return self

    @property
    def iceberg(self) -> IcebergTable:
        """The underlying ``pyiceberg.table.Table`` at the catalog's current metadata."""
        return self._fresh()

    @property
    def native_location(self) -> str:
        """Native URL of the table's root (``s3://bucket/warehouse/ns/t``)."""
        return self._table.location()

    @property
    def location(self) -> str:
        """``fabric://`` URL of the table's root (the native URL if no store holds it)."""
        return self._service.fabric_url(self._table.location(),
                                        self._table.properties.get("skyfabric.store"))

    @property
    def store(self) -> str | None:
        """Name of the store holding the table's files (None: no configured store)."""
        found = self._service.store_of_table(self._table)
        return found.name if found else None

    @property
    def schema(self) -> Schema:
        """Current Iceberg schema (field ids, types, required flags, identifier fields)."""
        return self._fresh().schema()

    @property
    def arrow_schema(self) -> pa.Schema:
        """Current schema as an Arrow schema."""
        return self.schema.as_arrow()

    @property
    def partitioning(self) -> list[str]:
        """Current partition fields as ``transform(column)`` text, e.g. ``["day(ts)", "site"]``."""
        tbl = self._fresh()
        schema = tbl.schema()
        return [partition_text(str(f.transform), schema.find_column_name(f.source_id))
                for f in tbl.spec().fields]

    @property
    def properties(self) -> dict[str, str]:
        """Table properties (never credentials)."""
        return dict(self._fresh().properties)

    # -- snapshots and time travel -------------------------------------------------------

    def snapshots(self) -> list[Snapshot]:
        """Every snapshot the table still has, oldest first."""
        tbl = self._fresh()
        current = tbl.metadata.current_snapshot_id
        snaps = sorted(tbl.snapshots(), key=lambda s: (s.timestamp_ms, s.sequence_number or 0))
        return [Snapshot.from_iceberg(s, current) for s in snaps]

    def history(self) -> list[Snapshot]:
        """Snapshots that were current, in the order they became current (the snapshot log)."""
        tbl = self._fresh()
        current = tbl.metadata.current_snapshot_id
        out = []
        for entry in tbl.history():
            snap = tbl.snapshot_by_id(entry.snapshot_id)
            if snap is not None:
                out.append(Snapshot.from_iceberg(snap, current))
        return out

    def current_snapshot(self) -> Snapshot | None:
        """The current snapshot (None for a table never written)."""
        tbl = self._fresh()
        snap = tbl.current_snapshot()
        return Snapshot.from_iceberg(snap, snap.snapshot_id) if snap else None

    def snapshot_at(self, *, snapshot_id: int | None = None,
                    as_of: datetime | str | int | None = None) -> Snapshot:
        """The snapshot with ``snapshot_id``, or the one current at instant ``as_of``.

        ``as_of``: aware or naive-UTC datetime, ISO-8601 text, or epoch milliseconds.

        Raises:
            SnapshotNotFoundError: no such snapshot id, or ``as_of`` is before the first commit.
        """
        sid = self._resolve_snapshot(self._fresh(), snapshot_id, as_of)
        for snap in self.snapshots():
            if snap.snapshot_id == sid:
                return snap
        raise SnapshotNotFoundError(f"table {self.name} has no snapshot {sid}")

    def _resolve_snapshot(self, tbl: IcebergTable, snapshot_id: int | None,
                          as_of: datetime | str | int | None) -> int | None:
        if snapshot_id is not None and as_of is not None:
            raise ValueError("give snapshot_id or as_of, not both")
        if snapshot_id is not None:
            if tbl.snapshot_by_id(snapshot_id) is None:
                known = [s.snapshot_id for s in tbl.snapshots()][-5:]
                raise SnapshotNotFoundError(
                    f"table {self.name} has no snapshot {snapshot_id} (expired, or from another "
                    f"table); latest snapshots: {known}; fix: pick one from table.snapshots()"
                )
            return snapshot_id
        if as_of is not None:
            instant = parse_instant(as_of)
            snap = tbl.snapshot_as_of_timestamp(to_ms(instant))
            if snap is None:
                first = min((s.timestamp_ms for s in tbl.snapshots()), default=None)
                when = (f"its first snapshot is at {parse_instant(first).isoformat()}"
                        if first is not None else "it has no snapshots")
                raise SnapshotNotFoundError(
                    f"table {self.name} did not exist yet at {instant.isoformat()}: {when}; "
                    "fix: pick a later as_of"
                )
            return snap.snapshot_id
        return None

    # -- reads ----------------------------------------------------------------------------

    def scan(self, row_filter: str | BooleanExpression | None = None, *,
             columns: Sequence[str] | None = None, snapshot_id: int | None = None,
             as_of: datetime | str | int | None = None, limit: int | None = None,
             case_sensitive: bool = True) -> Scan:
        """A `Scan` of the table.

        Args:
            row_filter: pyiceberg expression or text such as ``"site = 'oslo' and temp > 20"``;
                prunes partitions and files by statistics, then filters rows.
            columns: columns to read (default: all).
            snapshot_id: read this snapshot instead of the current one (time travel).
            as_of: read the snapshot that was current at this instant (time travel).
            limit: stop after this many rows.

        Raises:
            SnapshotNotFoundError: see `snapshot_at`.
            ValueError: the filter names a column the table does not have.
        """
        from pyiceberg.expressions import AlwaysTrue

        tbl = self._fresh()
        sid = self._resolve_snapshot(tbl, snapshot_id, as_of)
        data_scan = tbl.scan(
            row_filter=row_filter if row_filter is not None else AlwaysTrue(),
            selected_fields=tuple(columns) if columns else ("*",),
            case_sensitive=case_sensitive, snapshot_id=sid, limit=limit,
        )
        return Scan(self.name, data_scan)

    def to_arrow(self, row_filter: str | BooleanExpression | None = None, **kw: Any) -> pa.Table:
        """``scan(...).to_arrow()``: rows as a ``pyarrow.Table``."""
        return self.scan(row_filter, **kw).to_arrow()

    def to_batches(self, row_filter: str | BooleanExpression | None = None, **kw: Any) -> pa.RecordBatchReader:
        """``scan(...).to_batches()``: a streaming ``pyarrow.RecordBatchReader``."""
        return self.scan(row_filter, **kw).to_batches()

    def to_polars(self, row_filter: str | BooleanExpression | None = None, **kw: Any) -> pl.LazyFrame:
        """``scan(...).to_polars()``: a polars ``LazyFrame``."""
        return self.scan(row_filter, **kw).to_polars()

    def to_pandas(self, row_filter: str | BooleanExpression | None = None, **kw: Any) -> pd.DataFrame:
        """``scan(...).to_pandas()``: a pandas DataFrame."""
        return self.scan(row_filter, **kw).to_pandas()

    def to_duckdb(self, name: str = "t", connection: duckdb.DuckDBPyConnection | None = None,
                  **kw: Any) -> duckdb.DuckDBPyConnection:
        """``scan(...).to_duckdb(name)``: a DuckDB connection with view ``name``."""
        return self.scan(**kw).to_duckdb(name, connection)

    def count(self, row_filter: str | BooleanExpression | None = None, **kw: Any) -> int:
        """Rows in the table (or matching ``row_filter``, at ``snapshot_id``/``as_of``)."""
        return self.scan(row_filter, **kw).count()

    # -- writes ---------------------------------------------------------------------------

    def _commit(self, verb: str, op: Callable[[IcebergTable], T], replayable: bool = True) -> T:
        """Run ``op`` on the fresh table; re-plan on commit conflicts (see the module docstring)."""
        from pyiceberg.exceptions import CommitFailedException, ValidationException

        attempts = self.max_attempts if replayable else 1
        last: Exception | None = None
        for attempt in range(attempts):
            tbl = self._fresh()
            try:
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="Delete operation did not match")
                    return op(tbl)
            except (CommitFailedException, ValidationException) as exc:
                last = exc
                time.sleep(min(2.0, 0.05 * 2**attempt) * (1 + random.random()))
        raise CommitConflictError(
            f"{verb} on {self.name} lost the commit race to other writers {attempts} time(s); "
            f"nothing was committed (last: {last}); fix: retry later, or write less often "
            "into the same table"
        ) from last

    def _write(self, verb: str, data: Any, evolve: bool,
               overwrite: str | BooleanExpression | None = None) -> Snapshot | None:
        """Append ``data`` (after deleting ``overwrite`` rows) in one commit.

        The data files are written here rather than inside pyiceberg's ``append`` so that a
        commit that finally fails deletes them: nothing half-written is left behind.
        """
        import pyarrow as pa
        from pyiceberg.exceptions import ValidationError

        arrow = _schema.to_arrow(data)

        def op(tbl: IcebergTable) -> None:
            frame = _schema.conform(arrow, tbl.schema(), tbl.format_version)
            written: list[Any] = []

            def stage(tx: Any) -> None:
                if evolve:
                    with tx.update_schema() as update:
                        update.union_by_name(frame.schema)
                else:
                    _schema.check_fits(self.name, tbl.schema(), frame.schema, verb)
                if overwrite is not None:
                    tx.delete(overwrite)
                append_files(tx, tbl, frame, written)

            try:
                commit_or_clean(tbl, stage, written)
            except (ValueError, ValidationError) as exc:
                if isinstance(exc, SchemaMismatchError):
                    raise
                if any(s in str(exc) for s in _SCHEMA_ERRORS):
                    raise _schema.mismatch_error(self.name, tbl.schema(), frame.schema, verb) from exc
                raise

        self._commit(verb, op, replayable=not isinstance(arrow, pa.RecordBatchReader))
        return self.current_snapshot()

    def append(self, data: Any, *, evolve: bool = False) -> Snapshot | None:
        """Append rows; returns the new current snapshot.

        Args:
            data: Arrow table / RecordBatchReader (streamed), pandas or polars DataFrame.
            evolve: first add the data's new columns and widen types (union by name).

        Raises:
            SchemaMismatchError: the data does not fit the schema; names each differing column.
            CommitConflictError: other writers kept winning (nothing was committed).
        """
        return self._write("append to", data, evolve)

    def overwrite(self, data: Any, filter: str | BooleanExpression | None = None, *,
                  evolve: bool = False) -> Snapshot | None:
        """Replace the rows matching ``filter`` (all rows if None) with ``data``, atomically.

        Raises:
            SchemaMismatchError, CommitConflictError: as `append`.
        """
        from pyiceberg.expressions import AlwaysTrue

        return self._write("overwrite", data, evolve, filter if filter is not None else AlwaysTrue())

    def delete(self, filter: str | BooleanExpression) -> Snapshot | None:
        """Delete the rows matching ``filter``; returns the current snapshot afterwards.

        Raises:
            CommitConflictError: other writers kept winning (nothing was committed).
            ValueError: the filter names a column the table does not have.
        """
        self._commit("delete from", lambda t: t.delete(filter))
        return self.current_snapshot()

    def upsert(self, data: Any, on: Sequence[str] | None = None, *, update: bool = True,
               insert: bool = True) -> UpsertResult:
        """Update rows whose key columns ``on`` match, insert the others, in one commit.

        ``on`` defaults to the table's identifier fields (``create_table(key=...)``). Only
        files holding a matching key are rewritten; see `skyfabric.tables._upsert`.

        Raises:
            DuplicateKeysError: a key appears more than once in ``data``.
            SchemaMismatchError, CommitConflictError: as `append`.
            ValueError: no key columns given and the table has no identifier fields.
        """
        from skyfabric.tables._upsert import run_upsert

        arrow = _schema.to_arrow(data)
        if not hasattr(arrow, "num_rows"):
            arrow = arrow.read_all()
        return self._commit("upsert into", lambda t: run_upsert(self.name, t, arrow, on, update, insert))
