"""``skyfabric quickstart`` end to end in a fresh data dir: the README's main-job command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import skyfabric
from skyfabric.cli import app


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty SKYFABRIC_DATA_DIR, no config file anywhere: the embedded default."""
    data = tmp_path / "data"
    monkeypatch.setenv("SKYFABRIC_DATA_DIR", str(data))
    monkeypatch.delenv("SKYFABRIC_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return data / "lake"


def outputs(lake: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted((lake / "reports").glob("*.json"))}


def test_quickstart_end_to_end_and_idempotent(fresh: Path) -> None:
    res = CliRunner().invoke(app, ["quickstart"])
    assert res.exit_code == 0, res.output
    lake = fresh
    parts = sorted(lake.glob("flights/month=*/part-0.parquet"))
    assert len(parts) == 12
    assert (lake / "baselines" / "flights.json").is_file()
    reports = outputs(lake)
    assert sorted(reports) == [f"flights-2013-{m:02d}.json" for m in range(4, 13)]
    q1 = json.loads((lake / "baselines" / "flights.json").read_text())["rows"]
    assert q1 + sum(r["rows"] for r in reports.values()) == 336_776
    for m in range(4, 13):
        page = (lake / "reports" / f"flights-2013-{m:02d}.html").read_text()
        cols = reports[f"flights-2013-{m:02d}.json"]["columns"]
        assert len(cols) == 9
        assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', page)) == 9
        assert all(c["psi"] is not None for c in cols)
    assert "dep_delay" in res.stdout and "carrier" in res.stdout and "..." not in res.stdout
    assert "reports/flights-2013-MM.html" in res.stdout
    command = (
        "skyfabric drift check --baseline fabric://local/baselines/flights.json "
        "table:flights.flights"
    )
    assert command in res.stdout
    table = skyfabric.connect().table("flights.flights")
    assert table.count() == 336_776 and table.partitioning == ["month"]
    table_files = sorted(p.name for p in (lake / "warehouse" / "flights").rglob("*.parquet"))
    assert len(table_files) == 12

    # the monitoring loop: captured through Capture, monitored by month, one trend report
    captured = list((lake / "capture" / "flights").rglob("*.parquet"))
    assert len(captured) == 12 and all("/dt=" in str(p) for p in captured)
    trend = json.loads((lake / "monitoring" / "flights-trend.json").read_text())
    assert [w["window"] for w in trend["windows"]] == [f"2013-{m:02d}" for m in range(1, 13)]
    assert sum(w["rows"] for w in trend["windows"]) == 336_776
    assert [w["rows"] for w in trend["windows"][3:]] == [
        r["rows"] for _, r in sorted(reports.items())
    ]
    for w, (_, report) in zip(trend["windows"][3:], sorted(reports.items()), strict=True):
        assert [c["psi"] for c in w["columns"]] == pytest.approx(
            [c["psi"] for c in report["columns"]]
        )  # the captured month is the month's partition: the same numbers
    assert "class=heat" in (lake / "monitoring" / "flights-trend.html").read_text()
    history = skyfabric.connect().table("monitoring.drift_history")
    assert history.count() == 12 * 9
    assert "trend:" in res.stdout and "monitoring.drift_history" in res.stdout

    def plain_files() -> list[Path]:  # Iceberg file names are new on each commit, captured
        return sorted(  # files are named by the capturing process and time
            p.relative_to(lake)
            for p in lake.rglob("*")
            if p.is_file() and p.relative_to(lake).parts[0] not in ("warehouse", "capture")
        )

    files_before = plain_files()
    again = CliRunner().invoke(app, ["quickstart"])
    assert again.exit_code == 0, again.output
    assert plain_files() == files_before
    # the table was replaced, not appended to: one snapshot, the old files purged
    assert table.count() == 336_776 and len(table.snapshots()) == 1
    assert len(list((lake / "warehouse" / "flights").rglob("*.parquet"))) == 12
    assert len(list((lake / "capture").rglob("*.parquet"))) == 12  # replaced, not added
    assert history.count() == 12 * 9  # the windows' rows replaced, not appended
    assert sorted(p.name for p in (lake / "warehouse" / "flights").rglob("*.parquet")) != table_files

    checked = CliRunner().invoke(app, [*command.split()[1:], "--json"])
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)["rows"] == 336_776
    for name, first in reports.items():
        second = outputs(lake)[name]
        assert [c["psi"] for c in second["columns"]] == [c["psi"] for c in first["columns"]]


def test_quickstart_options(fresh: Path) -> None:
    res = CliRunner().invoke(app, ["quickstart", "--months-baseline", "1-10", "--store", "local"])
    assert res.exit_code == 0, res.output
    assert sorted(outputs(fresh)) == ["flights-2013-11.json", "flights-2013-12.json"]
    bad = CliRunner().invoke(app, ["quickstart", "--months-baseline", "3-12"])
    assert bad.exit_code == 2 and "1-11" in bad.output
    nostore = CliRunner().invoke(app, ["quickstart", "--store", "nope"])
    assert nostore.exit_code == 2 and "unknown store" in nostore.output


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), re.DOTALL)


def test_readme_example_config_runs_the_quickstart_and_readme_drift_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With README's own skyfabric.toml the quickstart went to the first store (the on-prem
    MinIO: "MINIO_ACCESS_KEY is not set") and README's fabric://local/... commands said
    "unknown store 'local'"; now both run on its `local` store, and the others stay untouched."""
    for var in ("SKYFABRIC_DATA_DIR", "SKYFABRIC_CONFIG", "XDG_DATA_HOME", "MINIO_ACCESS_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # README's local store is under ~
    monkeypatch.chdir(tmp_path)
    config = next(b for b in readme_blocks("toml") if "[stores.onprem]" in b)
    (tmp_path / "skyfabric.toml").write_text(config)
    res = CliRunner().invoke(app, ["quickstart", "--months-baseline", "1-10"])
    assert res.exit_code == 0, res.output
    lake = tmp_path / ".local" / "share" / "skyfabric" / "lake"
    assert len(list(lake.glob("flights/month=*/part-0.parquet"))) == 12
    assert sorted(outputs(lake)) == ["flights-2013-11.json", "flights-2013-12.json"]
    assert len(list((lake / "warehouse" / "flights").rglob("*.parquet"))) == 12
    shell = "\n".join(readme_blocks("bash")).replace("\\\n", " ")
    commands = [line.split("#")[0].split() for line in shell.splitlines()]
    drift = [c[1:] for c in commands if c[:2] == ["skyfabric", "drift"]]
    assert len(drift) == 3 and all("fabric://local/" in " ".join(c) for c in drift)
    for args in drift:
        ran = CliRunner().invoke(app, args)
        assert ran.exit_code in (0, 3, 4), (args, ran.output)  # a drift level, not an error
    assert (lake / "baselines" / "january.json").is_file()
    assert (lake / "reports" / "2013-07.html").is_file()


def test_quickstart_without_a_local_store_stops_and_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SKYFABRIC_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    (tmp_path / "skyfabric.toml").write_text(
        '[stores.onprem]\nkind = "s3"\nbucket = "telemetry-raw"\n'
        'endpoint = "http://127.0.0.1:9"\naccess_key_env = "MINIO_ACCESS_KEY"\n'
        f'[stores.scratch]\nkind = "local"\npath = "{data}"\n'
    )
    res = CliRunner().invoke(app, ["quickstart"])
    text = " ".join(res.output.split())
    assert res.exit_code == 2, res.output
    assert "writes to the store named 'local'" in text and "its stores: onprem, scratch" in text
    assert "[stores.local]" in text and "--store NAME" in text
    assert not data.exists()
