"""Files of one folder or prefix that disagree on column types (`skyfabric.drift.file_schemas`):
one promoted schema whatever the file order, and a clear error where no type holds them all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

import skyfabric
from servers import ServerSet, make_store_config
from skyfabric.cli.drift_cmds import EXIT_ERROR
from skyfabric.drift import Histogram, check, fit_baseline, histogram
from skyfabric.drift.engine import count_file
from skyfabric.drift.file_schemas import unify_file_schemas
from skyfabric.drift.sources import open_source
from skyfabric.errors import DriftError

RNG = np.random.default_rng(11)
N = 4_000
EDGES = [-np.inf, 40.0, 45.0, 50.0, 55.0, 60.0, np.inf]


def write(folder: Path, name: str, **columns: pa.Array) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), folder / name)


def reference(*parts: np.ndarray, missing: int = 0) -> Histogram:
    """Counts of the values of every file, computed here with numpy (right-open bins)."""
    values = np.concatenate([p.astype(np.float64) for p in parts])
    idx = np.searchsorted(np.asarray(EDGES), values, side="right") - 1
    counts = np.bincount(idx, minlength=len(EDGES) - 1)
    return Histogram("numeric", edges=np.asarray(EDGES), counts=counts, missing=missing)


def count_x(url: str, **kw) -> Histogram:
    base = fit_baseline(pa.table({"x": RNG.normal(50, 10, 1_000)}), ["x"])
    base.columns["x"].histogram = Histogram.numeric(EDGES)
    result = check(base, url, **kw)
    assert result["x"].status != "type_changed", result["x"]
    return result["x"].current


@pytest.mark.parametrize("ints_first", [True, False])
def test_int_and_double_files_count_as_double_in_either_order(
    tmp_path: Path, ints_first: bool
) -> None:
    """pyarrow alone takes the first file's int64 and fails on 55.9 ("truncated")."""
    ints = RNG.integers(30, 70, N)
    floats = RNG.normal(50, 10, N)
    a, b = ("a.parquet", "b.parquet") if ints_first else ("b.parquet", "a.parquet")
    write(tmp_path / "d", a, x=pa.array(ints))
    write(tmp_path / "d", b, x=pa.array(floats))
    src = open_source(str(tmp_path / "d"))
    assert src.schema.field("x").type == pa.float64() and not src.conflicts
    assert count_x(str(tmp_path / "d")) == reference(ints, floats)


def test_narrow_first_file_does_not_overflow_wider_ones(tmp_path: Path) -> None:
    small = RNG.integers(0, 100, N).astype(np.int32)
    big = RNG.integers(0, 100, N) + 2**40
    write(tmp_path / "d", "a.parquet", x=pa.array(small))
    write(tmp_path / "d", "b.parquet", x=pa.array(big))
    assert open_source(str(tmp_path / "d")).schema.field("x").type == pa.int64()
    got = count_x(str(tmp_path / "d"))
    assert got == reference(small, big) and got.total == 2 * N


def test_a_column_missing_from_the_first_file_is_counted_from_the_others(tmp_path: Path) -> None:
    """Before: ``missing_column`` (pyarrow's schema is the first file's)."""
    later = RNG.normal(50, 10, N)
    write(tmp_path / "d", "a.parquet", y=pa.array(RNG.normal(size=N)))
    write(tmp_path / "d", "b.parquet", x=pa.array(later), y=pa.array(RNG.normal(size=N)))
    assert count_x(str(tmp_path / "d")) == reference(later, missing=N)


def test_dictionary_and_plain_strings_count_together(tmp_path: Path) -> None:
    cats = np.array(["AA", "DL", "UA"])
    one, two = cats[RNG.integers(0, 3, N)], cats[RNG.integers(0, 3, N)]
    write(tmp_path / "d", "a.parquet", c=pa.array(one).dictionary_encode())
    write(tmp_path / "d", "b.parquet", c=pa.array(two))
    base = fit_baseline(pa.table({"c": one}), ["c"])
    got = check(base, str(tmp_path / "d"))["c"].current
    assert got == histogram(pa.array(np.concatenate([one, two])), got)


def test_types_no_promotion_holds_are_named_with_their_files(tmp_path: Path) -> None:
    """int64 in one file, strings in another: pyarrow alone parses or refuses depending on
    which file sorts first. In both orders a check reports the column as ``type_changed``
    naming both files and the fix, and still checks the others; a fit refuses it."""
    for first, second in ((pa.int64(), pa.string()), (pa.string(), pa.int64())):
        d = tmp_path / f"{first}-{second}"
        for name, t in (("a.parquet", first), ("b.parquet", second)):
            x = pa.array(RNG.integers(0, 9, N)).cast(t)
            write(d, name, x=x, y=pa.array(RNG.normal(size=N)))
        src = open_source(str(d))
        assert src.conflicts == {"x": f"{first} in a.parquet, {second} in b.parquet"}
        base = fit_baseline(pa.table({"x": RNG.integers(0, 9, N), "y": RNG.normal(size=N)}))
        result = check(base, str(d))
        assert result["x"].status == "type_changed" and result["x"].current is None
        note = result["x"].note or ""
        assert all(s in note for s in ("'x'", "a.parquet", "b.parquet", "Fix:", "columns="))
        assert result["y"].status == "stable" and result.rows == 2 * N
        assert result.worst_status == "significant"  # a scheduler alerts, as for a type change
        with pytest.raises(DriftError, match="disagree on the type of column") as info:
            fit_baseline(str(d))
        assert "'x'" in str(info.value) and "'y'" not in str(info.value)
        assert fit_baseline(str(d), ["y"]).rows == 2 * N


def test_conflicts_name_files_by_their_path_under_the_source(tmp_path: Path) -> None:
    write(tmp_path / "d" / "month=1", "part-0.parquet", x=pa.array(RNG.integers(0, 9, N)))
    write(tmp_path / "d" / "month=3", "part-0.parquet", x=pa.array(["a"] * N))
    assert open_source(str(tmp_path / "d")).conflicts == {
        "x": "int64 in month=1/part-0.parquet, string in month=3/part-0.parquet"
    }


def test_an_all_null_file_fits_dictionary_and_plain_strings(tmp_path: Path) -> None:
    """A file whose column is typed ``null`` (pandas writes one for an all-None column)
    beside dictionary and plain strings: a string column with those rows missing."""
    cats = pa.array(list("abcde") * 200)
    write(tmp_path / "d", "a.parquet", c=cats.dictionary_encode())
    write(tmp_path / "d", "b.parquet", c=cats)
    write(tmp_path / "d", "c.parquet", c=pa.nulls(1000))
    assert not open_source(str(tmp_path / "d")).conflicts
    got = fit_baseline(str(tmp_path / "d")).columns["c"].histogram
    assert got.missing == 1000 and got.total == 3000 and list(got.counts[:5]) == [400] * 5


def test_a_clash_in_a_column_no_baseline_bins_does_not_block_a_fit(tmp_path: Path) -> None:
    write(tmp_path / "d", "a.parquet", x=pa.array([1, 2] * 500), tags=pa.array([[1]] * 1000))
    write(tmp_path / "d", "b.parquet", x=pa.array([3, 4] * 500), tags=pa.array([["a"]] * 1000))
    assert "tags" in open_source(str(tmp_path / "d")).conflicts
    assert list(fit_baseline(str(tmp_path / "d")).columns) == ["x"]


def test_an_unreadable_parquet_file_is_named_in_any_position(tmp_path: Path) -> None:
    """An empty file sorting first used to be called "not parquet" (rename it to '_...')."""
    for empty in ("0.parquet", "c.parquet"):
        d = tmp_path / empty
        write(d, "b.parquet", x=pa.array(RNG.normal(size=N)))
        (d / empty).write_bytes(b"")
        with pytest.raises(DriftError, match="cannot read the parquet footer of") as info:
            open_source(str(d))
        assert empty in str(info.value) and "fix: remove or rewrite" in str(info.value)


def test_a_value_that_does_not_fit_the_promoted_type_names_the_files(tmp_path: Path) -> None:
    """A year-9999 sentinel in an ms file beside an ns file (promoted to ns), an int64 id
    beyond 2**53 beside a double file: pyarrow's cast fails mid-scan; the error names the
    columns, their files and the fix instead of a bare "out of bounds"."""
    cases = {
        "ts": (
            pa.array([253_402_214_400_000, 1_700_000_000_000], pa.timestamp("ms")),
            pa.array([1_700_000_000_000_000_000], pa.timestamp("ns")),
            "timestamp[ms] in a.parquet, timestamp[ns] in b.parquet -> timestamp[ns]",
        ),
        "big": (
            pa.array([2**53 + 1, 5]),
            pa.array([1.5]),
            "int64 in a.parquet, double in b.parquet -> double",
        ),
    }
    for name, (first, second, promoted) in cases.items():
        d = tmp_path / name
        write(d, "a.parquet", v=first)
        write(d, "b.parquet", v=second)
        src = open_source(str(d))
        assert src.promoted == {"v": promoted} and not src.conflicts
        base = fit_baseline(pa.table({"v": second}))
        with pytest.raises(DriftError, match="disagree on column types") as checking:
            check(base, str(d))
        with pytest.raises(DriftError, match="disagree on column types") as fitting:
            fit_baseline(str(d))
        for info in (checking, fitting):
            assert promoted in str(info.value) and "Fix:" in str(info.value)


def test_the_cli_fails_naming_the_conflict_and_writes_nothing(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from skyfabric.cli import app

    write(tmp_path / "d", "a.parquet", x=pa.array(RNG.integers(0, 9, N)))
    write(tmp_path / "d", "b.parquet", x=pa.array([str(v) for v in RNG.integers(0, 9, N)]))
    base = tmp_path / "base.json"
    res = CliRunner().invoke(app, ["drift", "baseline", str(tmp_path / "d"), "--out", str(base)])
    assert res.exit_code == EXIT_ERROR and "disagree" in res.output, res.output
    assert not base.exists()


def test_same_schema_folders_are_left_as_pyarrow_opened_them(tmp_path: Path) -> None:
    for name in ("a.parquet", "b.parquet"):
        write(tmp_path / "d", name, x=pa.array(RNG.normal(size=N)))
    data = pads.dataset(tmp_path / "d", format="parquet")
    assert unify_file_schemas(data) == (data, {}, {})


def test_partition_columns_inside_the_files_are_read_from_the_files(tmp_path: Path) -> None:
    """pandas writes ``month`` into ``month=1/part-0.parquet``: pyarrow's hive discovery
    refuses to open that ("Unable to merge: ... int64 vs int32")."""
    for m in (1, 2):
        write(tmp_path / "d" / f"month={m}", "p.parquet", x=pa.array([m] * N), month=[m] * N)
    src = open_source(str(tmp_path / "d"))
    assert src.schema.field("month").type == pa.int64()
    assert fit_baseline(str(tmp_path / "d"), ["x", "month"]).rows == 2 * N


@pytest.mark.parametrize("inside_first", [True, False])
def test_partition_values_survive_files_that_hold_the_column_and_files_that_do_not(
    tmp_path: Path, inside_first: bool
) -> None:
    """A job version change: months 1-2 hold ``month`` in the files, months 3-4 do not (or
    the reverse). Every row keeps its month, whichever sorts first."""
    for m in (1, 2, 3, 4):
        holds = (m <= 2) == inside_first
        cols = {"x": pa.array([float(m)] * 10), **({"month": [m] * 10} if holds else {})}
        write(tmp_path / "d" / f"month={m}", "p.parquet", **cols)
    fab = skyfabric.connect({"stores": {"t": {"kind": "local", "path": str(tmp_path)}}})
    for url in (str(tmp_path / "d"), "fabric://t/d/", "fabric://t/d/month=*/*.parquet"):
        got = open_source(url, fabric=fab).data.to_table().sort_by("x")
        assert got["month"].to_pylist() == [m for m in (1, 2, 3, 4) for _ in range(10)], url


def test_partition_keys_fixed_by_the_url_are_not_columns(tmp_path: Path) -> None:
    """Fitting on ``month=1/`` and checking ``month=2/`` must not alert on ``month`` (a
    constant of each URL), and a fabric:// URL reads the same columns as the local path."""
    for m in (1, 2):
        write(tmp_path / "lake" / "t" / f"month={m}", "p.parquet", x=RNG.normal(size=N))
    fab = skyfabric.connect({"stores": {"lake": {"kind": "local", "path": str(tmp_path / "lake")}}})
    month1 = ("fabric://lake/t/month=1/", str(tmp_path / "lake" / "t" / "month=1"))
    for url in month1:
        assert open_source(url, fabric=fab).schema.names == ["x"]
    base = fit_baseline(month1[0], fabric=fab)
    assert list(base.columns) == ["x"]
    assert check(base, "fabric://lake/t/month=2/", fabric=fab).worst_status == "stable"
    whole = open_source("fabric://lake/t/", fabric=fab)  # the key varies there: a column
    assert whole.schema.names == ["x", "month"]
    assert open_source("fabric://lake/t/month=*/*.parquet", fabric=fab).schema.names[-1] == "month"
    local_glob = str(tmp_path / "lake" / "t" / "month=*" / "*.parquet")  # as the fabric glob
    assert open_source(local_glob).schema.names == ["x", "month"]


SERVERS = pytest.mark.xdist_group("servers")


@SERVERS
def test_object_store_prefixes_are_unified_for_both_engines(
    tmp_path: Path, servers: ServerSet, local_store_root: Path
) -> None:
    """Hive partitions on the moto S3 server, an int64 month then a double one: the local
    scan and the Dask per-file task both read them as double."""
    fab = skyfabric.connect(
        {"stores": {"s3": make_store_config("s3", servers, local_root=local_store_root)}}
    )
    ints = RNG.integers(30, 70, N)
    floats = RNG.normal(50, 10, N)
    write(tmp_path / "m" / "month=1", "part-0.parquet", x=pa.array(ints))
    write(tmp_path / "m" / "month=2", "part-0.parquet", x=pa.array(floats))
    for path in sorted((tmp_path / "m").rglob("*.parquet")):
        rel = path.relative_to(tmp_path / "m").as_posix()
        fab.fs.put_file(str(path), f"fabric://s3/mixed/{rel}")
    url = "fabric://s3/mixed/"
    assert count_x(url, fabric=fab) == reference(ints, floats)
    src = open_source(url, fabric=fab)
    assert src.schema.field("x").type == pa.float64() and "month" in src.schema.names
    tmpl = {"x": Histogram.numeric(EDGES)}
    parts = [count_file(fab.config, t, ["x"], tmpl) for t in src.file_tasks()]
    assert sum(p.histograms["x"] for p in parts) == reference(ints, floats)


def test_a_folder_named_like_a_glob_is_read_as_a_folder(tmp_path: Path) -> None:
    """``run[1]/`` exists: it is that folder, not a pattern matching ``run1``."""
    write(tmp_path / "run[1]", "a.parquet", x=pa.array([1.0, 2.0]))
    write(tmp_path / "run1", "b.parquet", x=pa.array([3.0]))
    fab = skyfabric.connect({"stores": {"t": {"kind": "local", "path": str(tmp_path)}}})
    for url in (str(tmp_path / "run[1]"), "fabric://t/run[1]/"):
        assert open_source(url, fabric=fab).data.to_table()["x"].to_pylist() == [1.0, 2.0]
    assert len(open_source("fabric://t/run*/*.parquet", fabric=fab).data.files) == 2


def test_a_column_named_twice_is_fitted_and_checked_once(tmp_path: Path) -> None:
    write(tmp_path / "d", "a.parquet", x=pa.array(RNG.normal(size=N)), y=pa.array([1] * N))
    base = fit_baseline(str(tmp_path / "d"), ["x", "x", "y"])
    assert list(base.columns) == ["x", "y"]
    assert [c.column for c in check(base, str(tmp_path / "d"), columns=["x", "x"]).columns] == ["x"]


def test_a_directory_given_as_a_file_to_read_says_so(tmp_path: Path) -> None:
    from skyfabric.drift import load_baseline

    with pytest.raises(DriftError, match="is a directory; fix: give the path of a file"):
        load_baseline(str(tmp_path))


def test_timestamps_in_different_zones_merge_naive_ones_do_not(tmp_path: Path) -> None:
    """Zoned timestamps are UTC instants whatever the zone (UTC, Etc/UTC, Europe/Paris);
    a naive one is a wall clock and stays a conflict."""
    ms = RNG.integers(1_600_000_000_000, 1_700_000_000_000, N)
    write(tmp_path / "z", "a.parquet", t=pa.array(ms, pa.timestamp("ms", tz="UTC")))
    write(tmp_path / "z", "b.parquet", t=pa.array(ms * 1000, pa.timestamp("us", tz="Etc/UTC")))
    src = open_source(str(tmp_path / "z"))
    assert src.schema.field("t").type == pa.timestamp("us", tz="UTC") and not src.conflicts
    base = fit_baseline(pa.table({"t": pa.array(ms, pa.timestamp("ms", tz="UTC"))}))
    got = check(base, str(tmp_path / "z"))["t"]
    assert got.current.total == 2 * N and got.psi == 0.0
    write(tmp_path / "n", "a.parquet", t=pa.array(ms, pa.timestamp("ms", tz="UTC")))
    write(tmp_path / "n", "b.parquet", t=pa.array(ms, pa.timestamp("ms")))
    assert "t" in open_source(str(tmp_path / "n")).conflicts


def test_ordered_and_unordered_categoricals_merge_whatever_their_index_width(
    tmp_path: Path,
) -> None:
    """pandas writes ``Categorical(ordered=True)`` as an ordered dictionary: beside an
    unordered one (of any index width) pyarrow's merge refused it, so a fit failed
    ("disagree on the type") and a check reported ``type_changed``. The order of the
    categories plays no part in binning."""
    values = pa.array(["lo", "hi", "mid"] * 400)
    ordered = values.dictionary_encode().cast(pa.dictionary(pa.int8(), pa.string(), True))
    unordered = values.dictionary_encode().cast(pa.dictionary(pa.int32(), pa.string()))
    for first, second in ((ordered, unordered), (unordered, ordered)):
        d = tmp_path / str(first.type.ordered)
        write(d, "a.parquet", lvl=first)
        write(d, "b.parquet", lvl=second)
        src = open_source(str(d))
        assert not src.conflicts
        assert src.schema.field("lvl").type == pa.dictionary(pa.int32(), pa.string())
        base = fit_baseline(str(d))
        assert list(base.columns["lvl"].histogram.counts) == [800, 800, 800, 0]
        result = check(base, str(d))
        assert result["lvl"].status == "stable" and result["lvl"].psi == 0.0
        ordered_base = fit_baseline(pa.table({"lvl": ordered}))  # baseline-vs-current types
        assert check(ordered_base, str(d))["lvl"].psi == 0.0
    plain = tmp_path / "plain"  # with plain strings too: they decode to strings
    write(plain, "a.parquet", lvl=ordered)
    write(plain, "b.parquet", lvl=unordered)
    write(plain, "c.parquet", lvl=values)
    assert open_source(str(plain)).schema.field("lvl").type == pa.string()
    assert fit_baseline(str(plain)).columns["lvl"].histogram.total == 3 * len(values)
