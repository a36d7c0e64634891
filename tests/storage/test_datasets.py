"""`Fabric.dataset`: hive partition values survive when the URL points inside the partitions."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import skyfabric


@pytest.fixture
def fab(tmp_path: Path) -> skyfabric.Fabric:
    for month in (1, 7, 10):
        part = tmp_path / "lake" / "flights" / f"month={month}"
        part.mkdir(parents=True)
        pq.write_table(pa.table({"delay": [float(month)] * month}), part / "part-0.parquet")
    return skyfabric.connect({"stores": {"lake": {"kind": "local", "path": str(tmp_path / "lake")}}})


@pytest.mark.parametrize(
    ("url", "months"),
    [
        ("fabric://lake/flights/", [1, 7, 10]),
        ("fabric://lake/flights/month=7/", [7]),
        ("fabric://lake/flights/month=7", [7]),
        ("fabric://lake/flights/month=7/part-0.parquet", [7]),
        ("fabric://lake/flights/month=1*/*.parquet", [1, 10]),
    ],
)
def test_partition_column_is_kept(fab: skyfabric.Fabric, url: str, months: list[int]) -> None:
    table = fab.dataset(url).to_table()
    assert sorted(set(table.column("month").to_pylist())) == months
    assert table.num_rows == sum(months)
