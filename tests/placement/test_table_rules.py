"""Table rules on the real servers: a partition rule moves a table's cold data files to
another store in a new snapshot; scans and time travel return the same rows; snapshot expiry
frees the hot copies; object rules never move a table's files; offline classes are refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import skyfabric
from skyfabric.placement import Placement, RuleError

pytestmark = pytest.mark.xdist_group("servers")

TABLE = "sensors.telemetry"
RULE = {"name": "cold-months", "table": TABLE, "partition": "month <= 2", "target": "cold"}


def month(m: int, n: int = 40) -> pa.Table:
    start = m * 1000
    return pa.table(
        {
            "id": pa.array(range(start, start + n), pa.int64()),
            "month": pa.array([m] * n, pa.int32()),
            "temp": pa.array([0.5 * i for i in range(n)], pa.float64()),
        }
    )


def config(hot: dict, cold: dict, tmp_path: Path) -> dict[str, Any]:
    return {
        "stores": {"hot": hot, "cold": cold},
        "catalog": {
            "kind": "sql",
            "uri": f"sqlite:///{tmp_path / 'catalog.db'}",
            "warehouse": "fabric://hot/warehouse",
        },
    }


def make_table(fab: Any) -> Any:
    table = fab.create_table(TABLE, month(1), partition_by=["month"])
    table.append(month(2))
    table.append(month(3))
    return table


def rows(table: Any, **at: Any) -> list[dict]:
    return table.to_arrow(**at).sort_by("id").to_pylist()


def snapshot_rows(table: Any) -> dict[int, list[dict]]:
    return {s.snapshot_id: rows(table, snapshot_id=s.snapshot_id) for s in table.snapshots()}


def files_by_month(table: Any) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for f in table.data_files():
        out.setdefault(f.partition["month"], []).append(f.path)
    return out


def native_root(fab: Any, store: str) -> str:
    return fab._table_service.native(f"fabric://{store}/warehouse")


@pytest.mark.parametrize(
    "kinds",
    [("local", "minio"), ("s3", "gcs"), ("minio", "azure"), ("azure", "local")],
    ids=lambda k: "-".join(k),
)
def test_partition_rule_moves_files_and_keeps_time_travel(
    kinds: tuple[str, str], make_bucket: Callable[..., dict], tmp_path: Path
) -> None:
    fab = skyfabric.connect(config(make_bucket(kinds[0]), make_bucket(kinds[1]), tmp_path))
    table = make_table(fab)
    before_rows, before_snaps = rows(table), snapshot_rows(table)
    before_files = files_by_month(table)
    placement = Placement(fab, {"rules": [RULE]}, state_dir=tmp_path / "state")

    plan = placement.plan()
    moved = sorted(p for m in (1, 2) for p in before_files[m])
    assert sorted(fab._table_service.native(m.src) for m in plan.moves) == moved
    assert {m.action for m in plan.moves} == {"table"}
    assert all(m.table == TABLE and "kept_for_time_travel" in m.flags for m in plan.moves)
    assert "(table sensors.telemetry)" in plan.render()

    result = placement.apply(plan)
    assert result.ok, result.failed
    assert len(result.done) == len(moved) and result.bytes_moved == plan.bytes

    table = fab.table(TABLE)
    assert rows(table) == before_rows  # the new snapshot reads the same rows
    for snap_id, expected in before_snaps.items():  # and so does every earlier one
        assert rows(table, snapshot_id=snap_id) == expected
    assert len(table.snapshots()) == len(before_snaps) + 1
    after = files_by_month(table)
    cold, hot = native_root(fab, "cold"), native_root(fab, "hot")
    assert all(p.startswith(cold + "/") for m in (1, 2) for p in after[m])
    assert after[3] == before_files[3]
    for path in after[1] + after[2]:  # the moved files really are on the cold store
        assert fab.fs.exists(fab._table_service.fabric_url(path))
    for path in moved:  # the originals stay for the earlier snapshots
        assert fab.fs.exists(fab._table_service.fabric_url(path))
    assert {r["action"] for r in placement.log()} == {"table"}

    assert placement.plan().moves == []  # nothing left to move
    again = placement.apply()
    assert again.ok and again.done == []

    # Expiring the earlier snapshots frees the hot copies; the cold ones stay in use.
    expired = table.expire_snapshots(older_than="0s", retain_last=1)
    assert set(moved) <= set(expired.files) and not expired.kept_outside
    for path in moved:
        assert not fab.fs.exists(fab._table_service.fabric_url(path))
    assert rows(fab.table(TABLE)) == before_rows
    gc = fab.table(TABLE).gc(older_than="0s")
    assert not any(f.startswith(cold) for f in gc.files)
    assert rows(fab.table(TABLE)) == before_rows
    assert hot != cold


def test_object_rules_skip_table_files(make_bucket: Callable[..., dict], tmp_path: Path) -> None:
    fab = skyfabric.connect(config(make_bucket("local"), make_bucket("local"), tmp_path))
    make_table(fab)
    fab.fs.pipe_file("fabric://hot/logs/a.txt", b"not a table file")
    rule = {"name": "everything", "match": "fabric://hot/**", "target": "cold"}
    placement = Placement(fab, {"rules": [rule]}, state_dir=tmp_path / "state")
    plan = placement.plan()
    assert [m.src for m in plan.moves] == ["fabric://hot/logs/a.txt"]
    reasons = {s["reason"] for s in plan.skipped}
    assert len(plan.skipped) > 3 and all(TABLE in r and "table =" in r for r in reasons)
    assert placement.apply(plan).ok
    assert fab.table(TABLE).count() == 120


def test_table_rule_errors(make_bucket: Callable[..., dict], tmp_path: Path) -> None:
    fab = skyfabric.connect(config(make_bucket("local"), make_bucket("local"), tmp_path))
    make_table(fab)

    def placement(**rule: Any) -> Placement:
        return Placement(fab, {"rules": [{**RULE, **rule}]}, state_dir=tmp_path / "s")

    with pytest.raises(RuleError, match="exactly one of `match`"):
        placement(match="fabric://hot/**")
    with pytest.raises(RuleError, match=r"not `namespace\.name`"):
        placement(table="telemetry")
    with pytest.raises(RuleError, match="is not a row filter"):
        placement(partition="month <=")
    with pytest.raises(RuleError, match="never go offline"):
        placement(target=None, storage_class="DEEP_ARCHIVE")
    with pytest.raises(RuleError, match="tags"):
        placement(tags={"tier": "hot"})
    with pytest.raises(RuleError, match=r"no table 'sensors\.telemtry'"):
        placement(table="sensors.telemtry").plan()
    with pytest.raises(RuleError, match=r"partition.*nope"):
        placement(partition="nope < 3").plan()


def test_offline_target_store_refused_for_table_files(
    make_bucket: Callable[..., dict], tmp_path: Path
) -> None:
    cold = {**make_bucket("s3"), "storage_class": "DEEP_ARCHIVE"}
    fab = skyfabric.connect(config(make_bucket("local"), cold, tmp_path))
    make_table(fab)
    plan = Placement(fab, {"rules": [RULE]}, state_dir=tmp_path / "s").plan()
    assert plan.moves == []
    assert plan.skipped and all("never go offline" in s["reason"] for s in plan.skipped)


KILL_SCRIPT = """
import json, sys, skyfabric
from skyfabric.placement import Placement
cfg, state, rule = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
fab = skyfabric.connect(cfg)
print(Placement(fab, {"rules": [rule]}, state_dir=state).apply().to_dict())
"""


@pytest.mark.parametrize("point", ["after_copy@2", "after_journal", "after_commit"])
def test_killed_table_move_is_finished_by_rerun(
    point: str, make_bucket: Callable[..., dict], tmp_path: Path
) -> None:
    cfg = config(make_bucket("minio"), make_bucket("local"), tmp_path)
    fab = skyfabric.connect(cfg)
    table = make_table(fab)
    before_rows, before_snaps = rows(table), snapshot_rows(table)
    state = tmp_path / "state"
    args = [sys.executable, "-c", KILL_SCRIPT, json.dumps(cfg), str(state), json.dumps(RULE)]
    env = {**os.environ, "SKYFABRIC_PLACEMENT_CRASH_AT": point}
    killed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == 137, killed.stderr
    rerun = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "'ok': True" in rerun.stdout

    table = fab.table(TABLE)
    assert rows(table) == before_rows
    for snap_id, expected in before_snaps.items():
        assert rows(table, snapshot_id=snap_id) == expected
    files = files_by_month(table)
    cold = native_root(fab, "cold")
    assert all(p.startswith(cold + "/") for m in (1, 2) for p in files[m])
    # Exactly one relocation snapshot, and no stray copies on the cold store.
    assert len(table.snapshots()) == len(before_snaps) + 1
    listed = {
        fab._table_service.native("fabric://" + u.removeprefix("fabric://"))
        for u in fab.fs.find_all("fabric://cold/")
    }
    assert listed == {p for m in (1, 2) for p in files[m]}
    assert Placement(fab, {"rules": [RULE]}, state_dir=state).status()["in_flight"] == []


def test_expiry_removes_relocated_files_no_snapshot_needs(
    make_bucket: Callable[..., dict], tmp_path: Path
) -> None:
    fab = skyfabric.connect(config(make_bucket("local"), make_bucket("minio"), tmp_path))
    table = make_table(fab)
    placement = Placement(fab, {"rules": [RULE]}, state_dir=tmp_path / "state")
    assert placement.apply(placement.plan()).ok
    cold_month1 = files_by_month(fab.table(TABLE))[1]
    table = fab.table(TABLE)
    table.overwrite(month(1, n=5), "month = 1")  # the relocated month-1 file leaves the table
    expired = table.expire_snapshots(older_than="0s", retain_last=1)
    assert set(cold_month1) <= set(expired.files) and not expired.kept_outside
    for path in cold_month1:
        assert not fab.fs.exists(fab._table_service.fabric_url(path))
    assert fab.table(TABLE).count() == 5 + 40 + 40
    assert fab.table(TABLE).gc(older_than="0s").files == []  # nothing orphaned anywhere


def test_age_of_time_partitions_is_their_time_range(
    make_bucket: Callable[..., dict], tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    fab = skyfabric.connect(config(make_bucket("local"), make_bucket("local"), tmp_path))
    days = [datetime(2026, 1, 10, 12, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)]
    data = pa.table(
        {
            "ts": pa.array(days * 5, pa.timestamp("us", tz="UTC")),
            "v": pa.array(range(10), pa.int64()),
        }
    )
    fab.create_table("sensors.daily", data, partition_by=["day(ts)"])  # written just now
    rule = {"name": "old-days", "table": "sensors.daily", "older_than": "180d", "target": "cold"}
    placement = Placement(fab, {"rules": [rule]}, state_dir=tmp_path / "s")
    now = datetime(2026, 8, 1, tzinfo=UTC).timestamp()  # Jan 10 is 203 days back, Jun 1 is 61
    plan = placement.plan(now=now)
    assert [m.src.rsplit("/", 2)[-2] for m in plan.moves] == ["ts_day=2026-01-10"]
    assert placement.apply(plan).ok
    assert fab.table("sensors.daily").to_arrow().sort_by("v").equals(data.sort_by("v"))


def test_residency_applies_to_table_moves(make_bucket: Callable[..., dict], tmp_path: Path) -> None:
    from skyfabric.placement import ResidencyError

    hot = {**make_bucket("local"), "region": "eu-west-1"}
    cold = {**make_bucket("local"), "region": "us-east-1"}
    fab = skyfabric.connect(config(hot, cold, tmp_path))
    make_table(fab)
    residency = [{"match": "fabric://hot/warehouse/sensors/**", "regions": ["eu"]}]
    placement = Placement(fab, {"rules": [RULE], "residency": residency}, state_dir=tmp_path / "s")
    with pytest.raises(ResidencyError, match="us-east-1"):
        placement.plan()


@pytest.mark.parametrize("kind", ["local", "minio"])
def test_stores_sharing_a_parent_or_bucket_keep_moved_files_apart(
    kind: str, make_bucket: Callable[..., dict], tmp_path: Path
) -> None:
    """Found by a new user: a table's home store claimed files moved to a sibling store
    (same parent directory, or same bucket with another prefix)."""
    base = make_bucket(kind)
    hot, cold, colder = ({**base, "prefix": p} for p in ("hot", "cold", "colder"))
    fab = skyfabric.connect(
        config(hot, cold, tmp_path) | {"stores": {"hot": hot, "cold": cold, "colder": colder}}
    )
    table = make_table(fab)
    before = rows(table)
    placement = Placement(fab, {"rules": [RULE]}, state_dir=tmp_path / "s")
    assert placement.apply(placement.plan()).ok
    assert placement.plan().moves == []  # moved files are recognised as the cold store's
    urls = [
        fab._table_service.fabric_url(f.path) for f in fab.table(TABLE).data_files("month <= 2")
    ]
    assert urls and all(u.startswith("fabric://cold/warehouse/") for u in urls)
    # An object rule over the cold store must not move the table's relocated files.
    grab = {"name": "grab", "match": "fabric://cold/**", "target": "colder"}
    plan = Placement(fab, {"rules": [grab]}, state_dir=tmp_path / "s2").plan()
    assert plan.moves == [] and len(plan.skipped) == len(urls)
    assert rows(fab.table(TABLE)) == before
    names = {d.name for d in fab.datasets()}
    assert not any("cold" in n for n in names if n != TABLE), names


def test_file_replaced_after_the_plan_is_rolled_back_once(
    make_bucket: Callable[..., dict], tmp_path: Path
) -> None:
    fab = skyfabric.connect(config(make_bucket("local"), make_bucket("s3"), tmp_path))
    table = make_table(fab)
    placement = Placement(fab, {"rules": [RULE]}, state_dir=tmp_path / "s")
    plan = placement.plan()
    table.overwrite(month(1, n=7), "month = 1")  # a writer replaces month 1 after the plan
    result = placement.apply(plan)
    assert len(result.failed) == 1 and "no longer has" in next(iter(result.failed.values()))
    assert len(result.done) == 1
    again = placement.apply()  # the rolled-back move is over, not retried by every apply
    assert again.ok and again.recovered == [] and len(again.done) == 1  # the new month-1 file
    status = placement.status()
    assert status["in_flight"] == [] and [f["retried"] for f in status["failed"]] == [False]
    cold_files = sorted(fab.fs.find_all("fabric://cold/"))
    # the first month-1 copy was removed; the rewritten month-1 file moved in the new plan
    assert len(cold_files) == 2 and "month=1" in cold_files[0] and "month=2" in cold_files[1]
    assert fab.table(TABLE).count() == 7 + 40 + 40
    assert placement.plan().moves == []


def test_partition_filter_on_a_non_partition_column_is_an_error(
    make_bucket: Callable[..., dict], tmp_path: Path
) -> None:
    fab = skyfabric.connect(config(make_bucket("local"), make_bucket("local"), tmp_path))
    make_table(fab)
    rule = {**RULE, "partition": "temp > 3"}
    with pytest.raises(RuleError, match=r"names no partition source column.*month"):
        Placement(fab, {"rules": [rule]}, state_dir=tmp_path / "s").plan()
    with pytest.raises(RuleError, match="is not a row filter") as info:
        Placement(fab, {"rules": [{**RULE, "partition": "month <=< 3"}]}, state_dir=tmp_path / "s")
    assert len(str(info.value)) < 300  # not pyparsing's whole grammar


def test_files_of_an_earlier_partition_spec_are_skipped(
    make_bucket: Callable[..., dict], tmp_path: Path
) -> None:
    """Found by a new user: pyiceberg commits added files under the current spec, so a moved
    day(ts) file of a table since re-partitioned by month(ts) got a wrong partition."""
    from datetime import UTC, datetime

    fab = skyfabric.connect(config(make_bucket("local"), make_bucket("local"), tmp_path))
    when = [datetime(2026, m, 1, tzinfo=UTC) for m in (1, 2, 3)]
    data = pa.table({"ts": pa.array(when, pa.timestamp("us", tz="UTC")), "v": [1, 2, 3]})
    table = fab.create_table("ev.evo", data, partition_by=["day(ts)"])
    with table.update_partitioning() as spec:
        spec.add_field("ts", "month", "ts_month")
        spec.remove_field("ts_day")
    table.append(
        pa.table(
            {
                "ts": pa.array([datetime(2026, 1, 15, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
                "v": [4],
            }
        )
    )
    rule = {
        "name": "q1",
        "table": "ev.evo",
        "partition": "ts < '2026-04-01T00:00:00+00:00'",
        "target": "cold",
    }
    placement = Placement(fab, {"rules": [rule]}, state_dir=tmp_path / "s")
    plan = placement.plan()
    assert len(plan.moves) == 1 and "ts_month=2026-01" in plan.moves[0].src
    assert len(plan.skipped) == 3 and all(
        "earlier partition spec" in s["reason"] for s in plan.skipped
    )
    assert placement.apply(plan).ok
    t = fab.table("ev.evo")
    got = t.scan("ts < '2026-02-01T00:00:00+00:00'").to_arrow()["v"].to_pylist()
    assert sorted(got) == [1, 4]
    from skyfabric.tables._relocate import roots_of

    assert len(roots_of(t.iceberg)) == 1


def test_object_rule_over_an_overlapping_store_keeps_table_files(
    make_bucket: Callable[..., dict], tmp_path: Path
) -> None:
    """Found by a new user: a store rooted at the bucket reached the table's files under
    other fabric:// URLs, and the guard compared URLs."""
    base = make_bucket("minio")
    hot = {**base, "prefix": "hot"}
    fab = skyfabric.connect(
        config(hot, make_bucket("local"), tmp_path)
        | {"stores": {"hot": hot, "cold": make_bucket("local"), "all": base}}
    )
    make_table(fab)
    grab = {"name": "grab", "match": "fabric://all/**", "target": "cold"}
    plan = Placement(fab, {"rules": [grab]}, state_dir=tmp_path / "s").plan()
    assert plan.moves == [] and plan.skipped and all(TABLE in s["reason"] for s in plan.skipped)
    # Nor may a move land among the table's files.
    fab.fs.pipe_file("fabric://cold/warehouse/sensors/telemetry/data/evil.parquet", b"x")
    fab.fs.pipe_file("fabric://cold/elsewhere/ok.txt", b"y")
    into = {"name": "into", "match": "fabric://cold/**", "target": "hot"}
    plan = Placement(fab, {"rules": [into]}, state_dir=tmp_path / "s3").plan()
    assert [m.src for m in plan.moves] == ["fabric://cold/elsewhere/ok.txt"]
    assert "lies among the files of Iceberg table" in plan.skipped[0]["reason"]


def test_a_round_trip_can_be_made_again(make_bucket: Callable[..., dict], tmp_path: Path) -> None:
    """Found by a new user: hot -> cold -> hot, then hot -> cold again was skipped as done."""
    fab = skyfabric.connect(config(make_bucket("local"), make_bucket("local"), tmp_path))
    make_table(fab)
    state = tmp_path / "s"
    there = Placement(fab, {"rules": [RULE]}, state_dir=state)
    back = Placement(fab, {"rules": [{**RULE, "target": "hot"}]}, state_dir=state)
    assert there.apply(there.plan()).ok
    assert back.apply(back.plan()).ok
    plan = there.plan()
    assert len(plan.moves) == 2
    result = there.apply(plan)
    assert result.ok and len(result.done) == 2
    assert there.apply(plan).done == []  # the same plan again: already done
    cold = native_root(fab, "cold")
    assert all(f.path.startswith(cold) for f in fab.table(TABLE).data_files("month <= 2"))


def test_residency_follows_the_data_across_moves(
    make_bucket: Callable[..., dict], tmp_path: Path
) -> None:
    from skyfabric.placement import ResidencyError

    hot = {**make_bucket("local"), "region": "eu-west-1"}
    eu = {**make_bucket("local"), "region": "eu-central-1"}
    us = {**make_bucket("local"), "region": "us-east-1"}
    fab = skyfabric.connect(
        config(hot, eu, tmp_path) | {"stores": {"hot": hot, "cold": eu, "us": us}}
    )
    make_table(fab)
    fab.fs.pipe_file("fabric://hot/customers/a.csv", b"eu only")
    residency = [
        {"match": "fabric://hot/warehouse/sensors/**", "regions": ["eu"]},
        {"match": "fabric://hot/customers/**", "regions": ["eu"]},
    ]
    obj = {"name": "obj", "match": "fabric://hot/customers/**", "target": "cold"}
    state = tmp_path / "s"
    first = Placement(fab, {"rules": [RULE, obj], "residency": residency}, state_dir=state)
    assert first.apply(first.plan()).ok  # eu -> eu is allowed
    onward = [
        {**RULE, "name": "to-us", "target": "us"},
        {"name": "obj-us", "match": "fabric://cold/customers/**", "target": "us"},
    ]
    second = Placement(fab, {"rules": onward, "residency": residency}, state_dir=state)
    with pytest.raises(ResidencyError) as info:
        second.plan()
    assert "customers/a.csv" in str(info.value) and "telemetry" in str(info.value)


def test_object_rules_keep_registered_parquet(
    make_bucket: Callable[..., dict], tmp_path: Path
) -> None:
    """Found by a new user: the files of a `register_parquet` table live outside its
    location, and an object rule moved them (the table then failed to read)."""
    import pyarrow.parquet as pq

    fab = skyfabric.connect(config(make_bucket("local"), make_bucket("local"), tmp_path))
    for i in (1, 2):
        with fab.fs.open(f"fabric://hot/raw/flights/part-{i}.parquet", "wb") as f:
            pq.write_table(month(i), f)
    fab.register_parquet("raw.flights", "fabric://hot/raw/flights/")
    fab.fs.pipe_file("fabric://hot/raw/other.txt", b"free to move")
    rule = {"name": "raw-cold", "match": "fabric://hot/raw/**", "target": "cold"}
    placement = Placement(fab, {"rules": [rule]}, state_dir=tmp_path / "s")
    plan = placement.plan()
    assert [m.src for m in plan.moves] == ["fabric://hot/raw/other.txt"]
    assert len(plan.skipped) == 2 and all("raw.flights" in s["reason"] for s in plan.skipped)
    assert placement.apply(plan).ok
    assert fab.table("raw.flights").count() == 80
