"""``check`` and ``fit_baseline`` over every kind of source, and the edge cases of the job."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

import skyfabric
from skyfabric.drift import (
    Baseline,
    DriftResult,
    check,
    fit_baseline,
    load_baseline,
    save_baseline,
)
from skyfabric.drift.file_io import TEMP_PREFIX
from skyfabric.errors import BaselineError, DriftError, ObjectNotFoundError

COLS = ["dep_delay", "arr_delay", "distance", "air_time", "carrier", "origin"]


@pytest.fixture(scope="module")
def flights() -> pa.Table:
    from skyfabric.drift.quickstart import flights_table

    return flights_table()


def month(t: pa.Table, *months: int) -> pa.Table:
    return t.filter(pa.compute.is_in(t["month"], pa.array(months, pa.int64())))


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, flights: pa.Table):
    root = tmp_path_factory.mktemp("lake")
    for m in (1, 2, 3, 7):
        d = root / "flights" / f"month={m}"
        d.mkdir(parents=True)
        pq.write_table(month(flights, m).drop_columns(["month"]), d / "part-0.parquet")
    fab = skyfabric.connect(
        {
            "stores": {"lake": {"kind": "local", "path": str(root)}},
            "drift": {"moderate": 0.05, "significant": 0.2},
        }
    )
    return fab, root


@pytest.fixture(scope="module")
def baseline(flights: pa.Table) -> Baseline:
    return fit_baseline(month(flights, 1, 2, 3), COLS, source_name="q1")


def psis(result: DriftResult) -> dict[str, float | None]:
    return {c.column: c.psi for c in result.columns}


def test_same_data_is_stable(flights, baseline) -> None:
    result = check(baseline, month(flights, 1, 2, 3))
    assert result.rows == month(flights, 1, 2, 3).num_rows
    assert result.worst_status == "stable"
    assert all(c.status == "stable" and c.psi < 1e-9 for c in result.columns)
    assert not result.exceeds("moderate")


def test_every_source_kind_gives_the_same_result(lake, flights, baseline) -> None:
    fab, root = lake
    july = month(flights, 7).select(COLS)
    expected = psis(check(baseline, july))
    sources = [
        "fabric://lake/flights/month=7/",
        "fabric://lake/flights/month=7/part-0.parquet",
        "fabric://lake/flights/month=[7]/*.parquet",
        str(root / "flights" / "month=7"),
        str(root / "flights" / "month=7" / "*.parquet"),
        july.to_batches()[0] if july.num_rows == len(july.to_batches()[0]) else july,
        pa.RecordBatchReader.from_batches(july.schema, july.to_batches(max_chunksize=5000)),
        pads.dataset(str(root / "flights" / "month=7")),
    ]
    for src in sources:
        got = check(baseline, src, fabric=fab)
        assert got.rows == 29_425, src
        assert psis(got) == pytest.approx(expected), src


def test_dask_engine_matches_local(lake, baseline) -> None:
    distributed = pytest.importorskip("distributed")
    fab, _ = lake
    local = check(baseline, "fabric://lake/flights/", fabric=fab)
    cluster = distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, dashboard_address=":0"
    )
    with cluster, distributed.Client(cluster) as c:
        remote = check(baseline, "fabric://lake/flights/", fabric=fab, engine="dask", client=c)
    assert remote.rows == local.rows
    for a, b in zip(local.columns, remote.columns, strict=True):
        assert np.array_equal(a.current.counts, b.current.counts)
        assert a.current.missing == b.current.missing
        assert a.psi == b.psi


def test_thresholds_default_from_config(lake, baseline) -> None:
    fab, _ = lake
    result = check(baseline, "fabric://lake/flights/month=7/", fabric=fab)
    assert (result.moderate, result.significant, result.eps) == (0.05, 0.2, 1e-4)
    strict = check(
        baseline, "fabric://lake/flights/month=7/", fabric=fab, moderate=0.002, significant=0.003
    )
    assert strict.worst_status == "significant" and strict.exceeds("moderate")
    with pytest.raises(DriftError, match="moderate <= significant"):
        check(baseline, "fabric://lake/flights/month=7/", fabric=fab, moderate=0.3, significant=0.2)


def test_missing_column_and_subset(flights, baseline) -> None:
    july = month(flights, 7).select([c for c in COLS if c != "carrier"])
    result = check(baseline, july)
    assert result["carrier"].status == "missing_column"
    assert result["carrier"].current is None
    assert result.level(result["carrier"]) == "significant"
    assert result.exceeds("significant") and not result.exceeds("never")
    sub = check(baseline, july, columns=["distance", "origin"])
    assert [c.column for c in sub.columns] == ["distance", "origin"]
    with pytest.raises(BaselineError, match="not in the baseline"):
        check(baseline, july, columns=["nope"])


def test_a_partition_key_the_path_fixes_is_missing_with_the_reason(lake) -> None:
    """A baseline fitted on all months has ``month``; ``.../month=7/`` does not read it as a
    column, and the note says so instead of "not in the current data" alone."""
    fab, root = lake
    base = fit_baseline("fabric://lake/flights/", ["month", "distance"], fabric=fab)
    for src, kw in (
        ("fabric://lake/flights/month=7/", {"fabric": fab}),
        (str(root / "flights" / "month=7"), {}),
    ):
        result = check(base, src, **kw)
        month_ = result["month"]
        assert month_.status == "missing_column"
        assert f"{src} fixes it in its path (month=7)" in month_.note
        assert "fix: leave it out of the check (--columns" in month_.note
        assert result["distance"].status != "missing_column"
    july = check(base, "fabric://lake/flights/month=7/", fabric=fab, columns=["distance"])
    assert [c.column for c in july.columns] == ["distance"]


def test_empty_current_data(tmp_path: Path, flights, baseline) -> None:
    empty = month(flights, 7).select(COLS).slice(0, 0)
    pq.write_table(empty, tmp_path / "empty.parquet")
    for src in (empty, str(tmp_path / "empty.parquet")):
        result = check(baseline, src)
        assert result.rows == 0
        assert {c.status for c in result.columns} == {"empty"}
        assert all(c.psi is None or np.isfinite(c.psi) for c in result.columns)
        json.loads(result.to_json())


def test_table_source_with_a_bad_snapshot_is_a_clear_error(baseline) -> None:
    # parsed before any catalog is opened; tables themselves: tests/drift/test_table_source.py
    with pytest.raises(DriftError, match="not a snapshot id"):
        check(baseline, "table:analytics.flights@latest")


def test_missing_source(tmp_path: Path, lake, baseline) -> None:
    fab, _ = lake
    with pytest.raises(ObjectNotFoundError):
        check(baseline, str(tmp_path / "nothing"))
    with pytest.raises(ObjectNotFoundError):
        check(baseline, "fabric://lake/flights/month=13/", fabric=fab)
    with pytest.raises(DriftError, match="cannot read drift data"):
        check(baseline, 42)


def test_fit_baseline_sources_and_errors(lake, flights) -> None:
    fab, root = lake
    a = fit_baseline("fabric://lake/flights/month=1/", ["distance", "carrier"], fabric=fab)
    b = fit_baseline(str(root / "flights" / "month=1"), ["distance", "carrier"])
    c = fit_baseline(month(flights, 1), ["distance", "carrier"], bins=5)
    assert a.rows == b.rows == c.rows == 27_004
    edges = [x.columns["distance"].histogram.edges for x in (a, b)]
    assert np.array_equal(*edges)
    assert len(c.columns["distance"].histogram.counts) <= 5
    assert a.source == "fabric://lake/flights/month=1/"
    with pytest.raises(BaselineError, match="nope"):
        fit_baseline(month(flights, 1), ["distance", "nope"])


def test_save_and_load_baseline_any_store(tmp_path: Path, lake, baseline) -> None:
    fab, root = lake
    save_baseline(baseline, "fabric://lake/baselines/q1.json", fab)
    assert (root / "baselines" / "q1.json").is_file()
    local = tmp_path / "deep" / "q1.json"
    save_baseline(baseline, local)
    for loaded in (load_baseline("fabric://lake/baselines/q1.json", fab), load_baseline(local)):
        assert loaded.to_json() == baseline.to_json()
    july = check("fabric://lake/baselines/q1.json", "fabric://lake/flights/month=7/", fabric=fab)
    assert july.baseline_source == "q1"
    (tmp_path / "bad.json").write_text('{"not": "a baseline"}')
    with pytest.raises(BaselineError):
        load_baseline(tmp_path / "bad.json")
    with pytest.raises(ObjectNotFoundError):
        load_baseline(tmp_path / "missing.json")


def test_result_json_round_trip(flights, baseline) -> None:
    result = check(baseline, month(flights, 7))
    data = json.loads(result.to_json())
    assert data["rows"] == 29_425
    assert [c["column"] for c in data["columns"]] == COLS
    assert data["worst_status"] == result.worst_status
    again = DriftResult.from_dict(data)
    assert again.to_dict() == result.to_dict()
    with pytest.raises(DriftError):
        result.exceeds("huge")


def test_drift_is_detected_on_real_data(flights, baseline) -> None:
    """July vs Q1: summer delays and schedule changes move dep_delay more than distance."""
    result = check(baseline, month(flights, 7))
    assert result["dep_delay"].psi > result["origin"].psi
    assert result["dep_delay"].expected_psi is not None and result["dep_delay"].expected_psi < 0.01


def test_fit_baseline_argument_errors_found_by_a_new_user() -> None:
    import pyarrow as pa

    from skyfabric.drift import fit_baseline
    from skyfabric.errors import BaselineError

    table = pa.table({"dep_delay": [1.0, 2.0, 3.0, None] * 50, "carrier": ["UA", "AA"] * 100})
    one = fit_baseline(table, "dep_delay")  # a single name, not its characters
    assert list(one.columns) == ["dep_delay"]
    with pytest.raises(BaselineError, match="columns is empty"):
        fit_baseline(table, [])
    for bad in (0, 1):
        with pytest.raises(BaselineError, match=">= 2"):
            fit_baseline(table, ["dep_delay"], bins=bad)
    typed = pa.table({"dep_delay": ["late"] * 10})  # a type change is a status, not a crash
    assert check(one, typed)["dep_delay"].status == "type_changed"


def test_baseline_fit_given_a_url_points_to_fit_baseline(lake) -> None:
    """``Baseline.fit`` reads pyarrow objects; given a URL its error named the internal
    ``histogram_columns`` only."""
    _, root = lake
    for url in ("fabric://lake/flights/month=1/", root / "flights" / "month=1"):
        with pytest.raises(DriftError, match=r"Baseline\.fit and histogram_columns read") as e:
            Baseline.fit(url, ["distance"])
        assert f"fix: use skyfabric.drift.fit_baseline({str(url)!r}, ...)" in str(e.value)
    assert fit_baseline(str(root / "flights" / "month=1"), ["distance"]).rows == 27_004


def test_columns_is_one_name_or_a_list_of_names_everywhere() -> None:
    """``check(b, src, columns='xi')`` split the name into characters ("column(s) x, i are
    not in the baseline") where ``fit_baseline`` took it as one name; ``columns=[]`` checked
    every column where ``fit_baseline`` refused it."""
    from skyfabric.drift.histogram import histogram_columns, iter_batches

    table = pa.table({"xi": [1.0, 2.0, 3.0] * 50, "y": ["a", "b", "c"] * 50})
    base = fit_baseline(table)
    assert [c.column for c in check(base, table, columns="xi").columns] == ["xi"]
    assert [c.column for c in check(base, table, columns=("y", "y")).columns] == ["y"]
    assert list(Baseline.fit(table, "xi").columns) == ["xi"]
    assert list(Baseline.fit(table, ["y", "xi", "y"]).columns) == ["y", "xi"]
    assert iter_batches(table, "xi")[0] == ["xi", "y"]
    assert next(iter_batches(table, "xi")[1]).schema.names == ["xi"]
    assert list(histogram_columns(table, base.templates())) == ["xi", "y"]
    for fit_or_check in (
        lambda cols: check(base, table, columns=cols),
        lambda cols: fit_baseline(table, cols),
        lambda cols: Baseline.fit(table, cols),
    ):
        with pytest.raises(BaselineError, match=r"columns is empty.*columns=None"):
            fit_or_check([])
        with pytest.raises(DriftError, match="columns must be a column name or a list"):
            fit_or_check(5)
        with pytest.raises(DriftError, match=r"columns must be names \(str\), got 1"):
            fit_or_check(["xi", 1])


def test_a_source_with_rows_but_no_binnable_column_says_so(tmp_path: Path) -> None:
    """Rows but only list/binary columns (or text that is string in one file and binary in
    another, promoted to binary) said "the baseline source yielded no batches; a baseline
    needs rows". The error names each column with its type and the fix."""
    only = tmp_path / "only"
    only.mkdir()
    pq.write_table(pa.table({"tags": [[1, 2]] * 50, "blob": [b"x"] * 50}), only / "a.parquet")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    pq.write_table(pa.table({"s": ["a", "b"] * 25}), mixed / "a.parquet")
    pq.write_table(pa.table({"s": [b"a", b"b"] * 25}), mixed / "b.parquet")
    expected = {
        only: ["'tags': list<element: int64>", "'blob': binary"],
        mixed: ["'s': binary (string in a.parquet, binary in b.parquet -> binary)"],
    }
    for folder, found in expected.items():
        with pytest.raises(BaselineError, match="can be binned") as info:
            fit_baseline(str(folder))
        message = str(info.value)
        assert "no batches" not in message and str(folder) in message
        assert all(f in message for f in found), message
        assert "numeric, temporal" in message and "--columns" in message and "fix:" in message
    with pytest.raises(BaselineError, match=r"no column of <pyarrow\.lib\.Table> can be binned"):
        Baseline.fit(pa.table({"tags": [[1, 2]] * 50}))
    index_only = pa.table({"__index_level_0__": [3, 5, 8] * 10, "tags": [[1]] * 30})
    with pytest.raises(BaselineError, match="name the index column") as info:
        fit_baseline(index_only)
    assert "'__index_level_0__': int64, the pandas index" in str(info.value)
    assert list(fit_baseline(index_only, "__index_level_0__").columns) == ["__index_level_0__"]
    with pytest.raises(BaselineError, match="columns is empty"):
        Baseline.fit(pa.table({"x": [1.0, 2.0] * 10}), columns=[])


def test_a_column_whose_type_changed_gets_its_own_status(tmp_path: Path, flights, baseline) -> None:
    """Numbers that became strings and strings that became numbers are each reported as
    ``type_changed`` (level significant); every other column is still computed."""
    july = month(flights, 7).select(COLS)
    retyped = july.set_column(
        COLS.index("dep_delay"), "dep_delay", pa.compute.cast(july["dep_delay"], pa.string())
    ).set_column(COLS.index("carrier"), "carrier", pa.array(np.arange(july.num_rows)))
    pq.write_table(retyped, tmp_path / "retyped.parquet")
    reference = check(baseline, july)
    for src in (retyped, str(tmp_path / "retyped.parquet")):
        result = check(baseline, src)
        for name, was, now in (("dep_delay", "double", "string"), ("carrier", "string", "int64")):
            col = result[name]
            assert col.status == "type_changed" and col.psi is None and col.current is None
            assert result.level(col) == "significant"
            assert f"was {was} in the baseline" in col.note and f"now {now}" in col.note
            assert "fix:" in col.note
        for name in ("arr_delay", "distance", "air_time", "origin"):  # still computed, same numbers
            assert result[name].psi == reference[name].psi
            assert result[name].current == reference[name].current
        assert result.worst_status == "significant"
        again = DriftResult.from_dict(json.loads(result.to_json()))
        assert again["dep_delay"].status == "type_changed"
    # widths may change: int32 delays and float32 distances still go into the same edges
    narrowed = july.set_column(
        COLS.index("distance"), "distance", pa.compute.cast(july["distance"], pa.float32())
    )
    assert check(baseline, narrowed)["distance"].psi == reference["distance"].psi


def test_an_empty_folder_is_a_clear_error_not_missing_columns(
    tmp_path: Path, lake, baseline
) -> None:
    fab, root = lake
    (tmp_path / "empty").mkdir()
    (tmp_path / "only_marker").mkdir()
    (tmp_path / "only_marker" / "_SUCCESS").write_text("")
    (root / "flights" / "month=8").mkdir(exist_ok=True)
    for src, kw in (
        (str(tmp_path / "empty"), {}),
        (str(tmp_path / "only_marker"), {}),
        ("fabric://lake/flights/month=8/", {"fabric": fab}),
    ):
        with pytest.raises(ObjectNotFoundError, match="no data files were found under") as info:
            check(baseline, src, **kw)
        assert src in str(info.value) and "fix:" in str(info.value)
        with pytest.raises(ObjectNotFoundError, match="no data files"):
            fit_baseline(src, ["distance"], **kw)


def test_a_stray_file_among_parquet_files_is_named_before_the_scan(
    tmp_path: Path, lake, flights, baseline
) -> None:
    """notes.csv in a folder of parquet would fail mid-scan with pyarrow's "magic bytes not
    found"; it is named up front. _SUCCESS and dot-files stay skipped."""
    fab, root = lake
    for folder in (tmp_path / "july", root / "stray"):
        folder.mkdir()
        pq.write_table(month(flights, 7), folder / "part-0.parquet")
        (folder / "_SUCCESS").write_text("")
        (folder / ".part-0.parquet.crc").write_text("x")
    assert check(baseline, str(tmp_path / "july")).rows == month(flights, 7).num_rows
    (tmp_path / "july" / "notes.csv").write_text("a,b\n1,2\n")
    (root / "stray" / "README.txt").write_text("written by the nightly job")
    for src, kw, name in (
        (str(tmp_path / "july"), {}, "notes.csv"),
        ("fabric://lake/stray/", {"fabric": fab}, "README.txt"),
    ):
        with pytest.raises(DriftError, match="that are not parquet") as info:
            check(baseline, src, **kw)
        assert name in str(info.value) and "fix: move or remove them" in str(info.value)


def test_globs_skip_hidden_names_and_take_their_format_from_the_pattern(
    tmp_path: Path, lake, flights, baseline
) -> None:
    """A glob matching _SUCCESS was refused ("rename them to start with '_'"), and a local
    glob whose first match was a stray notes.csv read every parquet file as CSV (a CSV parse
    error naming a parquet file). Globs now skip _ and . names, as folders do, and take the
    format from the pattern, so a stray file is named as not parquet."""
    fab, root = lake
    for base in (tmp_path, root):
        d = base / "glob-succ" / "month=7"
        d.mkdir(parents=True)
        pq.write_table(month(flights, 7), d / "part-0.parquet")
        (d / "_SUCCESS").write_text("")
        stray = base / "glob-stray"
        stray.mkdir()
        pq.write_table(month(flights, 7), stray / "part-0.parquet")
        (stray / "notes.csv").write_text("a,b\n1\n")
    rows = month(flights, 7).num_rows
    for src, kw in (
        (str(tmp_path / "glob-succ" / "month=*" / "*"), {}),
        ("fabric://lake/glob-succ/month=*/*", {"fabric": fab}),
    ):
        assert check(baseline, src, **kw).rows == rows
        assert fit_baseline(src, ["distance"], **kw).rows == rows
    for src, kw in (
        (str(tmp_path / "glob-stray" / "*"), {}),
        ("fabric://lake/glob-stray/*", {"fabric": fab}),
    ):
        with pytest.raises(DriftError, match="that are not parquet among 2") as info:
            check(baseline, src, **kw)
        assert "notes.csv" in str(info.value) and "fix:" in str(info.value)
    with pytest.raises(ObjectNotFoundError, match=r"no file or prefix at .*; fix: check the URL"):
        check(baseline, "fabric://lake/nope/", fabric=fab)


def test_a_source_that_is_not_parquet_data_names_the_problem(
    tmp_path: Path, lake, flights, baseline
) -> None:
    """One file that is not parquet was told to "rename them to start with '_'", /dev/null
    said only its name, and a folder of two CSV files counted one."""
    fab, _ = lake
    save_baseline(baseline, tmp_path / "b.json")
    save_baseline(baseline, "fabric://lake/baselines/swapped.json", fab)
    (tmp_path / "other.json").write_text('{"a": 1}')
    for name in ("a.csv", "b.csv"):
        (tmp_path / "csvs").mkdir(exist_ok=True)
        (tmp_path / "csvs" / name).write_text("dep_delay\n1\n")
    (tmp_path / "mixed").mkdir()
    pq.write_table(month(flights, 7), tmp_path / "mixed" / "part-0.parquet")
    (tmp_path / "mixed" / "a-notes.csv").write_text("a\n1\n")  # sorts first: pyarrow fails on it
    (tmp_path / "mixed" / "b-notes.txt").write_text("a\n")
    cases = [
        (str(tmp_path / "b.json"), {}, "is a skyfabric baseline JSON, not data"),
        ("fabric://lake/baselines/swapped.json", {"fabric": fab}, "look swapped"),
        (str(tmp_path / "other.json"), {}, "other.json' is not a parquet file"),
        ("/dev/null", {}, "'/dev/null' is a character device, not a parquet file"),
        (str(tmp_path / "csvs"), {}, "holds no parquet file: its 2 file(s) are not parquet"),
        (str(tmp_path / "mixed"), {}, "holds 2 file(s) that are not parquet among 3"),
    ]
    for src, kw, phrase in cases:
        for fn, args in ((check, (baseline, src)), (fit_baseline, (src,))):
            with pytest.raises(DriftError) as info:
                fn(*args, **kw)
            msg = str(info.value)
            assert phrase in msg and "fix:" in msg, msg
            assert "rename them" not in msg or "mixed" in src, msg
    with pytest.raises(DriftError, match=r"give a glob ending in \.csv") as info:
        check(baseline, str(tmp_path / "csvs"))
    assert f"{tmp_path / 'csvs'}/*.csv" in str(info.value)
    assert check(baseline, str(tmp_path / "csvs" / "*.csv"), columns=["dep_delay"]).rows == 2


@pytest.mark.xdist_group("servers")
def test_errors_on_an_object_store_name_the_users_urls(
    tmp_path: Path, flights, baseline, make_bucket
) -> None:
    """pyarrow names the files of a fabric:// S3 source ``<bucket>/<key>``; the messages
    name them as the user wrote them, ``fabric://<store>/<key>``."""
    s3 = make_bucket("s3")
    bucket = s3["bucket"]
    fab = skyfabric.connect({"stores": {"s3": s3}})
    part = tmp_path / "part-0.parquet"
    pq.write_table(month(flights, 7).select(COLS), part, row_group_size=5_000)
    fab.fs.put_file(str(part), "fabric://s3/stray/part-0.parquet")
    fab.fs.pipe_file("fabric://s3/stray/notes.txt", b"written by the nightly job")
    fab.fs.pipe_file("fabric://s3/torn/part-0.parquet", part.read_bytes()[:1000])
    save_baseline(baseline, "fabric://s3/b.json", fab)
    data = bytearray(part.read_bytes())
    data[4:60_000] = b"\xff" * (60_000 - 4)  # the pages of the first row groups: a mid-scan error
    fab.fs.pipe_file("fabric://s3/corrupt/part-0.parquet", bytes(data))
    cases = [
        ("fabric://s3/stray/", "'fabric://s3/stray/notes.txt'"),
        ("fabric://s3/torn/", "fabric://s3/torn/part-0.parquet"),
        ("fabric://s3/b.json", "look swapped"),
        ("fabric://s3/corrupt/", "fabric://s3/corrupt/part-0.parquet"),
    ]
    for src, phrase in cases:
        with pytest.raises((DriftError, OSError, pa.ArrowException)) as info:
            check(baseline, src, fabric=fab)
        msg = str(info.value)
        assert phrase in msg, msg
        assert f"{bucket}/" not in msg.replace(f"fabric://s3/{bucket}", ""), msg


def test_writing_to_a_directory_is_a_clear_error_and_leaves_nothing(
    tmp_path: Path, lake, flights, baseline, monkeypatch
) -> None:
    from skyfabric.drift import write_html, write_json

    fab, root = lake
    result = check(baseline, month(flights, 7))
    out = tmp_path / "reports"
    out.mkdir()
    (root / "reports").mkdir(exist_ok=True)
    calls = [
        (write_html, str(out), {}, "report.html"),
        (write_json, f"{out}/", {}, "drift.json"),
        (write_html, "fabric://lake/reports/", {"fabric": fab}, "report.html"),
        (write_html, "fabric://lake/reports", {"fabric": fab}, "report.html"),
    ]
    for fn, url, kw, example in calls:
        with pytest.raises(DriftError, match="is a directory") as info:
            fn(result, url, **kw)
        assert repr(url) in str(info.value) and f"/{example}" in str(info.value)
    with pytest.raises(DriftError, match="is a directory"):
        save_baseline(baseline, out)
    assert list(out.iterdir()) == [] and list((root / "reports").iterdir()) == []
    assert not list(tmp_path.glob(f"{TEMP_PREFIX}*"))

    def fail(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", fail)  # a write that fails half-way
    with pytest.raises(OSError, match="disk full"):
        write_html(result, str(out / "r.html"))
    assert list(out.iterdir()) == []


def test_unit_changes_to_nanoseconds_and_tiny_baselines_count_exactly() -> None:
    """Beyond 2**53 (a timestamp in ns) float64 thresholds round to multiples of 256 and
    tied values on an edge jumped bins (PSI 2.9 on unchanged data); edges of a tiny
    baseline that round up to one threshold in the new unit made it type_changed."""
    rng = np.random.default_rng(0)
    loads = 1_700_000_000_000_000 + np.sort(rng.integers(0, 86_400_000_000, 8))  # us
    us = rng.choice(loads, 100_000)
    base = fit_baseline(pa.table({"t": pa.array(us, pa.timestamp("us"))}))
    for t, values in ((pa.timestamp("ns"), us * 1000 + 999), (pa.timestamp("ms"), us // 1000)):
        got = check(base, pa.table({"t": pa.array(values, t)}))["t"]
        floored = us if t.unit == "ns" else (us // 1000) * 1000
        want = check(base, pa.table({"t": pa.array(floored, pa.timestamp("us"))}))["t"]
        assert got.current == want.current, t
        if t.unit == "ns":
            assert got.psi == 0.0 and got.status == "stable"
    ns = 1_700_000_000_000_001_024 + rng.integers(-5_000, 5_000, 10_000)
    nbase = fit_baseline(pa.table({"t": pa.array(ns, pa.timestamp("ns"))}))
    got = check(nbase, pa.table({"t": pa.array(ns // 1000, pa.timestamp("us"))}))["t"]
    ref = check(nbase, pa.table({"t": pa.array((ns // 1000) * 1000, pa.timestamp("ns"))}))["t"]
    assert got.current == ref.current
    secs = np.repeat(np.array([1, 2, 5, 10]), [30, 30, 20, 20])  # fractional, close edges
    tiny = fit_baseline(pa.table({"d": pa.array(secs, pa.duration("s"))}))
    got = check(tiny, pa.table({"d": pa.array(secs * 1000, pa.duration("ms"))}))["d"]
    assert got.status != "type_changed" and got.psi == 0.0


def test_a_temporal_unit_change_is_counted_on_rescaled_edges(tmp_path: Path) -> None:
    """Timestamps are binned by their integer storage: microseconds against millisecond
    edges would all land in the top bin. A unit change within one type is counted against
    edges in the new unit, giving exactly the counts of the values floored to the baseline's
    unit; a folder mixing ms and us files (read as us) checks as well."""
    rng = np.random.default_rng(5)
    n = 5_000
    ms = rng.integers(1_600_000_000_000, 1_700_000_000_000, n)
    base = fit_baseline(pa.table({"t": pa.array(ms, pa.timestamp("ms"))}))
    edges = base.columns["t"].histogram.edges
    ms_now = rng.integers(1_600_000_000_000, 1_720_000_000_000, n)
    ms_now[:50] = edges[1:6].repeat(10)  # exactly on edges
    sub_ms = rng.integers(0, 1000, n)
    cases = {
        pa.timestamp("us"): ms_now * 1000 + sub_ms,  # floor(us / 1000) == ms_now
        pa.timestamp("ns"): ms_now * 1_000_000 + sub_ms,
        pa.timestamp("s"): ms_now // 1000,
    }
    for t, values in cases.items():
        result = check(base, pa.table({"t": pa.array(values, t)}))
        floored = ms_now if t.unit != "s" else (ms_now // 1000) * 1000
        ref = check(base, pa.table({"t": pa.array(floored, pa.timestamp("ms"))}))
        assert result["t"].status not in ("type_changed", "missing_column"), t
        assert result["t"].current == ref["t"].current, t
        assert result["t"].psi == ref["t"].psi, t
    folder = tmp_path / "mixed"
    folder.mkdir()
    pq.write_table(
        pa.table({"t": pa.array(ms_now[:2500], pa.timestamp("ms"))}), folder / "a.parquet"
    )
    us = ms_now[2500:] * 1000 + sub_ms[2500:]
    pq.write_table(pa.table({"t": pa.array(us, pa.timestamp("us"))}), folder / "b.parquet")
    mixed = check(base, str(folder))
    assert (
        mixed["t"].current
        == check(base, pa.table({"t": pa.array(ms_now, pa.timestamp("ms"))}))["t"].current
    )
    utc = fit_baseline(pa.table({"t": pa.array(ms, pa.timestamp("ms", tz="UTC"))}))
    for zone in ("Etc/UTC", "+00:00", "Europe/Paris"):  # zoned values are UTC instants
        paris = check(utc, pa.table({"t": pa.array(ms_now * 1000, pa.timestamp("us", tz=zone))}))
        same = check(utc, pa.table({"t": pa.array(ms_now, pa.timestamp("ms", tz="UTC"))}))
        assert paris["t"].current == same["t"].current, zone
    others = {
        "timestamp[ms, tz=UTC]": pa.array(ms, pa.timestamp("ms", tz="UTC")),
        "date64[ms]": pa.array(ms, pa.date64()),
        "int64": pa.array(ms),
    }
    for name, arr in others.items():
        result = check(base, pa.table({"t": arr}))
        assert result["t"].status == "type_changed" and name in (result["t"].note or ""), name
        assert "was timestamp[ms] in the baseline" in (result["t"].note or "")
