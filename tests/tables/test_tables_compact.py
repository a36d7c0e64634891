"""Compaction on the real servers: small files per partition and files of earlier partition
specs are rewritten into target-sized files of the current spec in one ``replace`` snapshot;
rows, time travel and expiry keep their meaning; a concurrent writer makes it re-plan."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from tables_data import lake_config, readings, sorted_rows
from typer.testing import CliRunner

import skyfabric

pytestmark = pytest.mark.xdist_group("servers")


def small_appends(fab: Any, name: str = "sensors.small", batches: int = 6) -> Any:
    """A table partitioned by site with ``batches`` appends of 40 rows: 4 files each."""
    table = fab.create_table(name, readings(0, 40), partition_by=["site"])
    for i in range(1, batches):
        table.append(readings(i * 40, 40))
    return table


def files_per_partition(table: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in table.data_files():
        key = ",".join(f"{k}={v}" for k, v in f.partition.items())
        out[key] = out.get(key, 0) + 1
    return out


def test_compaction_merges_small_files_and_keeps_time_travel(lake: Any) -> None:
    table = small_appends(lake)
    assert files_per_partition(table) == {f"site={s}": 6 for s in ("kyiv", "lima", "oslo", "pune")}
    before = sorted_rows(table.to_arrow())
    snaps = {s.snapshot_id: sorted_rows(table.to_arrow(snapshot_id=s.snapshot_id))
             for s in table.snapshots()}
    old_files = [f.path for f in table.data_files()]

    result = table.compact(target_file_size="64MiB")

    assert len(result.groups) == 4 and {g.reason for g in result.groups} == {"small files"}
    assert sorted(result.rewritten_files) == sorted(old_files)
    assert result.files_before == 24 and result.files_after == 4 == len(result.added_files)
    assert files_per_partition(table) == {f"site={s}": 1 for s in ("kyiv", "lima", "oslo", "pune")}
    assert sorted_rows(table.to_arrow()) == before
    snap = table.current_snapshot()
    assert snap is not None and snap.snapshot_id == result.snapshot_id
    assert snap.operation == "replace" and snap.summary["skyfabric.operation"] == "compact"
    assert snap.summary["deleted-data-files"] == "24" and snap.summary["added-data-files"] == "4"
    for snap_id, rows in snaps.items():  # time travel still reads the replaced files
        assert sorted_rows(table.to_arrow(snapshot_id=snap_id)) == rows
    assert table.count("site = 'oslo'") == 60  # partition pruning on the new files

    assert table.compact(target_file_size="64MiB").groups == []  # nothing left to do

    expired = table.expire_snapshots(older_than="0s", retain_last=1)
    assert set(old_files) <= set(expired.files)
    fs = lake.fs
    for path in old_files:
        assert not fs.exists(lake._table_service.fabric_url(path))
    assert table.gc(older_than="0s").files == []
    assert sorted_rows(lake.table("sensors.small").to_arrow()) == before


def test_compaction_rewrites_earlier_specs_and_placement_then_moves_them(
    make_bucket: Callable[..., dict], tmp_path: Path
) -> None:
    """The skip of files of an earlier partition spec names compaction, and after it the
    files move."""
    from skyfabric.placement import Placement

    fab = skyfabric.connect(lake_config(make_bucket("local"), tmp_path, cold=make_bucket("local")))
    when = [datetime(2026, m, d, tzinfo=UTC) for m in (1, 2, 3) for d in (1, 15)]
    data = pa.table({"ts": pa.array(when, pa.timestamp("us", tz="UTC")), "v": list(range(6))})
    table = fab.create_table("ev.evo", data, partition_by=["day(ts)"])
    with table.update_partitioning() as spec:
        spec.add_field("ts", "month", "ts_month")
        spec.remove_field("ts_day")
    late = pa.table({"ts": pa.array([datetime(2026, 1, 20, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
                     "v": [6]})
    table.append(late)
    rows = sorted_rows(table.to_arrow(), "v")
    rule = {"name": "q1", "table": "ev.evo", "partition": "ts < '2026-04-01T00:00:00+00:00'",
            "target": "cold"}
    placement = Placement(fab, {"rules": [rule]}, state_dir=tmp_path / "state")
    skipped = placement.plan().skipped
    assert len(skipped) == 6
    assert all("skyfabric tables compact ev.evo" in s["reason"] for s in skipped)

    planned = table.compact(dry_run=True)
    assert planned.dry_run and planned.snapshot_id is None and planned.added_files == []
    assert sum(len(g.files) for g in planned.groups if g.earlier_spec) == 6
    assert len(table.snapshots()) == 2  # a dry run commits nothing

    result = table.compact()
    assert {g.reason for g in result.groups} == {"earlier partition spec"}
    assert all(f.current_spec for f in table.data_files())
    # the two old day partitions of each month share one new file; January's file written
    # under the month spec stays, and the next compaction merges the two small ones
    assert sorted(f.partition["ts_month"] for f in table.data_files()) == [672, 672, 673, 674]
    assert sorted_rows(table.to_arrow(), "v") == rows
    again = table.compact()
    assert [g.partition for g in again.groups] == [{"ts_month": 672}]
    assert sorted(f.partition["ts_month"] for f in table.data_files()) == [672, 673, 674]
    assert sorted_rows(table.to_arrow(), "v") == rows
    got = table.scan("ts < '2026-02-01T00:00:00+00:00'").to_arrow()["v"].to_pylist()
    assert sorted(got) == [0, 1, 6]

    plan = placement.plan()
    assert plan.skipped == [] and len(plan.moves) == 3
    assert placement.apply(plan).ok
    assert sorted_rows(fab.table("ev.evo").to_arrow(), "v") == rows


def test_where_dry_run_and_bad_input(local_lake: Any) -> None:
    table = small_appends(local_lake, batches=3)
    plan = table.compact("1MiB", where="site = 'oslo'", dry_run=True)
    assert [g.partition for g in plan.groups] == [{"site": "oslo"}]
    assert plan.estimated_files == 1 and len(plan.rewritten_files) == 3
    done = table.compact("1MiB", where="site = 'oslo'")
    counts = files_per_partition(table)
    assert counts.pop("site=oslo") == 1 and set(counts.values()) == {3}
    assert done.files_after == 10
    # a partition needs min_input_files small files before it is rewritten
    assert table.compact("1MiB", min_input_files=4).groups == []
    # files at or above 75 % of the target are not small
    assert table.compact(target_file_size=1).groups == []
    with pytest.raises(ValueError, match="cannot read size 'big'"):
        table.compact("big")
    with pytest.raises(ValueError, match="nope"):
        table.compact("1MiB", where="nope = 1")
    empty = local_lake.create_table("sensors.empty", readings(0, 1).schema)
    assert empty.compact().groups == []
    flat = local_lake.create_table("sensors.flat", readings(0, 10))  # unpartitioned
    flat.append(readings(10, 10))
    flat.append(readings(20, 10))
    done = flat.compact()
    assert [g.partition for g in done.groups] == [{}] and len(flat.data_files()) == 1
    assert sorted_rows(flat.to_arrow()) == sorted_rows(readings(0, 30))


def test_a_concurrent_writer_makes_compaction_replan(local_lake: Any) -> None:
    """A writer that replaces a file being compacted wins; the compaction's files are removed
    and `Table.compact` re-plans from the new snapshot."""
    from pyiceberg.exceptions import CommitFailedException, ValidationException

    from skyfabric.tables._compact import compact

    table = small_appends(local_lake, batches=3)
    stale = table.iceberg  # planned before the other writer commits
    local_lake.table("sensors.small").delete("id = 5")  # rewrites one of the files
    listed = {p for p in local_lake.fs.find(table.location + "/data")}
    with pytest.raises((CommitFailedException, ValidationException)):
        compact(stale, 64 * 2**20, None, dry_run=False)
    assert {p for p in local_lake.fs.find(table.location + "/data")} == listed  # nothing left
    result = table.compact("64MiB")
    assert result.files_after == 4 and table.count() == 119
    assert table.count("id = 5") == 0


def test_rows_appended_during_compaction_do_not_conflict(local_lake: Any) -> None:
    """As for appends: a compaction planned before another writer appended lands on top of it
    (pyiceberg's commit retry re-applies it), and the appended rows stay."""
    from skyfabric.tables._compact import compact

    table = small_appends(local_lake, batches=3)
    stale = table.iceberg
    local_lake.table("sensors.small").append(readings(500, 8))
    result = compact(stale, 64 * 2**20, None, dry_run=False)
    fresh = local_lake.table("sensors.small")
    assert fresh.current_snapshot().snapshot_id == result.snapshot_id and result.files_after == 8
    assert fresh.count() == 128 and sorted_rows(fresh.to_arrow()) == sorted_rows(
        pa.concat_tables([readings(0, 120), readings(500, 8)]))
    assert sorted(files_per_partition(fresh).values()) == [2, 2, 2, 2]  # 1 compacted + 1 appended


def test_cli_compact(local_lake: Any, tmp_path: Path) -> None:
    from skyfabric.cli import app as cli_app

    small_appends(local_lake, batches=2)
    cfg = tmp_path / "skyfabric.toml"
    store = local_lake.config.stores["lake"].path
    cfg.write_text(f'[stores.lake]\nkind = "local"\npath = "{store}"\n[catalog]\n'
                   f'uri = "sqlite:///{tmp_path / "catalog.db"}"\nwarehouse = "fabric://lake/warehouse"\n')
    run = CliRunner().invoke
    dry = run(cli_app, ["--config", str(cfg), "tables", "compact", "sensors.small", "--dry-run",
                        "--target-file-size", "1MiB", "--json"])
    assert dry.exit_code == 0, dry.output
    got = json.loads(dry.stdout)
    assert got["dry_run"] and len(got["groups"]) == 4 and got["snapshot_id"] is None
    done = run(cli_app, ["--config", str(cfg), "tables", "compact", "sensors.small",
                         "--target-file-size", "1MiB"])
    assert done.exit_code == 0, done.output
    assert "rewrote 8 file(s)" in done.stdout and "data files 8 -> 4" in done.stdout
    bad = run(cli_app, ["--config", str(cfg), "tables", "compact", "sensors.small",
                        "--target-file-size", "lots"])
    assert bad.exit_code == 2 and "cannot read size" in bad.output


def test_plain_parquet_read_only_where_it_gives_pyiceberg_s_rows(local_lake: Any) -> None:
    """Compaction reads with pyarrow's dataset reader when that equals pyiceberg's scan (a
    table that never changed its schema, no delete files), and with pyiceberg's scan after a
    schema change."""
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.io.pyarrow import ArrowScan

    from skyfabric.tables._compact import _read_plain

    table = small_appends(local_lake, batches=2)
    tbl = table.iceberg
    tasks = list(tbl.scan().plan_files())
    plain = _read_plain(tbl, tbl.metadata, tasks)
    scanned = ArrowScan(tbl.metadata, tbl.io, tbl.schema(), AlwaysTrue()).to_table(tasks)
    assert plain is not None
    assert sorted_rows(plain) == sorted_rows(scanned.cast(plain.schema))
    with table.update_schema() as update:
        update.rename_column("temp", "temperature")
    tbl = table.iceberg
    assert _read_plain(tbl, tbl.metadata, list(tbl.scan().plan_files())) is None
    before = sorted_rows(table.to_arrow())
    table.compact("1MiB")
    assert sorted_rows(table.to_arrow()) == before and "temperature" in before[0]


def test_earlier_spec_rows_and_small_files_of_one_partition_keep_every_row(local_lake: Any) -> None:
    """Found by a new user: after a spec change, a partition of the current spec that gets
    both earlier-spec rows and small current-spec files was written as two batches whose
    files had the same name; the second replaced the first (110 rows became 20)."""
    import datetime as dt

    fab = local_lake
    schema = pa.schema([("day", pa.date32()), ("country", pa.string()), ("id", pa.int64())])
    table = fab.create_table("feat.daily", schema, partition_by=["day", "country"])
    day = dt.date(2026, 11, 1)
    table.append(pa.table({"day": [day] * 100, "country": ["no"] * 50 + ["se"] * 50,
                           "id": list(range(100))}, schema=schema))
    with table.iceberg.update_spec() as spec:  # now partitioned by day only
        spec.remove_field("country")
    table = fab.table("feat.daily")
    for k in range(2):  # two small files of the current spec in the same day
        ids = list(range(1000 + 5 * k, 1005 + 5 * k))
        table.append(pa.table({"day": [day] * 5, "country": ["fi"] * 5, "id": ids},
                              schema=schema))
    before = sorted(fab.table("feat.daily").to_arrow()["id"].to_pylist())
    result = fab.table("feat.daily").compact()
    assert len(set(result.added_files)) == len(result.added_files)
    after = sorted(fab.table("feat.daily").to_arrow()["id"].to_pylist())
    assert after == before and len(after) == 110
