"""``skyfabric drift baseline|check``: outputs and the exit code of each ``--fail-on``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from skyfabric.cli import app
from skyfabric.cli.drift_cmds import (
    EXIT_ERROR,
    EXIT_MODERATE,
    EXIT_OK,
    EXIT_SIGNIFICANT,
    EXIT_USAGE,
)

N = 20_000
SHIFTS = {"stable": 0.0, "moderate": 0.4, "significant": 1.5}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """skyfabric.toml with a local store ``lake``; parquet: base, stable, moderate, significant."""
    root = tmp_path_factory.mktemp("cli")
    store = root / "store"
    (store / "data").mkdir(parents=True)
    rng = np.random.default_rng(7)
    cats = np.array(["AA", "B6", "DL", "UA"])
    base = pa.table({"x": rng.normal(size=N), "c": cats[rng.integers(0, 4, N)]})
    pq.write_table(base, store / "data" / "base.parquet")
    for name, shift in SHIFTS.items():
        cur = pa.table({"x": rng.normal(shift, size=N), "c": cats[rng.integers(0, 4, N)]})
        pq.write_table(cur, store / "data" / f"{name}.parquet")
    (root / "skyfabric.toml").write_text(f'[stores.lake]\nkind = "local"\npath = "{store}"\n')
    return root


def run(lake: Path, *args: str):
    return CliRunner().invoke(app, ["--config", str(lake / "skyfabric.toml"), *args])


@pytest.fixture(scope="module")
def baseline_url(lake: Path) -> str:
    url = "fabric://lake/baselines/base.json"
    res = run(
        lake,
        "drift",
        "baseline",
        "fabric://lake/data/base.parquet",
        "--columns",
        "x,c",
        "--out",
        url,
        "--bins",
        "10",
    )
    assert res.exit_code == 0, res.output
    assert "saved to" in res.stdout and "x" in res.stdout
    assert (lake / "store" / "baselines" / "base.json").is_file()
    return url


@pytest.mark.parametrize(
    "data,fail_on,code",
    [
        ("stable", "moderate", EXIT_OK),
        ("stable", "significant", EXIT_OK),
        ("stable", "never", EXIT_OK),
        ("moderate", "moderate", EXIT_MODERATE),
        ("moderate", "significant", EXIT_OK),
        ("moderate", "never", EXIT_OK),
        ("significant", "moderate", EXIT_SIGNIFICANT),
        ("significant", "significant", EXIT_SIGNIFICANT),
        ("significant", "never", EXIT_OK),
    ],
)
def test_exit_code_per_fail_on(lake, baseline_url, data, fail_on, code) -> None:
    res = run(
        lake,
        "drift",
        "check",
        "--baseline",
        baseline_url,
        f"fabric://lake/data/{data}.parquet",
        "--fail-on",
        fail_on,
        "--json",
    )
    assert res.exit_code == code, res.output
    out = json.loads(res.stdout)
    assert out["worst_status"] == data
    assert {c["column"]: c["status"] for c in out["columns"]}["x"] == data


def test_default_fail_on_is_significant(lake, baseline_url) -> None:
    assert (
        run(
            lake,
            "drift",
            "check",
            "--baseline",
            baseline_url,
            "fabric://lake/data/moderate.parquet",
        ).exit_code
        == EXIT_OK
    )
    res = run(
        lake, "drift", "check", "--baseline", baseline_url, "fabric://lake/data/significant.parquet"
    )
    assert res.exit_code == EXIT_SIGNIFICANT
    assert "significant" in res.stdout and "PSI" in res.stdout


def test_reports_written(lake, baseline_url, tmp_path) -> None:
    res = run(
        lake,
        "drift",
        "check",
        "--baseline",
        baseline_url,
        str(lake / "store" / "data" / "moderate.parquet"),
        "--report",
        "fabric://lake/reports/m.html",
        "--json-out",
        str(tmp_path / "m.json"),
        "--fail-on",
        "never",
    )
    assert res.exit_code == EXIT_OK, res.output
    html = (lake / "store" / "reports" / "m.html").read_text()
    assert html.count("<img ") == 2
    assert json.loads((tmp_path / "m.json").read_text())["worst_status"] == "moderate"


def test_dask_engine_from_cli(lake, baseline_url) -> None:
    pytest.importorskip("distributed")
    res = run(
        lake,
        "drift",
        "check",
        "--baseline",
        baseline_url,
        "fabric://lake/data/significant.parquet",
        "--engine",
        "dask",
        "--json",
        "--fail-on",
        "never",
    )
    assert res.exit_code == EXIT_OK, res.output
    assert json.loads(res.stdout)["engine"] == "dask"


def test_errors_and_usage(lake, baseline_url) -> None:
    missing = run(lake, "drift", "check", "--baseline", baseline_url, "fabric://lake/data/no/")
    assert missing.exit_code == EXIT_ERROR
    assert "no file or prefix" in missing.output
    no_baseline = run(
        lake,
        "drift",
        "check",
        "--baseline",
        "fabric://lake/nothing.json",
        "fabric://lake/data/stable.parquet",
    )
    assert no_baseline.exit_code == EXIT_ERROR
    bad_col = run(
        lake,
        "drift",
        "check",
        "--baseline",
        baseline_url,
        "--columns",
        "nope",
        "fabric://lake/data/stable.parquet",
    )
    assert bad_col.exit_code == EXIT_USAGE and "not in the baseline" in bad_col.output
    bad_opt = run(
        lake,
        "drift",
        "check",
        "--baseline",
        baseline_url,
        "--fail-on",
        "always",
        "fabric://lake/data/stable.parquet",
    )
    assert bad_opt.exit_code == EXIT_USAGE
    unknown_store = run(lake, "drift", "baseline", "fabric://nostore/x.parquet", "--out", "x.json")
    assert unknown_store.exit_code == EXIT_USAGE and "unknown store" in unknown_store.output
    table = run(lake, "drift", "check", "--baseline", baseline_url, "table:ns.flights@latest")
    assert table.exit_code != EXIT_OK and "not a snapshot id" in table.output


def test_help_documents_exit_codes(lake) -> None:
    res = run(lake, "drift", "check", "--help")
    assert res.exit_code == 0
    text = " ".join(res.stdout.split())
    fragments = ("Exit codes", "0 no drift", "1 error", "2 usage", "3 moderate", "4 significant")
    for fragment in fragments:
        assert fragment in text, fragment


def test_report_pointing_at_a_directory_fails_clearly_and_leaves_nothing(
    lake, baseline_url, tmp_path
) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    (lake / "store" / "dirreports").mkdir(exist_ok=True)
    for target, folder in (
        (str(reports), reports),
        ("fabric://lake/dirreports/", lake / "store" / "dirreports"),
    ):
        res = run(
            lake,
            "drift",
            "check",
            "--baseline",
            baseline_url,
            "fabric://lake/data/stable.parquet",
            "--report",
            target,
        )
        assert res.exit_code == EXIT_ERROR, res.output
        text = " ".join(res.output.split())
        assert "is a directory" in text and "fix: name the file" in text and "report.html" in text
        assert list(folder.iterdir()) == []
    assert not list(tmp_path.rglob("*.tmp-*"))


def test_an_empty_prefix_says_no_data_files(lake, baseline_url) -> None:
    (lake / "store" / "data" / "day=2").mkdir(exist_ok=True)
    res = run(lake, "drift", "check", "--baseline", baseline_url, "fabric://lake/data/day=2/")
    assert res.exit_code == EXIT_ERROR
    assert "no data files were found under" in " ".join(res.output.split())
