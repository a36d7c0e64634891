"""Tables whose folders overlap: gc and purge never take another table's files, create_table
refuses overlapping locations, and register_parquet records where its files live."""

from __future__ import annotations

import json
from typing import Any

import pyarrow.parquet as pq
import pytest
from tables_data import readings

from skyfabric.tables import TableError
from skyfabric.tables._datasets import EXTERNAL_ROOTS_PROPERTY, external_roots
from skyfabric.tables._relocate import ROOTS_PROPERTY


def _legacy_table(fab: Any, name: str, location: str, rows: int = 5) -> Any:
    """A table created straight through pyiceberg (as before create_table refused overlaps)."""
    service = fab._table_service
    ns, short = name.split(".")
    service.create_namespace(ns)
    service.catalog.create_table((ns, short), readings(0, 1).schema,
                                 location=service.native(location),
                                 properties={"skyfabric.store": "lake"})
    table = fab.table(name)
    table.append(readings(0, rows))
    return table


def _fab(fab: Any, urls: list[str]) -> list[str]:
    return [fab._table_service.fabric_url(u) for u in urls]


def _under(fab: Any, urls: list[str], location: str) -> list[str]:
    return [u for u in _fab(fab, urls) if u.startswith(location.rstrip("/") + "/")]


def test_gc_leaves_a_nested_table_alone(local_lake: Any) -> None:
    fab = local_lake
    outer = _legacy_table(fab, "wh.outer", "fabric://lake/wh/a")
    inner = _legacy_table(fab, "wh.inner", "fabric://lake/wh/a/b")
    orphan = "fabric://lake/wh/a/data/orphan.parquet"
    fab.fs.pipe(orphan, b"junk")
    inner_files = set(fab.fs.find("fabric://lake/wh/a/b"))
    assert inner_files

    dry = outer.gc(older_than="0s", dry_run=True)
    assert _under(fab, dry.files, "fabric://lake/wh/a/b") == []
    assert _fab(fab, dry.files) == [orphan]
    assert outer.gc(older_than="0s").files == dry.files
    assert set(fab.fs.find("fabric://lake/wh/a/b")) == inner_files
    assert inner.count() == 5 and outer.count() == 5

    # the inner table's gc lies wholly inside the outer's folder: it deletes nothing there
    fab.fs.pipe("fabric://lake/wh/a/b/data/orphan.parquet", b"junk")
    assert inner.gc(older_than="0s", dry_run=True).files == []


def test_gc_and_purge_of_a_table_inside_another(local_lake: Any) -> None:
    fab = local_lake
    outer = _legacy_table(fab, "wh.outer", "fabric://lake/wh/x")
    inner = _legacy_table(fab, "wh.inner", "fabric://lake/wh/x/data/inner")
    inner_files = set(fab.fs.find("fabric://lake/wh/x/data/inner"))
    # inner lies inside outer's data folder, so inner.gc would list outer's files there
    assert inner.gc(older_than="0s", dry_run=True).files == []
    assert _under(fab, outer.gc(older_than="0s", dry_run=True).files,
                  "fabric://lake/wh/x/data/inner") == []
    fab.drop_table("wh.outer", purge=True)
    assert set(fab.fs.find("fabric://lake/wh/x/data/inner")) == inner_files
    assert inner.count() == 5


def test_gc_of_tables_sharing_a_location(local_lake: Any) -> None:
    fab = local_lake
    one = _legacy_table(fab, "wh.one", "fabric://lake/wh/same")
    two = _legacy_table(fab, "wh.two", "fabric://lake/wh/same", rows=7)
    assert one.gc(older_than="0s").files == [] and two.gc(older_than="0s").files == []
    assert (one.count(), two.count()) == (5, 7)


@pytest.mark.xdist_group("servers")
def test_gc_skips_another_table_under_a_relocated_root(lake: Any) -> None:
    hot = lake.create_table("ev.d", readings(0, 5), location="fabric://lake/hot/ev/d")
    cold = lake.create_table("cold.d", readings(0, 6), location="fabric://lake/cold/warehouse/ev/d")
    root = lake._table_service.native("fabric://lake/cold/warehouse/ev")  # contains cold.d
    with hot.iceberg.transaction() as tx:
        tx.set_properties({ROOTS_PROPERTY: json.dumps([root])})
    stray = "fabric://lake/cold/warehouse/ev/moved/orphan.parquet"
    lake.fs.pipe(stray, b"junk")
    cold_files = set(lake.fs.find(cold.location))

    dry = hot.gc(older_than="0s", dry_run=True)
    assert _fab(lake, dry.files) == [stray]
    hot.gc(older_than="0s")
    assert set(lake.fs.find(cold.location)) == cold_files and cold.count() == 6
    assert not lake.fs.exists(stray)


@pytest.mark.parametrize(("first", "second", "how"), [
    ("fabric://lake/t/a", "fabric://lake/t/a/b", "lies inside"),
    ("fabric://lake/t/a", "fabric://lake/t/a", "is the location of"),
    ("fabric://lake/t/a/b", "fabric://lake/t/a", "contains"),
])
def test_create_table_refuses_overlapping_locations(local_lake: Any, first: str, second: str,
                                                    how: str) -> None:
    local_lake.create_table("ns.first", readings(0, 2), location=first)
    with pytest.raises(TableError) as err:
        local_lake.create_table("ns.second", readings(0, 2), location=second)
    message = str(err.value)
    assert "'ns.first'" in message and how in message and "fix:" in message
    assert "ns.second" not in local_lake._table_service.table_names()


def test_create_table_overlap_checks_defaults_and_allows_siblings(local_lake: Any) -> None:
    local_lake.create_table("ns.a", readings(0, 2), location="fabric://lake/t/a")
    local_lake.create_table("ns.ab", readings(0, 2), location="fabric://lake/t/ab")  # sibling
    local_lake.create_table("ns.a", readings(0, 2), location="fabric://lake/t/a", exist_ok=True)
    local_lake.create_table("sensors.t", readings(0, 2))  # warehouse default
    with pytest.raises(TableError, match=r"'sensors\.t'"):
        local_lake.create_table("x.y", readings(0, 2), location="fabric://lake/warehouse/sensors")
    _legacy_table(local_lake, "deep.x", "fabric://lake/warehouse/deep/t/x")
    with pytest.raises(TableError, match=r"'deep\.x'"):  # the default location contains it
        local_lake.create_table("deep.t", readings(0, 2))


def test_register_parquet_records_external_roots(local_lake: Any) -> None:
    fab = local_lake
    for i in range(3):
        with fab.fs.open(f"fabric://lake/drop/part-{i}.parquet", "wb") as fh:
            pq.write_table(readings(10 * i, 10), fh)
    with fab.fs.open("fabric://lake/other/part-9.parquet", "wb") as fh:
        pq.write_table(readings(90, 10), fh)
    native = fab._table_service.native

    prefix = fab.register_parquet("raw.prefix", "fabric://lake/drop/")
    assert external_roots(prefix.iceberg) == [native("fabric://lake/drop")]
    assert json.loads(prefix.properties[EXTERNAL_ROOTS_PROPERTY]) == [native("fabric://lake/drop")]
    one = fab.register_parquet("raw.one", "fabric://lake/drop/part-0.parquet")
    assert external_roots(one.iceberg) == [native("fabric://lake/drop/part-0.parquet")]
    glob = fab.register_parquet("raw.glob", "fabric://lake/drop/part-[12].parquet")
    assert external_roots(glob.iceberg) == [native("fabric://lake/drop")]
    again = fab.register_parquet("raw.one", "fabric://lake/other", exist_ok=True)
    assert external_roots(again.iceberg) == [native("fabric://lake/drop/part-0.parquet"),
                                             native("fabric://lake/other")]
    assert again.count() == 20
    plain = fab.create_table("raw.plain", readings(0, 1))
    assert external_roots(plain.iceberg) == []


def test_registered_files_inside_the_table_location_are_never_deleted(local_lake: Any) -> None:
    fab = local_lake
    registered = "fabric://lake/raw/t/in/part-0.parquet"
    with fab.fs.open(registered, "wb") as fh:
        pq.write_table(readings(0, 20), fh)
    t = fab.register_parquet("raw.t", "fabric://lake/raw/t/in", location="fabric://lake/raw/t")
    t.delete("id < 10")  # rewrites the registered file into the table's data folder
    expired = t.expire_snapshots(older_than=0)
    assert _fab(fab, expired.kept_outside) == [registered]
    assert fab.fs.exists(registered)
    assert registered not in _fab(fab, t.gc(older_than="0s").files)
    assert fab.fs.exists(registered) and t.count() == 10
    fab.drop_table("raw.t", purge=True)
    assert fab.fs.exists(registered)
