"""Iceberg tables as view sources (the table layer, ``skyfabric.tables``): airlines on Azure,
planes on a MinIO-style endpoint, both in one SQLite catalog, joined with parquet flights on
S3; Trino names follow the store holding each table; pinned snapshots time-travel."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from trino_query_parser import parse_statement
from views_data import flights_table, write_dataset

import skyfabric
from skyfabric.views import UnknownSourceError, View, iceberg, parquet

tables = pytest.importorskip("skyfabric.tables", reason="the table layer (issue 4) is not installed")


@pytest.fixture
def lake(make_bucket: Callable[..., dict], tmp_path: Path) -> Any:
    config = {
        "stores": {"features": make_bucket("azure"), "on-prem": make_bucket("minio"), "lake": make_bucket("s3")},
        "catalog": {"uri": f"sqlite:///{tmp_path / 'catalog.db'}", "warehouse": "fabric://lake/warehouse"},
    }
    fab = tables.connect(config)
    fab.create_table("crm.airlines", flights_table("airlines"), location="fabric://features/wh/airlines")
    planes = flights_table("planes").select(["tailnum", "manufacturer", "seats"])
    fab.create_table("ops.planes", planes, location="fabric://on-prem/wh/planes")
    write_dataset(fab, "fabric://lake/flights/", flights_table("flights"), parts=1)
    return fab


def _view(fab: Any, airlines: Any) -> View:
    return (View("seats_by_airline", catalog="lake", schema="bi", fabric=fab)
            .from_("f", parquet("fabric://lake/flights/"))
            .join("a", airlines, keys="carrier")
            .join("p", iceberg("ops.planes"), keys="tailnum", how="left")
            .where("f.month = 1")
            .select("a.name", flights="count(*)", seats="sum(p.seats)")
            .group_by("a.name"))


def test_iceberg_sources_render_and_run(lake: Any) -> None:
    view = _view(lake, iceberg("crm.airlines"))
    statements = view.trino_statements()
    for sql in statements:
        parse_statement(sql)
    assert len(statements) == 3  # Hive schema + table for the parquet flights, then the view
    assert ("FROM lake_hive.raw.flights AS f INNER JOIN features.crm.airlines AS a ON f.carrier = a.carrier "
            "LEFT JOIN on_prem.ops.planes AS p ON f.tailnum = p.tailnum") in statements[-1]
    got = {r["name"]: (r["flights"], r["seats"] or 0) for r in view.to_arrow().to_pylist()}
    f = flights_table("flights").to_pandas()
    f = f[f["month"] == 1].merge(flights_table("airlines").to_pandas(), on="carrier").merge(
        flights_table("planes").to_pandas()[["tailnum", "seats"]], on="tailnum", how="left")
    want = {name: (len(g), int(g["seats"].sum())) for name, g in f.groupby("name")}
    assert got == want


def test_pinned_snapshot_time_travels(lake: Any) -> None:
    airlines = lake.table("crm.airlines")
    first = airlines.current_snapshot().snapshot_id
    airlines.append(pa.table({"carrier": ["ZZ"], "name": ["Zeppelin Air"]}))
    pinned = View("old_airlines", catalog="features", fabric=lake).from_("a", iceberg("crm.airlines", snapshot_id=first))
    sql = pinned.to_trino()
    parse_statement(sql)
    assert sql == f"CREATE OR REPLACE VIEW features.views.old_airlines AS SELECT * FROM features.crm.airlines FOR VERSION AS OF {first} AS a"
    assert pinned.to_arrow().num_rows == 16
    current = View("airlines", catalog="features", fabric=lake).from_("a", iceberg("crm.airlines"))
    assert current.to_arrow().num_rows == 17


def test_from_sql_binds_iceberg_tables_by_catalog(lake: Any) -> None:
    view = View.from_sql(
        "CREATE OR REPLACE VIEW features.bi.big_planes AS "
        "SELECT manufacturer, count(*) AS planes FROM on_prem.ops.planes WHERE seats > 200 GROUP BY manufacturer",
        fabric=lake)
    rows = {r["manufacturer"]: r["planes"] for r in view.to_arrow().to_pylist()}
    planes = flights_table("planes").to_pandas()
    assert rows == planes[planes["seats"] > 200].groupby("manufacturer").size().to_dict()
    with pytest.raises(UnknownSourceError, match=r"iceberg ops\.nope"):
        View.from_sql("SELECT * FROM on_prem.ops.nope", name="x", fabric=lake).to_trino()


def test_plain_fabric_reaches_the_table_layer(lake: Any) -> None:
    plain = skyfabric.connect(lake.config)
    view = View("n", catalog="features", fabric=plain).from_("a", iceberg("crm.airlines")).select(n="count(*)")
    assert view.to_arrow().to_pylist() == [{"n": 16}]
