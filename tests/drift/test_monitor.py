"""``drift.monitor``: every window of a source against one baseline, with an Iceberg history.

Data: six months of synthetic readings, written hive-style (``month=N/part-0.parquet``) to
a real store (local, and S3/GCS/Azure on the loopback servers); months 5 and 6 drift.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import skyfabric
from skyfabric import drift
from skyfabric.drift.history import HISTORY_SCHEMA
from skyfabric.errors import DriftError

ROWS = 4_000
SHIFT = {1: 0.0, 2: 0.0, 3: 0.0, 4: 0.05, 5: 0.5, 6: 1.5}


def month_rows(month: int, rng: np.random.Generator) -> pa.Table:
    """``ROWS`` readings of 2026-``month``: ts (UTC, one every ~10 min), x, site."""
    start = datetime(2026, month, 1, tzinfo=UTC)
    ts = [start + timedelta(minutes=10 * i) for i in range(ROWS)]
    sites = np.array(["oslo", "lima", "pune", "kyiv"])
    p = [0.25, 0.25, 0.25, 0.25] if month < 6 else [0.7, 0.1, 0.1, 0.1]
    return pa.table({
        "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "x": rng.normal(SHIFT[month], 1.0, ROWS),
        "site": sites[rng.choice(4, ROWS, p=p)],
    })


def config(store: dict, tmp_path: Path) -> dict[str, Any]:
    return {
        "stores": {"lake": store},
        "catalog": {"kind": "sql", "uri": f"sqlite:///{tmp_path / 'catalog.db'}",
                    "warehouse": "fabric://lake/warehouse"},
    }


def write_months(fab: Any, months: range = range(1, 7)) -> pa.Table:
    rng = np.random.default_rng(17)
    parts = []
    for m in months:
        t = month_rows(m, rng)
        buf = io.BytesIO()
        pq.write_table(t, buf)
        fab.fs.pipe_file(f"fabric://lake/readings/month={m}/part-0.parquet", buf.getvalue())
        parts.append(t)
    return pa.concat_tables(parts)


@pytest.fixture
def local_lake(make_bucket: Callable[..., dict], tmp_path: Path) -> Any:
    fab = skyfabric.connect(config(make_bucket("local"), tmp_path))
    write_months(fab)
    base = drift.fit_baseline("fabric://lake/readings/month=[1-3]/", ["x", "site"], fabric=fab)
    drift.save_baseline(base, "fabric://lake/baselines/readings.json", fab)
    return fab


BASE = "fabric://lake/baselines/readings.json"
SRC = "fabric://lake/readings/"


def test_every_partition_is_one_window_and_matches_drift_check(local_lake) -> None:
    fab = local_lake
    result = drift.monitor(SRC, BASE, by="month", fabric=fab)
    assert [w.window for w in result.windows] == [f"month={m}" for m in range(1, 7)]
    assert [w.rows for w in result.windows] == [ROWS] * 6
    assert [w.status for w in result.windows][:3] == ["stable"] * 3
    assert result.windows[5].status == "significant"
    assert result.worst_status == "significant"
    for m in (2, 5, 6):  # the same numbers as one drift check of that partition
        one = drift.check(BASE, f"{SRC}month={m}/", fabric=fab)
        w = result.windows[m - 1]
        assert [c.psi for c in w.columns] == pytest.approx([c.psi for c in one.columns])
        assert [c.status for c in w.columns] == [c.status for c in one.columns]


def test_history_is_an_iceberg_table_and_known_windows_are_skipped(local_lake) -> None:
    fab = local_lake
    first = drift.monitor(SRC, BASE, by="month", fabric=fab)
    table = fab.table("monitoring.drift_history")
    assert table.arrow_schema.names == HISTORY_SCHEMA.names
    assert table.count() == 6 * 2
    rows = table.to_arrow().to_pylist()
    assert {r["source"] for r in rows} == {SRC.rstrip("/")}
    assert {r["baseline_url"] for r in rows} == {BASE}
    six = next(r for r in rows if r["window_label"] == "month=6" and r["column_name"] == "site")
    assert six["status"] == "significant" and six["rows"] == ROWS
    assert six["psi"] == pytest.approx(first.windows[5].columns[1].psi)
    assert six["expected_psi"] > 0 and six["p_value"] < 1e-6 and six["checked_at"].tzinfo

    # a new partition arrives: only it is checked; the others come back from the history
    write_more = month_rows(7 - 1, np.random.default_rng(3)).set_column(
        0, "ts", pa.array([datetime(2026, 7, 1, tzinfo=UTC)] * ROWS, pa.timestamp("us", tz="UTC"))
    )
    buf = io.BytesIO()
    pq.write_table(write_more, buf)
    fab.fs.pipe_file(f"{SRC}month=7/part-0.parquet", buf.getvalue())
    second = drift.monitor(SRC.rstrip("/"), BASE, by="month", fabric=fab)  # the same source
    assert [w.window for w in second.checked] == ["month=7"]
    assert second.skipped == [f"month={m}" for m in range(1, 7)]
    assert len(second.windows) == 7 and table.count() == 7 * 2
    assert [c.psi for c in second.windows[5].columns] == pytest.approx(
        [c.psi for c in first.windows[5].columns]
    )
    # --recompute replaces the rows of the windows it checks again, in one commit
    third = drift.monitor(SRC, BASE, by="month", fabric=fab, recompute=True)
    assert len(third.checked) == 7 and table.count() == 7 * 2

    # monthly time windows of the same source are other windows, never read as partitions
    by_time = drift.monitor(SRC, BASE, every="1mo", time_column="ts", fabric=fab)
    assert len(by_time.checked) == 7 and by_time.skipped == []
    assert by_time.windowing == "every 1mo on ts" and table.count() == 14 * 2
    assert len(drift.monitor(SRC, BASE, by="month", fabric=fab).checked) == 0

    # other engines read the same table
    con = table.to_duckdb("h")
    worst = con.execute(
        "select window_label, max(psi) from h where windowing = 'by month' "
        "group by window_label order by 2 desc limit 1"
    ).fetchall()
    assert worst[0][0] in ("month=6", "month=7")
    pl_rows = table.to_polars().collect()
    assert pl_rows.height == 28 and "column_name" in pl_rows.columns


def test_time_windows_in_one_scan_agree_with_partitions(local_lake) -> None:
    fab = local_lake
    by_time = drift.monitor(SRC, BASE, every="1mo", time_column="ts", fabric=fab, history=None)
    by_part = drift.monitor(SRC, BASE, by="month", fabric=fab, history=None)
    assert [w.window for w in by_time.windows] == [f"2026-{m:02d}" for m in range(1, 7)]
    assert by_time.windows[0].start == datetime(2026, 1, 1, tzinfo=UTC)
    assert by_time.windows[0].end == datetime(2026, 2, 1, tzinfo=UTC)
    for t, p in zip(by_time.windows, by_part.windows, strict=True):
        assert t.rows == p.rows
        assert [c.psi for c in t.columns] == pytest.approx([c.psi for c in p.columns])
    days = drift.monitor(SRC, BASE, every="7d", time_column="ts", fabric=fab, history=None)
    assert sum(w.rows for w in days.windows) == 6 * ROWS
    assert all(w.end - w.start == timedelta(days=7) for w in days.windows)


def test_time_windows_of_in_memory_rows_spanning_batches() -> None:
    rng = np.random.default_rng(5)
    data = pa.concat_tables([month_rows(m, rng) for m in (1, 2, 6)])
    shuffled = data.take(pa.array(rng.permutation(data.num_rows)))  # windows mixed in batches
    base = drift.fit_baseline(month_rows(1, rng), ["x", "site"])
    res = drift.monitor(shuffled, base, every="1mo", time_column="ts", history=None,
                        batch_size=1000)
    assert [w.rows for w in res.windows] == [ROWS, ROWS, ROWS]
    assert [w.status for w in res.windows] == ["stable", "stable", "significant"]


def test_json_pandas_and_notebook_view(local_lake, tmp_path: Path) -> None:
    res = drift.monitor(SRC, BASE, by="month", fabric=local_lake)
    data = json.loads(res.to_json())
    assert [w["window"] for w in data["windows"]] == [f"month={m}" for m in range(1, 7)]
    col = data["windows"][5]["columns"][0]
    assert set(col) >= {"column", "psi", "expected_psi", "p_value", "js_distance", "status"}
    assert data["windows"][5]["rows"] == ROWS and data["windows"][5]["status"] == "significant"
    frame = res.to_pandas()
    assert len(frame) == 12 and set(frame["column"]) == {"x", "site"}
    page = res._repr_html_()
    assert page.count("<tr><th>") >= 2 and "month=6" in page


def test_trend_report_is_one_self_contained_page(local_lake, tmp_path: Path) -> None:
    from skyfabric.drift.trend_report import write_trend_html

    res = drift.monitor(SRC, BASE, by="month", fabric=local_lake)
    write_trend_html(res, "fabric://lake/reports/trend.html", local_lake)
    page = local_lake.fs.cat_file("fabric://lake/reports/trend.html").decode()
    assert page.count('src="data:image/png;base64,') == 2  # one PSI line per column
    assert page.count("<details>") == 6 and "class=heat" in page
    assert "http://" not in page.replace("http://www.w3.org", "")  # nothing fetched


def test_partition_ranges_in_folder_form(local_lake, tmp_path: Path) -> None:
    """``month=[1-3]/`` reads the partitions it names (it said "matches no file")."""
    fab = local_lake
    src = drift.sources.open_source("fabric://lake/readings/month=[1-3]/", fabric=fab)
    assert src.data.count_rows() == 3 * ROWS
    local = Path(fab.config.stores["lake"].path) / "readings"
    files = drift.sources.open_source(f"{local}/month=[4-6]/")
    assert files.data.count_rows() == 3 * ROWS
    assert "month" in files.schema.names


@pytest.mark.parametrize("kind", ["s3", "gcs", "azure"])
def test_monitor_on_object_stores(kind: str, make_bucket: Callable[..., dict], tmp_path: Path) -> None:
    fab = skyfabric.connect(config(make_bucket(kind), tmp_path))
    write_months(fab, range(1, 5))
    base = drift.fit_baseline("fabric://lake/readings/month=[1-2]/", ["x", "site"], fabric=fab)
    res = drift.monitor(SRC, base, by="month", fabric=fab, history="ops.drift")
    assert [w.rows for w in res.windows] == [ROWS] * 4
    assert fab.table("ops.drift").count() == 8
    assert fab.table("ops.drift").location.startswith("fabric://lake/warehouse")


def test_bad_arguments_are_clear(local_lake) -> None:
    with pytest.raises(DriftError, match=r"--by month"):
        drift.monitor(SRC, BASE, fabric=local_lake)
    with pytest.raises(DriftError, match="--time-column"):
        drift.monitor(SRC, BASE, every="1d", fabric=local_lake)
    with pytest.raises(DriftError, match="partition keys found: month"):
        drift.monitor(SRC, BASE, by="dt", fabric=local_lake, history=None)
    with pytest.raises(DriftError, match="not a count and a unit"):
        drift.monitor(SRC, BASE, every="daily", time_column="ts", fabric=local_lake)
    with pytest.raises(DriftError, match="not an ISO-8601 time"):
        drift.monitor(SRC, BASE, every="1d", time_column="site", fabric=local_lake, history=None)


def test_by_dt_groups_the_hours_of_a_day_and_knows_its_bounds(local_lake) -> None:
    fab = local_lake
    rng = np.random.default_rng(9)
    for day in ("2026-03-01", "2026-03-02"):
        for hour in ("00", "13"):
            buf = io.BytesIO()
            pq.write_table(month_rows(3, rng).slice(0, 500), buf)
            fab.fs.pipe_file(f"fabric://lake/live/dt={day}/hour={hour}/part-0.parquet", buf.getvalue())
    res = drift.monitor("fabric://lake/live/", BASE, by="dt", fabric=fab, history=None)
    assert [w.window for w in res.windows] == ["dt=2026-03-01", "dt=2026-03-02"]
    assert [w.rows for w in res.windows] == [1000, 1000]
    assert res.windows[1].start == datetime(2026, 3, 2, tzinfo=UTC)
    assert res.windows[1].end == datetime(2026, 3, 3, tzinfo=UTC)


def test_nested_partitions_need_every_key_above_the_window(local_lake) -> None:
    fab = local_lake
    rng = np.random.default_rng(11)
    for year in (2025, 2026):
        for month in (1, 2):
            buf = io.BytesIO()
            pq.write_table(month_rows(month, rng).slice(0, 300), buf)
            fab.fs.pipe_file(f"fabric://lake/prices/year={year}/month={month}/p.parquet", buf.getvalue())
    with pytest.raises(DriftError, match=r"month=1 .* several year=\.\.\. folders.*--by year,month"):
        drift.monitor("fabric://lake/prices/", BASE, by="month", fabric=fab, history=None)
    res = drift.monitor("fabric://lake/prices/", BASE, by="year,month", fabric=fab, history=None)
    assert [w.window for w in res.windows] == [
        "year=2025/month=1", "year=2025/month=2", "year=2026/month=1", "year=2026/month=2"
    ]
    assert [w.rows for w in res.windows] == [300] * 4
    assert res.windows[1].start == datetime(2025, 2, 1, tzinfo=UTC)
    assert res.windows[1].end == datetime(2025, 3, 1, tzinfo=UTC)
    one_year = drift.monitor("fabric://lake/prices/year=2026/", BASE, by="month", fabric=fab,
                             history=None)
    assert [w.window for w in one_year.windows] == ["month=1", "month=2"]


def test_time_windows_of_an_iceberg_table(local_lake) -> None:
    fab = local_lake
    rng = np.random.default_rng(13)
    fab.create_table("ops.readings", pa.concat_tables([month_rows(m, rng) for m in (1, 6)]))
    res = drift.monitor("table:ops.readings", BASE, every="1mo", time_column="ts", fabric=fab)
    assert [(w.window, w.rows, w.status) for w in res.windows] == [
        ("2026-01", ROWS, "stable"), ("2026-06", ROWS, "significant")
    ]
    assert fab.table("monitoring.drift_history").count() == 4
    with pytest.raises(DriftError, match="not files"):
        drift.monitor("table:ops.readings", BASE, by="month", fabric=fab, history=None)


def test_settings_that_cannot_work_are_refused_before_anything_is_written(
    local_lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a new user: --every 1s (for 1d) ran on without end; --history a.b.c and a
    history name of an existing data table gave tracebacks."""
    from skyfabric.drift import time_windows
    from skyfabric.errors import MonitorSettingError

    monkeypatch.setattr(time_windows, "MAX_WINDOWS", 50)  # the source has ~26 weeks of days
    with pytest.raises(MonitorSettingError, match=r"--every 1d over 'ts' makes more than 50 windows"):
        drift.monitor(SRC, BASE, every="1d", time_column="ts", fabric=local_lake, history=None)
    for name in ("a.b.c", "bad", "no such.t"):
        with pytest.raises(MonitorSettingError, match=r"is not namespace\.table"):
            drift.monitor(SRC, BASE, by="month", fabric=local_lake, history=name)
    local_lake.create_table("crm.accounts", pa.table({"id": [1, 2]}))
    with pytest.raises(MonitorSettingError, match="exists and is not a drift history"):
        drift.monitor(SRC, BASE, by="month", fabric=local_lake, history="crm.accounts")
    assert local_lake.table("crm.accounts").count() == 2


def test_in_memory_data_keeps_no_history(local_lake) -> None:
    """Found by a new user: every in-memory table was kept under one name, so a second,
    shifted table was read back from the history as 'stable'."""
    rng = np.random.default_rng(7)
    base = drift.fit_baseline(month_rows(1, rng), ["x", "site"])
    calm = month_rows(2, rng)
    shifted = calm.set_column(calm.schema.get_field_index("x"), "x",
                              pa.compute.add(calm["x"], 5.0))
    first = drift.monitor(calm, base, every="1mo", time_column="ts", fabric=local_lake)
    second = drift.monitor(shifted, base, every="1mo", time_column="ts", fabric=local_lake)
    assert [w.status for w in first.windows] == ["stable"]
    assert [w.status for w in second.windows] == ["significant"]
    assert second.history is None and not second.skipped
