"""The four-store "customer 360" view: flights on AWS S3 (moto), weather on an on-prem
MinIO-style endpoint (second moto), planes on GCS (fake-gcs-server), airlines on Azure Blob
(Azurite). It runs locally on DuckDB and must return what a pandas merge of the same data
returns; its Trino statements must parse with Trino's own grammar."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pyarrow.compute as pc
import pytest
from trino_query_parser import parse_statement
from views_data import flights_table, write_dataset

from skyfabric.fabric import Fabric
from skyfabric.views import View, ViewService, parquet

STORES = {"lake": "s3", "on-prem": "minio", "archive": "gcs", "features": "azure"}
PLACES = {"flights": "lake", "weather": "on-prem", "planes": "archive", "airlines": "features"}


def carrier_360(fab: Fabric) -> View:
    """Per carrier: flights, mean departure delay, mean seats of the planes flown, mean
    visibility at departure, over January and February 2013."""
    return (
        View("carrier_360", catalog="lake", schema="analytics", security="invoker",
             comment="flights x airlines x planes x weather, per carrier", fabric=fab)
        .from_("f", parquet("fabric://lake/flights/"))
        .join("a", parquet("fabric://features/airlines/"), keys="carrier")
        .join("p", parquet("fabric://archive/planes/"), keys="tailnum", how="left")
        .join("w", parquet("fabric://on-prem/weather/"), keys=["origin", "time_hour"], how="left")
        .where("f.month <= 2")
        .select("f.carrier", "a.name", flights="count(*)", avg_dep_delay="avg(f.dep_delay)",
                avg_seats="avg(p.seats)", avg_visib="avg(w.visib)")
        .group_by("f.carrier", "a.name")
    )


def expected() -> pd.DataFrame:
    tables = {name: flights_table(name).to_pandas() for name in PLACES}
    f = tables["flights"]
    merged = (
        f[f["month"] <= 2]
        .merge(tables["airlines"], on="carrier", how="inner")
        .merge(tables["planes"][["tailnum", "seats"]], on="tailnum", how="left")
        .merge(tables["weather"][["origin", "time_hour", "visib"]], on=["origin", "time_hour"], how="left")
    )
    return (merged.groupby(["carrier", "name"], as_index=False)
            .agg(flights=("carrier", "size"), avg_dep_delay=("dep_delay", "mean"),
                 avg_seats=("seats", "mean"), avg_visib=("visib", "mean")))


@pytest.fixture
def cloud_fabric(make_fabric: Callable[..., Fabric]) -> Fabric:
    fab = make_fabric(**STORES)
    for name, store in PLACES.items():
        write_dataset(fab, f"fabric://{store}/{name}/", flights_table(name))
    return fab


def test_customer_360_runs_locally_and_matches_pandas(cloud_fabric: Fabric) -> None:
    view = carrier_360(cloud_fabric)
    got = view.to_arrow().to_pandas().sort_values("carrier").reset_index(drop=True)
    want = expected().sort_values("carrier").reset_index(drop=True)
    assert len(got) == len(want) == 16
    assert got["flights"].sum() == 51955  # every flight of January (27,004) and February (24,951) 2013
    pd.testing.assert_frame_equal(got, want, check_dtype=False, check_exact=False, rtol=1e-9)
    # the same view through the service, kept in a session, and as polars
    service = ViewService(cloud_fabric)
    result = service.apply(view, engine="duckdb")
    assert result.to_arrow().num_rows == 16
    top = result.local.session.sql(
        'SELECT name FROM "lake"."analytics"."carrier_360" ORDER BY flights DESC LIMIT 1').fetchall()
    assert top == [("United Air Lines Inc.",)]
    assert service.to_polars(view).height == 16


def test_customer_360_trino_statements(cloud_fabric: Fabric) -> None:
    statements = carrier_360(cloud_fabric).trino_statements()
    for sql in statements:
        parse_statement(sql)  # Trino's own grammar
    creates = [s for s in statements if s.startswith("CREATE TABLE")]
    locations = sorted(s.split("external_location='", 1)[1].split("'", 1)[0] for s in creates)
    buckets = {name: cloud_fabric.store(name).root for name in STORES}
    assert locations == sorted([
        f"abfs://{buckets['features']}@devstoreaccount1.dfs.core.windows.net/airlines",
        f"gs://{buckets['archive']}/planes",
        f"s3://{buckets['lake']}/flights",
        f"s3://{buckets['on-prem']}/weather",
    ])
    assert statements[:2] == ["CREATE SCHEMA IF NOT EXISTS lake_hive.raw",
                              statements[1]]
    assert statements[1].startswith(
        "CREATE TABLE IF NOT EXISTS lake_hive.raw.flights (year BIGINT, month BIGINT, day BIGINT, "
        "dep_time DOUBLE, sched_dep_time BIGINT, dep_delay DOUBLE")
    assert statements[-1].startswith(
        "CREATE OR REPLACE VIEW lake.analytics.carrier_360 COMMENT 'flights x airlines x planes x "
        "weather, per carrier' SECURITY INVOKER AS SELECT f.carrier, a.name, COUNT(*) AS flights")
    assert "LEFT JOIN on_prem_hive.raw.weather AS w ON f.origin = w.origin AND f.time_hour = w.time_hour" in statements[-1]


def test_hive_partitioned_dataset(make_fabric: Callable[..., Fabric]) -> None:
    fab = make_fabric(archive="gcs")
    weather = flights_table("weather")
    for origin in ("EWR", "JFK", "LGA"):
        part = weather.filter(pc.equal(weather["origin"], origin)).drop(["origin"])
        write_dataset(fab, f"fabric://archive/weather/origin={origin}/", part, parts=1)
    view = (View("windy", catalog="archive", fabric=fab)
            .from_("w", parquet("fabric://archive/weather/"))
            .where("w.origin = 'JFK'", "w.wind_speed > 30")
            .select("w.origin", hours="count(*)").group_by("w.origin"))
    statements = view.trino_statements()
    for sql in statements:
        parse_statement(sql)
    table = statements[1]
    assert table.startswith("CREATE TABLE IF NOT EXISTS archive_hive.raw.weather (year BIGINT, ")
    assert "time_hour VARCHAR, origin VARCHAR) WITH (" in table  # the partition key comes last
    assert table.endswith(", format='PARQUET', partitioned_by=ARRAY['origin'])")
    assert statements[2] == ("CALL archive_hive.system.sync_partition_metadata(schema_name => 'raw', "
                             "table_name => 'weather', mode => 'ADD')")
    w = weather.to_pandas()
    assert view.to_arrow().to_pylist() == [
        {"origin": "JFK", "hours": int(((w["origin"] == "JFK") & (w["wind_speed"] > 30)).sum())}]
