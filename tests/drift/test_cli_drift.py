"""``skyfabric drift baseline|check``: outputs and the exit code of each ``--fail-on``."""

from __future__ import annotations

import importlib
import io
import json
import os
import re
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

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
from skyfabric.drift.file_io import TEMP_PREFIX

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


def run_check(
    lake: Path, baseline_url: str, *options: str, source: str = "fabric://lake/data/stable.parquet"
):
    """``drift check`` of ``source`` (the stable sample) against the baseline, with ``options``."""
    return run(lake, "drift", "check", "--baseline", baseline_url, source, *options)


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
    res = run_check(
        lake,
        baseline_url,
        "--fail-on",
        fail_on,
        "--json",
        source=f"fabric://lake/data/{data}.parquet",
    )
    assert res.exit_code == code, res.output
    out = json.loads(res.stdout)
    assert out["worst_status"] == data
    assert {c["column"]: c["status"] for c in out["columns"]}["x"] == data


def test_default_fail_on_is_significant(lake, baseline_url) -> None:
    moderate = run_check(lake, baseline_url, source="fabric://lake/data/moderate.parquet")
    assert moderate.exit_code == EXIT_OK
    res = run_check(lake, baseline_url, source="fabric://lake/data/significant.parquet")
    assert res.exit_code == EXIT_SIGNIFICANT
    assert "significant" in res.stdout and "PSI" in res.stdout


def test_reports_written(lake, baseline_url, tmp_path) -> None:
    res = run_check(
        lake,
        baseline_url,
        "--report",
        "fabric://lake/reports/m.html",
        "--json-out",
        str(tmp_path / "m.json"),
        "--fail-on",
        "never",
        source=str(lake / "store" / "data" / "moderate.parquet"),
    )
    assert res.exit_code == EXIT_OK, res.output
    html = (lake / "store" / "reports" / "m.html").read_text()
    assert html.count("<img ") == 2
    assert json.loads((tmp_path / "m.json").read_text())["worst_status"] == "moderate"


def test_dask_engine_from_cli(lake, baseline_url) -> None:
    pytest.importorskip("distributed")
    res = run_check(
        lake,
        baseline_url,
        *("--engine", "dask", "--json", "--fail-on", "never"),
        source="fabric://lake/data/significant.parquet",
    )
    assert res.exit_code == EXIT_OK, res.output
    assert json.loads(res.stdout)["engine"] == "dask"


def test_errors_and_usage(lake, baseline_url) -> None:
    missing = run_check(lake, baseline_url, source="fabric://lake/data/no/")
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
    bad_col = run_check(lake, baseline_url, "--columns", "nope")
    assert bad_col.exit_code == EXIT_USAGE and "not in the baseline" in bad_col.output
    bad_opt = run_check(lake, baseline_url, "--fail-on", "always")
    assert bad_opt.exit_code == EXIT_USAGE
    unknown_store = run(lake, "drift", "baseline", "fabric://nostore/x.parquet", "--out", "x.json")
    assert unknown_store.exit_code == EXIT_USAGE and "unknown store" in unknown_store.output
    table = run_check(lake, baseline_url, source="table:ns.flights@latest")
    assert table.exit_code != EXIT_OK and "not a snapshot id" in table.output


def test_baseline_lists_the_columns_it_left_out(lake, tmp_path) -> None:
    """The pandas index is not fitted unless named, and the table says so; a source with
    no column to bin exits 2 naming its columns (it said "yielded no batches")."""
    rows = pa.table({"x": np.arange(40.0), "__index_level_0__": np.arange(0, 80, 2)})
    pq.write_table(rows, tmp_path / "pd.parquet")
    pq.write_table(pa.table({"tags": [[1]] * 40}), tmp_path / "lists.parquet")
    out = tmp_path / "b.json"
    res = run(lake, "drift", "baseline", str(tmp_path / "pd.parquet"), "--out", str(out))
    assert res.exit_code == EXIT_OK, res.output
    assert "not fitted: __index_level_0__: int64, the pandas index" in " ".join(res.output.split())
    assert list(json.loads(out.read_text())["columns"]) == ["x"]
    res = run(lake, "drift", "baseline", str(tmp_path / "lists.parquet"), "--out", str(out) + "2")
    assert res.exit_code == EXIT_USAGE and "Traceback" not in res.output
    assert "'tags': list<element: int64>, which cannot be binned" in " ".join(res.output.split())
    assert not Path(str(out) + "2").exists()


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
        res = run_check(lake, baseline_url, "--report", target)
        assert res.exit_code == EXIT_USAGE, res.output
        text = " ".join(res.output.split())
        assert (
            "--report" in text
            and "is a directory" in text
            and "fix: name the file" in text
            and "report.html" in text
        )
        assert list(folder.iterdir()) == []
    assert not list(tmp_path.rglob(f"{TEMP_PREFIX}*"))


def test_an_empty_prefix_says_no_data_files(lake, baseline_url) -> None:
    (lake / "store" / "data" / "day=2").mkdir(exist_ok=True)
    res = run_check(lake, baseline_url, source="fabric://lake/data/day=2/")
    assert res.exit_code == EXIT_ERROR
    assert "no data files were found under" in " ".join(res.output.split())


# --- bad output destinations fail before any data is read -------------------------------


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every source the commands open (``drift check`` opens it itself, ``drift baseline``
    through ``fit_baseline``): empty after a run means no data was read."""
    from skyfabric.drift import sources

    # the module, not the function ``skyfabric.drift.check`` the package binds to that name
    check_mod = importlib.import_module("skyfabric.drift.check")
    calls: list[object] = []
    real = sources.open_source

    def counting(source: object, **kwargs: object) -> sources.Source:
        calls.append(source)
        return real(source, **kwargs)

    monkeypatch.setattr(sources, "open_source", counting)
    monkeypatch.setattr(check_mod, "open_source", counting)
    return calls


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _bad_destinations(lake: Path, tmp: Path) -> list[tuple[str, str]]:
    """(destination, phrase of its fix) for each way a user gets it wrong."""
    (tmp / "adir").mkdir()
    (tmp / "afile").write_text("not a directory")
    (lake / "store" / "outdir").mkdir(exist_ok=True)
    (lake / "store" / "outdir" / "keep.txt").write_text("x")
    return [
        (str(tmp / "adir"), "fix: name the file"),
        (str(tmp / "new") + "/", "fix: name the file"),
        ("fabric://lake/outdir", "fix: name the file"),
        ("fabric://lake/outdir/", "fix: name the file"),
        ("fabric://nostore/r.out", "Fix: add [stores.nostore] to skyfabric.toml"),
        (str(tmp / "afile" / "sub" / "r.out"), "fix: write to a path under an existing directory"),
        ("fabric://lake/outdir/keep.txt/r.out", "fix: write to a path under an existing"),
        # taken as local paths these became ./s3:/bucket/r.out in the working directory
        ("s3://bucket/r.out", "fix: configure the bucket as a store"),
        ("gs://bucket/r.out", "fix: configure the bucket as a store"),
        ("fabric:r.out", "fix: configure the bucket as a store"),
    ]


@pytest.mark.parametrize(
    "command,option,example",
    [
        ("check", "--report", "report.html"),
        ("check", "--json-out", "drift.json"),
        ("baseline", "--out", "baseline.json"),
    ],
)
def test_bad_output_fails_before_reading_data(
    lake, baseline_url, tmp_path, opened, command, option, example, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where a URL taken for a relative path would land
    cases = _bad_destinations(lake, tmp_path)
    before = {root: _tree(root) for root in (tmp_path, lake / "store")}
    for target, fix in cases:
        if command == "check":
            args = ["check", "--baseline", baseline_url, "fabric://lake/data/stable.parquet"]
        else:
            args = ["baseline", "fabric://lake/data/base.parquet"]
        res = run(lake, "drift", *args, option, target)
        text = " ".join(res.output.split())
        assert res.exit_code == EXIT_USAGE, (target, res.output)
        assert f"error: {option}: " in text and fix in text, (target, text)
        if fix == "fix: name the file":  # the hint names the writer's own file name
            assert f"{target.rstrip('/')}/{example}" in text, (target, text)
        assert opened == [], target  # failed before the source was opened
    # nothing left behind: no file, no directory, no temporary
    assert {root: _tree(root) for root in before} == before


def test_empty_or_shared_output_fails_before_reading_data(
    lake, baseline_url, tmp_path, opened
) -> None:
    """--report '' used to mean no report; one file for --report and --json-out let the
    JSON replace the HTML."""
    same = str(tmp_path / "out.html")
    for options, phrase in (
        (("--report", ""), "--report is empty; fix: give a file"),
        (("--json-out", " "), "--json-out is empty"),
        (("--report", same, "--json-out", same), "--json-out and --report both name"),
    ):
        res = run_check(lake, baseline_url, *options)
        text = " ".join(res.output.split())
        assert res.exit_code == EXIT_USAGE, res.output
        assert phrase in text, text
    assert opened == [] and list(tmp_path.iterdir()) == []


def test_unwritable_parent_fails_before_reading_data(
    lake, baseline_url, tmp_path, opened, monkeypatch
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.geteuid() == 0:  # root writes anywhere: answer for locked/ as the kernel would a user
        real_access = os.access
        monkeypatch.setattr(
            os,
            "access",
            lambda p, mode, *a, **k: os.fspath(p) != str(locked) and real_access(p, mode, *a, **k),
        )
    try:
        res = run_check(lake, baseline_url, "--json-out", str(locked / "sub" / "m.json"))
    finally:
        locked.chmod(0o700)
    text = " ".join(res.output.split())
    assert res.exit_code == EXIT_USAGE, res.output
    assert "error: --json-out: " in text and "fix: choose a directory you can write" in text
    assert "does not exist yet" in text  # names the missing sub/ too
    assert opened == [] and list(locked.iterdir()) == []


def test_good_outputs_still_create_missing_parents(lake, baseline_url, tmp_path, opened) -> None:
    """The pre-check accepts what the writers accept: missing parents are created."""
    report = tmp_path / "a" / "b" / "r.html"
    res = run_check(
        lake,
        baseline_url,
        "--report",
        str(report),
        "--json-out",
        "fabric://lake/fresh/deeper/r.json",
    )
    assert res.exit_code == EXIT_OK, res.output
    assert opened[0] == "fabric://lake/data/stable.parquet"  # the counter sees real scans
    assert report.is_file() and (lake / "store" / "fresh" / "deeper" / "r.json").is_file()
    assert not list(tmp_path.rglob(f"{TEMP_PREFIX}*"))


def test_the_longest_legal_output_name_is_written(lake, baseline_url, tmp_path) -> None:
    """A 255-byte name is legal: the temporary a write goes through used to add
    ``.tmp-PID`` to it and fail with a bare ENAMETOOLONG after the whole scan (exit 1)."""
    report = tmp_path / "out" / ("r" * 250 + ".html")
    res = run_check(lake, baseline_url, "--report", str(report))
    assert res.exit_code == EXIT_OK, res.output
    assert report.is_file() and os.listdir(tmp_path / "out") == [report.name]
    out = tmp_path / "b" / ("b" * 250 + ".json")
    res = run(lake, "drift", "baseline", "fabric://lake/data/base.parquet", "--out", str(out))
    assert res.exit_code == EXIT_OK, res.output
    assert os.listdir(out.parent) == [out.name]


def test_a_name_longer_than_the_filesystem_allows_fails_before_reading_data(
    lake, baseline_url, tmp_path, opened
) -> None:
    long = "r" * 300
    cases = [
        ("check", "--report", str(tmp_path / "out" / f"{long}.html"), "file name"),
        ("check", "--json-out", str(tmp_path / long / "drift.json"), "directory name"),
        ("check", "--report", f"fabric://lake/reports/{long}.html", "file name"),
        ("baseline", "--out", str(tmp_path / f"{long}.json"), "file name"),
    ]
    for command, option, target, what in cases:
        if command == "check":
            res = run_check(lake, baseline_url, option, target)
        else:
            res = run(lake, "drift", "baseline", "fabric://lake/data/base.parquet", option, target)
        text = " ".join(res.output.split())
        assert res.exit_code == EXIT_USAGE, res.output
        assert f"error: {option}: " in text and f"the {what} 'rrrr" in text, text
        assert "allows at most 255 bytes per name; fix: shorten it" in text
        assert "Errno" not in text
    assert opened == [] and list(tmp_path.iterdir()) == []


def test_inverted_thresholds_in_the_config_are_a_usage_error(
    lake, baseline_url, tmp_path, opened
) -> None:
    config = tmp_path / "skyfabric.toml"
    config.write_text(
        (lake / "skyfabric.toml").read_text() + "[drift]\nmoderate = 0.3\nsignificant = 0.2\n"
    )
    res = CliRunner().invoke(
        app,
        ["--config", str(config), "drift", "check", "--baseline", baseline_url,
         "fabric://lake/data/stable.parquet"],
    )  # fmt: skip
    text = " ".join(res.output.split())
    assert res.exit_code == EXIT_USAGE, res.output
    assert f"invalid configuration in {config}" in text and "fix: in the [drift] section" in text
    assert opened == []


def test_bins_has_the_configurations_cap(lake, tmp_path, opened) -> None:
    """``--bins`` accepted 100000 where ``[drift] bins`` stops at 10000."""
    from skyfabric.config import DriftConfig

    out = str(tmp_path / "b.json")
    args = ["drift", "baseline", "fabric://lake/data/base.parquet", "--out", out, "--bins"]
    res = run(lake, *args, "100000")
    assert res.exit_code == EXIT_USAGE and "--bins" in res.output and "10000" in res.output
    assert opened == [] and not os.path.exists(out)
    with pytest.raises(ValueError, match="less than or equal to 10000"):
        DriftConfig(bins=10_001)
    assert run(lake, *args, "10000").exit_code == EXIT_OK


def test_validate_output_is_the_writers_check(tmp_path) -> None:
    """The Python API keeps its errors: a directory is a DriftError, an ancestor that is a
    file an OSError, and nothing is written in either case."""
    from skyfabric.drift.file_io import validate_output, write_text
    from skyfabric.errors import DriftError

    (tmp_path / "f").write_text("x")
    with pytest.raises(DriftError, match="is a directory"):
        validate_output(str(tmp_path), example="r.html")
    with pytest.raises(DriftError, match="is a directory"):
        write_text(str(tmp_path), "{}", example="r.html")
    with pytest.raises(NotADirectoryError, match="is a file, not a directory"):
        write_text(str(tmp_path / "f" / "x" / "r.json"), "{}")
    validate_output(str(tmp_path / "new" / "r.json"))
    with pytest.raises(DriftError, match="fabric://<store>/<path>"):
        write_text("s3://bucket/b.json", "{}")
    assert _tree(tmp_path) == ["f"]


@pytest.mark.xdist_group("servers")
def test_bad_output_on_s3_fails_before_reading_data(
    lake, baseline_url, tmp_path, opened, make_bucket
) -> None:
    """On the moto S3 store a prefix holding objects is a directory."""
    import skyfabric

    s3 = make_bucket("s3")
    config = tmp_path / "skyfabric.toml"
    config.write_text(
        (lake / "skyfabric.toml").read_text()
        + "\n[stores.s3]\n"
        + "".join(f"{k} = {json.dumps(v)}\n" for k, v in s3.items())
    )
    fab = skyfabric.connect(config)
    fab.fs.pipe_file("fabric://s3/reports/old.html", b"<html></html>")

    def check_with_report(target: str) -> Any:
        args = ["--config", str(config), "drift", "check", "--baseline", baseline_url]
        return CliRunner().invoke(
            app, [*args, "fabric://lake/data/stable.parquet", "--report", target]
        )

    for target in ("fabric://s3/reports", "fabric://s3/reports/"):
        res = check_with_report(target)
        text = " ".join(res.output.split())
        assert res.exit_code == EXIT_USAGE, res.output
        assert "error: --report: " in text and "fabric://s3/reports/report.html" in text
        assert opened == []
    assert fab.fs.find("fabric://s3/") == ["s3/reports/old.html"]
    ok = check_with_report("fabric://s3/reports/new.html")
    assert ok.exit_code == EXIT_OK, ok.output
    assert fab.fs.isfile("fabric://s3/reports/new.html")


# --- outputs that are not regular files ---------------------------------------------------


def test_special_file_outputs_fail_before_reading_data(
    lake, baseline_url, tmp_path, opened, monkeypatch
) -> None:
    """Outputs are a temporary renamed over the destination: over a FIFO (what /dev/stdout
    is under a pipe) or a device (/dev/null) that puts a regular file in its place, and '-'
    was a file named '-'. All are refused (exit 2) before any data is read, untouched."""
    monkeypatch.chdir(tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (tmp_path / "to-pipe.json").symlink_to(fifo)
    (tmp_path / "loop.json").symlink_to(tmp_path / "loop.json")
    in_store = lake / "store" / "fifos"
    in_store.mkdir(exist_ok=True)
    os.mkfifo(in_store / "r.json")  # a local store writes in place: it would block on it
    cases = [
        (str(fifo), "it is a named pipe (FIFO), not a regular file"),
        (str(tmp_path / "to-pipe.json"), f"named pipe (FIFO) (through the symlink to '{fifo}')"),
        ("fabric://lake/fifos/r.json", "it is a named pipe (FIFO), not a regular file"),
        (str(tmp_path / "loop.json"), "fix: point the symlink at a file"),
        ("-", "this would create a file named '-'"),
    ]
    try:
        for option, example, command in (
            ("--json-out", "drift.json", ["check", "--baseline", baseline_url]),
            ("--report", "report.html", ["check", "--baseline", baseline_url]),
            ("--out", "baseline.json", ["baseline"]),
        ):
            source = "fabric://lake/data/stable.parquet"
            for target, phrase in cases:
                res = run(lake, "drift", *command, source, option, target)
                text = " ".join(res.output.split())
                assert res.exit_code == EXIT_USAGE, (option, target, res.output)
                assert f"error: {option}: " in text and phrase in text, (target, text)
                assert f"fix: give the path of a regular file, e.g. {example}" in text or (
                    "fix: point the symlink" in text or f"fix: give a file, e.g. {example}" in text
                ), (target, text)
        assert opened == []  # failed before the source was opened
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
        assert stat.S_ISFIFO(os.lstat(in_store / "r.json").st_mode)
        assert (tmp_path / "to-pipe.json").is_symlink()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["loop.json", "pipe", "to-pipe.json"]
    finally:
        (in_store / "r.json").unlink()
        in_store.rmdir()


def test_symlinked_outputs_write_their_target_and_stay_links(lake, baseline_url, tmp_path) -> None:
    """A symlink output is written through: the file it points to gets the content (also
    a link whose target does not exist yet), the link itself stays a link."""
    real = tmp_path / "real"
    real.mkdir()
    (real / "drift.json").write_text("old")
    (tmp_path / "latest.json").symlink_to(real / "drift.json")
    (tmp_path / "latest.html").symlink_to(Path("real") / "report.html")  # relative, dangling
    res = run_check(
        lake,
        baseline_url,
        "--json-out",
        str(tmp_path / "latest.json"),
        "--report",
        str(tmp_path / "latest.html"),
    )
    assert res.exit_code == EXIT_OK, res.output
    assert os.readlink(tmp_path / "latest.json") == str(real / "drift.json")
    assert os.readlink(tmp_path / "latest.html") == os.path.join("real", "report.html")
    assert json.loads((real / "drift.json").read_text())["worst_status"] == "stable"
    assert (real / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in real.iterdir()) == ["drift.json", "report.html"]


def test_write_text_refuses_special_files_and_writes_through_links(tmp_path) -> None:
    from skyfabric.drift.file_io import validate_output, write_text
    from skyfabric.errors import DriftError

    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(DriftError, match=r"named pipe \(FIFO\).*fix: give the path of a regular"):
        write_text(str(tmp_path / "fifo"), "{}", example="r.json")
    with pytest.raises(DriftError, match=re.escape("fix: give a file, e.g. r.json")):
        validate_output("-", example="r.json")
    (tmp_path / "gone").symlink_to(tmp_path / "no-dir" / "r.json")
    with pytest.raises(DriftError, match="whose directory does not exist"):
        write_text(str(tmp_path / "gone"), "{}")
    (tmp_path / "f.json").write_text("old")
    (tmp_path / "link").symlink_to("f.json")
    write_text(str(tmp_path / "link"), "new")
    assert (tmp_path / "link").is_symlink() and (tmp_path / "f.json").read_text() == "new"
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo").st_mode)
    assert _tree(tmp_path) == ["f.json", "fifo", "gone", "link"]


# --- a file that is not a baseline passed as --baseline -----------------------------------


def test_wrong_file_as_baseline_says_what_it_is(lake, baseline_url, tmp_path, opened) -> None:
    """The data file (arguments swapped) was a UnicodeDecodeError traceback, a --json-out
    report "baseline has no valid format_version (got None)". Both exit 2 as every invalid
    baseline does, naming the file and what to pass instead."""
    report = tmp_path / "drift.json"
    assert run_check(lake, baseline_url, "--json-out", str(report)).exit_code == EXIT_OK
    opened.clear()
    data = lake / "store" / "data" / "base.parquet"
    fix = "fix: pass the baseline JSON written by `skyfabric drift baseline --out`"
    for baseline, phrase in (
        (str(data), "this is a parquet file (binary data), not a baseline JSON"),
        ("fabric://lake/data/base.parquet", "the data and the baseline may be swapped"),
        (
            str(report),
            "this is a drift check report (the JSON of `skyfabric drift check --json-out`",
        ),
    ):
        res = run_check(lake, baseline, source=str(data))
        text = " ".join(res.output.split())
        assert res.exit_code == EXIT_USAGE, res.output
        assert res.exception is None or isinstance(res.exception, SystemExit)
        assert f"error: {baseline}: this is a" in text and phrase in text and fix in text, text
    assert opened == []  # the baseline is read before the data


# --- --columns that names no column -------------------------------------------------------


@pytest.mark.parametrize("value", ["", ",", " , "])
def test_empty_columns_option_is_a_usage_error(lake, baseline_url, tmp_path, opened, value) -> None:
    """--columns '' or ',' silently meant every column; the Python API refuses []."""
    out = tmp_path / "b.json"
    for args, every in (
        (["check", "--baseline", baseline_url, "fabric://lake/data/stable.parquet"], "baseline"),
        (["baseline", "fabric://lake/data/base.parquet", "--out", str(out)], "source"),
    ):
        res = run(lake, "drift", *args, "--columns", value)
        text = " ".join(res.output.split())
        assert res.exit_code == EXIT_USAGE, res.output
        assert f"error: --columns is empty ({value!r} names no column)" in text, text
        assert (
            f"fix: name the columns, e.g. --columns x,y, or leave the option out to use every column of the {every}"
            in text
        ), text
    assert opened == [] and not out.exists()


# --- an output naming the baseline ----------------------------------------------------------


def test_output_naming_the_baseline_fails_before_reading_data(
    lake, baseline_url, tmp_path, opened, monkeypatch
) -> None:
    """`drift check -b b.json --json-out b.json` silently replaced the baseline with the
    report; any spelling of the baseline's file as --json-out or --report now exits 2."""
    monkeypatch.chdir(tmp_path)
    stored = lake / "store" / "baselines" / "base.json"
    local = tmp_path / "b.json"
    local.write_bytes(stored.read_bytes())
    (tmp_path / "link.json").symlink_to(local)
    before = {p: p.read_bytes() for p in (stored, local)}
    examples = {"--json-out": "drift.json", "--report": "report.html"}
    for baseline, option, target in (
        ("b.json", "--json-out", "b.json"),
        ("b.json", "--report", "./b.json"),
        (str(local), "--json-out", "link.json"),  # a symlink to the baseline
        (baseline_url, "--json-out", baseline_url),
        (baseline_url, "--report", str(stored)),  # the local store's file by its path
        (str(stored), "--json-out", baseline_url),
    ):
        res = run_check(lake, baseline, option, target)
        text = " ".join(res.output.split())
        assert res.exit_code == EXIT_USAGE, (baseline, option, target, res.output)
        assert f"error: {option} and --baseline both name {target!r}" in text, text
        fix = f"fix: write {option} to another file, e.g. {option} {examples[option]}"
        assert fix in text, text
    # two spellings of one file for --report and --json-out are caught as well
    res = run_check(lake, baseline_url, "--report", "out.html", "--json-out", "./out.html")
    assert res.exit_code == EXIT_USAGE
    assert "--json-out and --report both name './out.html'" in " ".join(res.output.split())
    assert opened == []  # refused before any data was read
    assert {p: p.read_bytes() for p in before} == before
    assert (tmp_path / "link.json").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "link.json"]


def test_output_within_the_source_fails_before_reading_data(lake, baseline_url, opened) -> None:
    """``--json-out src/cur.parquet`` replaced the data with the report, and a report in a
    folder source failed the next run ("not parquet"): an output that is the source file,
    lies in the source folder or matches the source glob exits 2, in any spelling."""
    data = lake / "store" / "data"
    before = {p: p.read_bytes() for p in data.iterdir() if p.is_file()}
    cases = [
        ("fabric://lake/data/stable.parquet", "--json-out", "fabric://lake/data/stable.parquet"),
        ("fabric://lake/data/", "--report", "fabric://lake/data/r.html"),
        (str(data), "--json-out", "fabric://lake/data/drift.json"),
        ("fabric://lake/data/*.parquet", "--json-out", str(data / "new.parquet")),
    ]
    for source, option, target in cases:
        res = run_check(lake, baseline_url, option, target, source=source)
        text = " ".join(res.output.split())
        assert res.exit_code == EXIT_USAGE, (source, option, target, res.output)
        assert f"{option} {target!r} is within the source {source!r}" in text, text
        assert "fix: write" in text and "outside the source" in text
    res = run(
        lake, "drift", "baseline", str(data / "base.parquet"), "--out", str(data / "base.parquet")
    )
    assert res.exit_code == EXIT_USAGE and "is within the source" in " ".join(res.output.split())
    assert opened == []
    assert {p: p.read_bytes() for p in data.iterdir() if p.is_file()} == before


# --- text from the data is printed as it is, never as rich markup ---------------------------

MARKUP_NAMES = ["x[/b]", "[red]x[/red]", "y\\"]


def _table_rows(text: str) -> dict[str, list[str]]:
    """Cells of a boxed rich table by first cell, lines a cell wrapped onto joined back."""
    rows: list[list[str]] = []
    for line in text.splitlines():
        if "│" not in line:
            continue
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if rows and not cells[0]:
            rows[-1] = [a + b for a, b in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    return {r[0]: r for r in rows}


def test_markup_like_names_and_dtypes_print_as_they_are(lake, tmp_path) -> None:
    """A column ``x[/b]`` made `drift baseline` crash with MarkupError (exit 1, after the
    baseline was written), ``[red]x[/red]`` printed as ``x``, the dtype ``timestamp[ms]`` as
    ``timestamp``; paths such as ``b[v2].json`` lost ``[v2]``."""
    from rich.console import Console

    from skyfabric.cli.quickstart_cmd import _summary
    from skyfabric.drift.check import DriftResult

    rng = np.random.default_rng(3)
    t = pa.array(rng.integers(0, 10**9, 2000), pa.timestamp("ms"))
    cats = np.array(["a", "b"])[rng.integers(0, 2, 2000)]
    base = pa.table({"x[/b]": rng.normal(size=2000), "[red]x[/red]": cats, "y\\": cats, "t": t})
    pq.write_table(base, tmp_path / "base.parquet")
    pq.write_table(base.set_column(3, "t", pa.array(["s"] * 2000)), tmp_path / "cur.parquet")
    out, report = str(tmp_path / "b[v2].json"), str(tmp_path / "r[v2].json")

    res = run(lake, "drift", "baseline", str(tmp_path / "base.parquet"), "--out", out)
    assert res.exit_code == EXIT_OK, res.output
    rows = _table_rows(res.stdout)
    assert {n: rows[n][1] for n in MARKUP_NAMES} == {
        "x[/b]": "double",
        "[red]x[/red]": "string",
        "y\\": "string",
    }
    assert rows["t"][1] == "timestamp[ms]", res.stdout
    assert f"savedto{out}" in "".join(res.stdout.split())

    # t is a string now: type_changed, significant: exit 4 with the default --fail-on
    res = run(
        lake, "drift", "check", "-b", out, str(tmp_path / "cur.parquet"), "--json-out", report
    )
    assert res.exit_code == EXIT_SIGNIFICANT, res.output
    firsts = [line.split()[0] for line in res.stdout.splitlines() if line.strip()]
    assert set(MARKUP_NAMES) < set(firsts), res.stdout
    flat = "".join(res.stdout.split())
    assert "itwastimestamp[ms]inthebaseline" in flat and f"json:{report}" in flat

    # an error quoting the names prints them too (and still exits 2)
    res = run(
        lake, "drift", "check", "-b", out, str(tmp_path / "cur.parquet"), "--columns", "no[/b]"
    )
    assert res.exit_code == EXIT_USAGE, res.output
    assert "column(s) no[/b] are not in the baseline (it has x[/b], [red]x[/red], y\\, t)" in (
        " ".join(res.output.split())
    )

    # the quickstart's column x month summary
    with open(report) as fh:
        result = DriftResult.from_dict(json.load(fh))
    console = Console(record=True, width=120)
    console.print(_summary(SimpleNamespace(results={1: result, 2: result})))
    firsts = [line.split()[0] for line in console.export_text().splitlines() if line.strip()]
    assert set(MARKUP_NAMES) < set(firsts), firsts


def test_progress_label_prints_as_it_is(monkeypatch) -> None:
    """On a terminal the bar's label names the data, e.g. ``checking data/x[/b].parquet``."""
    from rich.console import Console

    from skyfabric.cli import drift_cmds

    console = Console(file=io.StringIO(), force_terminal=True, width=100, record=True)
    monkeypatch.setattr(drift_cmds, "err_console", console)
    tty = SimpleNamespace(isatty=lambda: True)
    monkeypatch.setattr(drift_cmds, "sys", SimpleNamespace(stderr=tty))
    with drift_cmds._progress(10, "checking d/[red]x[/red][/b].parquet") as advance:
        assert advance is not None
        advance(10)
    assert "checking d/[red]x[/red][/b].parquet" in console.export_text()


def test_tables_in_logs_keep_whole_rows(tmp_path: Path) -> None:
    """A scheduler's log is no terminal: rich's default of 80 columns cut long column names
    and the status to "stab…"; each row now comes out whole, on one line."""
    name = "customer_lifetime_value_usd_rolling_90_days"
    rng = np.random.default_rng(3)
    for part in ("base", "cur"):
        pq.write_table(pa.table({name: rng.normal(size=5_000)}), tmp_path / f"{part}.parquet")
    cli = CliRunner()
    base = str(tmp_path / "b.json")
    fit = cli.invoke(app, ["drift", "baseline", str(tmp_path / "base.parquet"), "--out", base])
    assert fit.exit_code == 0, fit.output
    assert any(name in line and "double" in line for line in fit.output.splitlines())
    res = cli.invoke(app, ["drift", "check", "--baseline", base, str(tmp_path / "cur.parquet")])
    assert res.exit_code == EXIT_OK, res.output
    row = next(line for line in res.output.splitlines() if line.lstrip().startswith(name))
    assert " stable " in row and "5,000" in row


def test_dollar_signs_in_data_write_both_reports(lake, tmp_path) -> None:
    """``$`` in a category or a column name crashed the HTML report with a matplotlib
    traceback (exit 1), and neither the HTML nor the JSON was written."""
    data = tmp_path / "p.parquet"
    pq.write_table(pa.table({"band": ["$5-$10", "a_$x_$"] * 50, "a_$_$": [1.0, 2.0] * 50}), data)
    base, html, out = tmp_path / "b.json", tmp_path / "r.html", tmp_path / "j.json"
    assert run(lake, "drift", "baseline", str(data), "--out", str(base)).exit_code == EXIT_OK
    res = run(
        lake,
        "drift",
        "check",
        "-b",
        str(base),
        str(data),
        "--report",
        str(html),
        "--json-out",
        str(out),
    )
    assert res.exit_code == EXIT_OK, res.output
    assert "Traceback" not in res.output
    assert html.read_text().count("<img ") == 2
    assert {c["column"] for c in json.loads(out.read_text())["columns"]} == {"band", "a_$_$"}


def test_report_that_cannot_be_drawn_keeps_the_json(
    lake, baseline_url, tmp_path, monkeypatch
) -> None:
    """An HTML report that fails to render (here: the user's matplotlib asks for LaTeX,
    which is not installed) used to lose the JSON too, with a traceback. Now the JSON is
    written first, the table still prints, one error line names --report, no partial
    HTML is left, and the exit code is 1."""
    import matplotlib

    monkeypatch.setenv("PATH", str(tmp_path / "no-latex-here"))
    html, out = tmp_path / "r.html", tmp_path / "j.json"
    with matplotlib.rc_context({"text.usetex": True}):
        res = run_check(
            lake, baseline_url, "--report", str(html), "--json-out", str(out), "--fail-on", "never"
        )
    text = " ".join(res.output.split())
    assert res.exit_code == EXIT_ERROR, res.output
    assert "error: --report: the report could not be rendered" in text
    assert "latex could not be found" in text and "Traceback" not in text
    assert json.loads(out.read_text())["worst_status"] == "stable"
    assert f"json: {out}" in text and f"report: {html}" not in text  # only what was written
    assert "PSI" in res.stdout  # the table
    assert not html.exists() and not list(tmp_path.glob("*.tmp-*"))
