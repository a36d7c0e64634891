"""The ``table:<namespace.name>[@snapshot_id]`` source: an Iceberg table of the fabric catalog.

Read at its current snapshot, or at ``snapshot_id`` (time travel). The snapshot is pinned when
the source is opened, so every pass over it (a baseline reads its data twice) sees the same
rows even if a writer commits meanwhile. Batches stream through the table layer's scan
(column projection, one data file's batches at a time, delete files applied); for the Dask
engine the snapshot's data files become `FileTask` records when that gives the same rows
(see `TableSource.file_tasks`).

`skyfabric.drift.sources.open_source` opens these; ``TableSource`` is also importable from
`skyfabric.drift.sources`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from skyfabric.drift.file_io import _connect
from skyfabric.drift.sources import DEFAULT_BATCH_SIZE, TABLE_PREFIX, FileTask, Source
from skyfabric.errors import DriftError
from skyfabric.storage.kinds import kind_class

if TYPE_CHECKING:
    from skyfabric.fabric import Fabric
    from skyfabric.tables.table import Table as FabricTable

__all__ = ["TableSource", "open_table"]


@dataclass
class TableSource(Source):
    """An Iceberg table at one pinned snapshot (``table:<namespace.name>[@snapshot_id]``).

    Attributes:
        data: the `skyfabric.tables.Table`.
        snapshot_id: the snapshot every scan reads (None: the table was never written, so
            it has no rows).
    """

    snapshot_id: int | None = None
    _schema: pa.Schema | None = None

    @property
    def table(self) -> FabricTable:
        """The `skyfabric.tables.Table` read."""
        return self.data

    @property
    def schema(self) -> pa.Schema:
        """Arrow schema of the table as of the pinned snapshot."""
        if self._schema is None:
            self._schema = self.table.scan(snapshot_id=self.snapshot_id).arrow_schema
        return self._schema

    @property
    def reiterable(self) -> bool:
        """Always True: every scan re-reads the pinned snapshot."""
        return True

    def batches(
        self, columns: list[str], batch_size: int = DEFAULT_BATCH_SIZE
    ) -> Iterator[pa.RecordBatch]:
        """Yield batches of ``columns`` from the pinned snapshot, one data file at a time.

        Only the projected columns are read (Iceberg column projection, delete files
        applied); batches longer than ``batch_size`` rows are sliced (zero-copy).
        """
        if self.snapshot_id is None:
            return
        # an empty projection means "all columns" to pyiceberg: read the first column only
        # and drop it, so that row counts still flow
        read = columns or [self.schema.names[0]]
        reader = self.table.scan(columns=read, snapshot_id=self.snapshot_id).to_batches()
        for batch in reader:
            batch = batch.select(columns)
            for start in range(0, max(batch.num_rows, 1), batch_size):
                yield batch.slice(start, batch_size)

    def fit_input(self, columns: list[str] | None = None) -> Any:
        """A streaming ``RecordBatchReader`` of ``columns`` (default: all) at the snapshot.

        `Baseline.fit` reads it in one pass: exact quantiles while the values fit its memory
        budget, a KLL sketch (rank error stated in the baseline) beyond it.
        """
        if self.snapshot_id is None:
            return self.schema.empty_table()
        names = self.present(columns) if columns else None
        return self.table.scan(columns=names, snapshot_id=self.snapshot_id).to_batches()

    def count_rows(self) -> int | None:
        """Rows in the pinned snapshot (from manifest metadata when no deletes apply)."""
        if self.snapshot_id is None:
            return 0
        return self.table.count(snapshot_id=self.snapshot_id)

    def file_tasks(self) -> list[FileTask]:
        """One `FileTask` per data file of the pinned snapshot, read through its store.

        A data file alone gives the table's rows only when no delete file applies to it and
        its columns are named as in the table; so this needs a table with a single schema
        (never evolved), no delete files in the snapshot, and files in a configured store.

        Raises:
            DriftError: one of those conditions does not hold; the local engine reads the
                table through Iceberg and handles all of them.
        """
        from skyfabric.tables._fileio import parse_location

        if self.snapshot_id is None:
            return []
        ice = self.table.iceberg
        fix = "fix: use engine='local' (it reads the table through Iceberg)"
        if self.store is None:
            raise DriftError(
                f"the files of {self.name} ({self.table.native_location}) are in no configured "
                f"store, so dask workers cannot open them; {fix}, or add a store holding them"
            )
        if len(ice.metadata.schemas) > 1:
            raise DriftError(
                f"the schema of {self.name} has evolved, so its data files alone do not give "
                f"the table's columns; {fix}"
            )
        scan = ice.scan(snapshot_id=self.snapshot_id)
        schema = self.schema
        tasks = []
        for task in scan.plan_files():
            if task.delete_files:
                raise DriftError(
                    f"{self.name} has delete files (rows deleted or updated in place), which "
                    f"dask workers reading data files directly would not apply; {fix}"
                )
            loc = parse_location(task.file.file_path)
            if loc is None:  # pragma: no cover - the store was found, so the scheme is known
                raise DriftError(f"cannot map {task.file.file_path} to a store; {fix}")
            # the path as the store's client takes it: ``/abs`` on disk, ``bucket/key`` else
            path = loc.path if kind_class(loc.kind).hierarchical else loc.path.lstrip("/")
            tasks.append(FileTask(path=path, format="parquet", store=self.store, schema=schema))
        return tasks


def _parse_table_name(spec: str) -> tuple[str, int | None]:
    """``"ns.name@123"`` -> ``("ns.name", 123)``; ``"ns.name"`` -> ``("ns.name", None)``.

    Raises:
        DriftError: empty name, or a snapshot that is not an integer id.
    """
    name, at, snap = spec.partition("@")
    name = name.strip()
    if not name:
        raise DriftError(
            f"the source {TABLE_PREFIX}{spec} names no table; fix: write "
            f"{TABLE_PREFIX}<namespace.name>[@snapshot_id]"
        )
    if not at:
        return name, None
    try:
        return name, int(snap.strip())
    except ValueError:
        raise DriftError(
            f"the snapshot {snap!r} in {TABLE_PREFIX}{spec} is not a snapshot id (an integer); "
            f"fix: pick one from `skyfabric tables snapshots {name}` or table.snapshots()"
        ) from None


def open_table(name: str, fabric: Fabric | None) -> TableSource:
    """Open ``table:<namespace.name>[@snapshot_id]`` at its current or the given snapshot.

    Raises:
        TableNotFoundError: no such table (the message names the closest existing ones).
        SnapshotNotFoundError: the table has no snapshot with that id.
        DriftError: the text after ``@`` is not an integer.
    """
    table_name, snapshot_id = _parse_table_name(name)
    table = _connect(fabric).table(table_name)
    scan = table.scan(snapshot_id=snapshot_id)  # raises SnapshotNotFoundError
    pinned = scan.snapshot_id
    display = f"{TABLE_PREFIX}{table.name}" + (f"@{pinned}" if pinned is not None else "")
    return TableSource(
        display, table, store=table.store, snapshot_id=pinned, _schema=scan.arrow_schema
    )
