"""A table scan and its outputs: Arrow, a streaming RecordBatchReader, polars, pandas, DuckDB.

A `Scan` is a pyiceberg ``DataScan`` fixed at one snapshot: the row filter prunes
partitions and files by their statistics before any data is read, and only the selected
columns are read. Every output runs the same plan, so they agree row for row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from skyfabric.errors import MissingDependencyError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import polars as pl
    import pyarrow as pa
    from pyiceberg.table import DataScan

__all__ = ["Scan"]


def _require(module: str, extra: str = "engines") -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"this output needs {module!r}; fix: pip install 'skyfabric[{extra}]'"
        ) from exc


class Scan:
    """Rows of one table snapshot, filtered and projected; nothing is read until an output.

    Attributes:
        table: the table's name (``namespace.table``).
        snapshot_id: the snapshot read (None: the table has no snapshot yet, the scan is empty).
    """

    def __init__(self, table: str, scan: DataScan) -> None:
        self.table = table
        self._scan = scan
        snapshot = scan.snapshot()
        self.snapshot_id: int | None = snapshot.snapshot_id if snapshot else None

    def __repr__(self) -> str:
        return (f"Scan(table={self.table!r}, snapshot_id={self.snapshot_id}, "
                f"row_filter={self._scan.row_filter!r}, columns={self._scan.selected_fields!r})")

    @property
    def arrow_schema(self) -> pa.Schema:
        """Arrow schema of the rows this scan returns (projected columns only)."""
        from pyiceberg.io.pyarrow import schema_to_pyarrow

        return schema_to_pyarrow(self._scan.projection(), include_field_ids=False)

    def files(self) -> list[str]:
        """Native URLs of the data files the plan reads (after partition and stats pruning)."""
        return [task.file.file_path for task in self._scan.plan_files()]

    def count(self) -> int:
        """Number of rows the scan returns (reads only what the filter needs)."""
        return self._scan.count()

    def to_arrow(self) -> pa.Table:
        """All rows as one ``pyarrow.Table`` (materialized in memory)."""
        return self._scan.to_arrow()

    def to_batches(self) -> pa.RecordBatchReader:
        """A streaming ``pyarrow.RecordBatchReader``: one file's batches at a time in memory."""
        return self._scan.to_arrow_batch_reader()

    def to_pandas(self, **kwargs: Any) -> pd.DataFrame:
        """All rows as a pandas DataFrame (``kwargs`` go to ``pyarrow.Table.to_pandas``)."""
        _require("pandas")
        return self.to_arrow().to_pandas(**kwargs)

    def to_polars(self) -> pl.LazyFrame:
        """A polars ``LazyFrame`` over the scan.

        Column selection is pushed into the Iceberg scan (only those columns are read);
        ``head(n)`` stops reading after n rows; other polars filters run on the batches as they
        stream in. Pass ``row_filter`` to `Table.scan` to prune files before reading.
        """
        pl = _require("polars")
        from polars.io.plugins import register_io_source

        empty = self.arrow_schema.empty_table()
        schema = pl.from_arrow(empty).schema  # type: ignore[union-attr]

        def source(with_columns: list[str] | None, predicate: Any, n_rows: int | None,
                   batch_size: int | None) -> Iterator[pl.DataFrame]:
            scan = self._scan
            if with_columns is not None:
                scan = scan.select(*with_columns)
            if n_rows is not None and predicate is None:
                scan = scan.update(limit=n_rows)
            produced = 0
            for batch in scan.to_arrow_batch_reader():
                frame = pl.from_arrow(batch)
                if with_columns is not None:
                    frame = frame.select(with_columns)
                if predicate is not None:
                    frame = frame.filter(predicate)
                if n_rows is not None:
                    frame = frame.head(n_rows - produced)
                produced += frame.height
                yield frame
                if n_rows is not None and produced >= n_rows:
                    return

        return register_io_source(io_source=source, schema=schema, explain_name="iceberg",
                                  explain_detail=f"{self.table} @ {self.snapshot_id}")

    def to_duckdb(self, name: str = "t", connection: duckdb.DuckDBPyConnection | None = None
                  ) -> duckdb.DuckDBPyConnection:
        """Register the rows as view ``name`` in a DuckDB connection (a new one if None).

        The rows are materialized as Arrow first, so the view can be queried many times.
        """
        duckdb_mod = _require("duckdb")
        con = connection if connection is not None else duckdb_mod.connect()
        con.register(name, self.to_arrow())
        return con
