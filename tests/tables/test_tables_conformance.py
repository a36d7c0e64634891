"""The table suite every store kind passes: the same tests on moto S3, the MinIO-style S3
endpoint, fake-gcs-server, Azurite, local disk and memory (``lake`` is parametrized)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tables_data import readings, sorted_rows

from skyfabric.errors import UnknownStoreError
from skyfabric.tables import SnapshotNotFoundError
from skyfabric.tables._maintenance import referenced_files

pytestmark = pytest.mark.xdist_group("servers")


def _keys(lake: Any, urls: Any) -> set[str]:
    """fabric keys (``lake/warehouse/...``) of native URLs."""
    service = lake._table_service
    return {service.fabric_url(u).removeprefix("fabric://") for u in urls}


def test_create_partitioned_append_and_every_output(lake: Any) -> None:
    pl = pytest.importorskip("polars")
    t = lake.create_table("sensors.telemetry", readings(0, 40),
                          partition_by=["month(ts)", "bucket(2, id)"])
    assert t.partitioning == ["month(ts)", "bucket(2, id)"]
    assert (t.store, t.location) == ("lake", "fabric://lake/warehouse/sensors/telemetry")
    t.append(readings(40, 20))
    expected = sorted_rows(pa.concat_tables([readings(0, 40), readings(40, 20)]))

    # files really are on the store, under the table location
    files = t.scan().files()
    assert len(files) >= 2
    assert _keys(lake, files) <= {k.removeprefix("fabric://") for k in
                                  lake.fs.find("fabric://lake/warehouse/sensors/telemetry/data")}

    assert sorted_rows(t.to_arrow()) == expected
    reader = t.to_batches()
    assert isinstance(reader, pa.RecordBatchReader)
    assert sum(b.num_rows for b in reader) == 60
    lazy = t.to_polars()
    assert isinstance(lazy, pl.LazyFrame)
    oslo = lazy.filter(pl.col("site") == "oslo").select("id").collect()["id"].sort().to_list()
    assert oslo == [r["id"] for r in expected if r["site"] == "oslo"]
    assert lazy.head(5).collect().height == 5
    assert len(t.to_pandas()) == 60
    con = t.to_duckdb("readings")
    assert con.sql("select count(*), sum(id) from readings").fetchall() == [(60, sum(range(60)))]

    picked = t.scan("site = 'oslo' and id >= 10", columns=["id", "temp"]).to_arrow()
    assert picked.column_names == ["id", "temp"]
    assert sorted_rows(picked) == [{"id": r["id"], "temp": r["temp"]} for r in expected
                                   if r["site"] == "oslo" and r["id"] >= 10]
    assert t.count("id < 10") == 10
    assert lake.table("sensors.telemetry").count() == 60  # a fresh handle sees the same


def test_overwrite_delete_and_upsert(lake: Any) -> None:
    t = lake.create_table("sensors.state", readings(0, 20), key=["id"])
    rows = {r["id"]: r for r in readings(0, 20).to_pylist()}

    t.overwrite(readings(0, 5, site="x"), "id < 5")
    rows.update({r["id"]: r for r in readings(0, 5, site="x").to_pylist()})
    assert sorted_rows(t.to_arrow()) == [rows[k] for k in sorted(rows)]

    t.delete("site = 'lima'")
    rows = {k: r for k, r in rows.items() if r["site"] != "lima"}
    assert sorted_rows(t.to_arrow()) == [rows[k] for k in sorted(rows)]

    changes = pa.concat_tables([readings(3, 1, site="moved"), readings(100, 2)])
    result = t.upsert(changes)  # on the table's key (identifier field) id
    assert (result.updated, result.inserted) == (1, 2)
    rows.update({r["id"]: r for r in changes.to_pylist()})
    assert sorted_rows(t.to_arrow()) == [rows[k] for k in sorted(rows)]

    only_update = t.upsert(readings(100, 3, site="again"), on=["id"], insert=False)
    assert (only_update.updated, only_update.inserted) == (2, 0)
    assert t.count() == len(rows)
    assert t.count("site = 'again'") == 2


def test_schema_and_partition_evolution(lake: Any) -> None:
    first = readings(0, 8).append_column("level", pa.array(range(8), pa.int32()))
    t = lake.create_table("sensors.evolving", first, partition_by=["site"])
    t.add_column("humidity", "double")
    t.rename_column("temp", "temperature")
    t.widen_column("level", "long")
    second = readings(8, 4).rename_columns(["id", "site", "ts", "temperature"]) \
        .append_column("battery", pa.array([3.5, 3.4, 3.3, 3.2]))
    t.append(second, evolve=True)  # adds battery
    t.union_by_name(pa.schema([("note", pa.string())]))
    t.partition_by("bucket(2, id)", drop=["site"])
    t.append(readings(12, 4).rename_columns(["id", "site", "ts", "temperature"]))

    schema = t.schema
    assert [f.name for f in schema.fields] == ["id", "site", "ts", "temperature", "level",
                                                "humidity", "battery", "note"]
    assert str(schema.find_field("level").field_type) == "long"
    assert t.partitioning == ["bucket(2, id)"]
    got = {r["id"]: r for r in t.to_arrow().to_pylist()}
    assert len(got) == 16
    assert got[3]["temperature"] == readings(3, 1)["temp"][0].as_py()  # renamed, same data
    assert got[3]["level"] == 3 and got[3]["humidity"] is None and got[3]["battery"] is None
    assert got[9]["battery"] == 3.4 and got[9]["level"] is None
    assert got[13]["note"] is None
    assert t.count("site = 'oslo'") == 4  # old identity-partitioned + new bucketed files


def test_time_travel_returns_exact_rows(lake: Any) -> None:
    t = lake.create_table("sensors.travel", readings(0, 10), key=["id"])
    steps = [lambda: None, lambda: t.append(readings(10, 10)),
             lambda: t.delete("id >= 15 or id < 2"), lambda: t.upsert(readings(5, 2, site="x"))]
    states, instants, ids = [], [], []
    for step in steps:
        step()
        states.append(sorted_rows(t.to_arrow()))
        ids.append(t.current_snapshot().snapshot_id)
        time.sleep(0.01)  # commit timestamps are milliseconds
        instants.append(datetime.now(UTC))
        time.sleep(0.01)

    for state, snapshot_id, instant in zip(states, ids, instants, strict=True):
        assert sorted_rows(t.scan(snapshot_id=snapshot_id).to_arrow()) == state
        assert sorted_rows(t.scan(as_of=instant).to_arrow()) == state
        assert t.snapshot_at(as_of=instant.isoformat()).snapshot_id == snapshot_id
    assert [s.snapshot_id for s in t.history()][-1] == ids[-1] and t.history()[-1].current
    with pytest.raises(SnapshotNotFoundError, match="did not exist yet"):
        t.scan(as_of="2001-01-01T00:00:00Z")
    with pytest.raises(SnapshotNotFoundError, match="no snapshot 12345"):
        t.scan(snapshot_id=12345)


def test_expire_and_gc_remove_exactly_the_unreferenced_files(lake: Any) -> None:
    t = lake.create_table("sensors.maint", readings(0, 10))
    t.append(readings(10, 10))
    t.delete("id < 5")
    t.overwrite(readings(100, 5), "id >= 15")
    current = sorted_rows(t.to_arrow())
    orphans = [f"{t.location}/data/orphan-from-failed-commit.parquet",
               f"{t.location}/metadata/orphan-manifest.avro"]
    for url in orphans:
        lake.fs.pipe(url, b"junk")

    before = set(lake.fs.find(t.location))
    n_snaps = len(t.snapshots())
    dry = t.expire_snapshots(older_than=0, retain_last=2, dry_run=True)
    assert dry.dry_run and dry.snapshot_ids and dry.files
    assert set(lake.fs.find(t.location)) == before and len(t.snapshots()) == n_snaps

    real = t.expire_snapshots(older_than=0, retain_last=2)
    assert (real.snapshot_ids, real.files) == (dry.snapshot_ids, dry.files)
    assert len(t.snapshots()) == n_snaps - len(real.snapshot_ids) >= 2
    after = set(lake.fs.find(t.location))
    assert before - after == _keys(lake, real.files)
    assert after - before == _keys(lake, [t.iceberg.metadata_location])  # the expire commit

    assert t.gc(dry_run=True).files == []  # default grace period keeps young orphans
    gdry = t.gc(older_than=0, dry_run=True)
    assert _keys(lake, gdry.files) >= {u.removeprefix("fabric://") for u in orphans}
    gone = t.gc(older_than=0)
    assert gone.files == gdry.files
    remaining = set(lake.fs.find(t.location))
    assert remaining == _keys(lake, referenced_files(t.iceberg).values())  # nothing else left
    assert sorted_rows(t.to_arrow()) == current
    oldest = t.snapshots()[0]
    assert t.scan(snapshot_id=oldest.snapshot_id).count() == oldest.records


def test_register_parquet_and_lake_listing(lake: Any) -> None:
    for month, start in ((1, 0), (2, 50)):
        with lake.fs.open(f"fabric://lake/raw/flights/month={month}/part-0.parquet", "wb") as fh:
            pq.write_table(readings(start, 50), fh)
    with lake.fs.open("fabric://lake/exports/summary.csv", "wb") as fh:
        fh.write(b"site,n\noslo,3\n")
    lake.create_table("sensors.listed", readings(0, 5))

    t = lake.register_parquet("raw.flights", "fabric://lake/raw/flights")
    assert t.count() == 100
    assert _keys(lake, t.scan().files()) == {"lake/raw/flights/month=1/part-0.parquet",
                                             "lake/raw/flights/month=2/part-0.parquet"}

    entries = {e.name: e for e in lake.datasets()}
    assert entries["sensors.listed"].kind == "iceberg" and entries["sensors.listed"].rows == 5
    assert entries["raw.flights"].rows == 100 and entries["raw.flights"].store == "lake"
    flights = entries["fabric://lake/raw/flights"]
    assert (flights.kind, flights.files, flights.store) == ("parquet", 2, "lake")
    assert flights.bytes > 0 and flights.last_modified is not None
    assert entries["fabric://lake/exports"].kind == "csv"
    assert not [n for n in entries if n.startswith("fabric://lake/warehouse")]
    assert {e.name for e in lake.datasets(store="lake")} == set(entries)
    with pytest.raises(UnknownStoreError):
        lake.datasets(store="nope")

    t.delete("id < 10")  # rewrites part of month=1 into the table location
    result = t.expire_snapshots(older_than=0)
    assert any("raw/flights/month=1" in u for u in result.kept_outside)
    assert lake.fs.exists("fabric://lake/raw/flights/month=1/part-0.parquet")  # never ours
    assert t.count() == 90


def test_credentials_never_reach_catalog_or_metadata(lake: Any, fresh_store_config: dict,
                                                      tmp_path: Path) -> None:
    t = lake.create_table("sensors.secret", readings(0, 5))
    t.append(readings(5, 5))
    secrets = [os.environ[v] for k, v in fresh_store_config.items() if k.endswith("_env")]
    blobs = [(tmp_path / "catalog.db").read_bytes()]
    blobs += [lake.fs.cat(p) for p in lake.fs.find(f"{t.location}/metadata") if p.endswith(".json")]
    for secret in secrets:
        for part in [secret, *secret.split(";")]:
            if len(part) >= 6:
                assert not any(part.encode() in blob for blob in blobs)
    assert not [k for k in t.properties if k.startswith(("s3.", "gcs.", "adls.", "client."))]
