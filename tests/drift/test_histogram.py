"""Histogram: bins, merging, JSON, every Arrow type, sources, batches and threads."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skyfabric.drift.histogram import MISSING, OTHER, Histogram, histogram, histogram_columns
from skyfabric.errors import DriftError

INF = np.inf
RNG = np.random.default_rng(7)


def ref_counts(values: np.ndarray, valid: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, int]:
    """Independent reference: searchsorted(edges, x, 'right') - 1, +inf in the last bin."""
    nbins = len(edges) - 1
    x = values.astype(np.float64)
    ok = valid & ~np.isnan(x)
    b = np.minimum(np.searchsorted(edges, x[ok], side="right") - 1, nbins - 1)
    return np.bincount(b, minlength=nbins), int((~ok).sum())


def numeric(*inner: float) -> Histogram:
    return Histogram.numeric([-INF, *inner, INF])


# --- the dataclass ----------------------------------------------------------------------


def test_bins_validation() -> None:
    with pytest.raises(DriftError, match="start at -inf"):
        Histogram.numeric([0.0, 1.0, INF])
    with pytest.raises(DriftError, match="strictly increasing"):
        Histogram.numeric([-INF, 1.0, 1.0, INF])
    with pytest.raises(DriftError, match="distinct"):
        Histogram.categorical(["a", "a"])
    with pytest.raises(DriftError, match="counts must be"):
        Histogram("numeric", edges=[-INF, INF], counts=np.array([1, 2]))
    with pytest.raises(DriftError, match="counts must be"):
        Histogram("numeric", edges=[-INF, INF], counts=np.array([-1]))


def test_add_merges_and_checks_bins() -> None:
    a = Histogram("numeric", edges=[-INF, 0.0, INF], counts=np.array([1, 2]), missing=3)
    b = Histogram("numeric", edges=[-INF, 0.0, INF], counts=np.array([10, 20]), missing=30)
    c = a + b
    assert c.counts.tolist() == [11, 22] and c.missing == 33 and c.total == 66
    assert sum([a, b]) == c  # __radd__ from 0
    assert a.counts.tolist() == [1, 2]  # operands untouched
    with pytest.raises(DriftError, match="different bins"):
        a + numeric(1.0)
    with pytest.raises(DriftError, match="different bins"):
        a + Histogram.categorical(["x"])


def test_proportions_labels_and_empty_like() -> None:
    h = Histogram("categorical", categories=["a", "b"], counts=np.array([1, 2, 3]), missing=4)
    assert h.nbins == 3
    np.testing.assert_allclose(h.proportions(), [0.1, 0.2, 0.3, 0.4])
    assert h.labels == ["a", "b", OTHER, MISSING]
    e = Histogram.empty_like(h)
    assert e.total == 0 and e.same_bins(h) and e.proportions().tolist() == [0, 0, 0, 0]
    assert numeric(0.5).labels == ["[-inf, 0.5)", "[0.5, inf)", MISSING]


def test_json_round_trip_is_exact_and_strict() -> None:
    weird = [-1e308, -0.1 - 0.2, -5e-324, 0.0, 1 / 3, 2.0**53 + 2, 1.7976931348623157e308]
    h = Histogram("numeric", edges=[-INF, *weird, INF], counts=np.arange(8), missing=9)
    text = json.dumps(h.to_dict(), allow_nan=False)  # no bare Infinity/NaN
    assert '"-Infinity"' in text and '"Infinity"' in text
    back = Histogram.from_dict(json.loads(text))
    assert back == h
    assert back.edges.tobytes() == h.edges.tobytes()  # bit-exact
    cat = Histogram("categorical", categories=["é", "", "a b"], counts=[1, 2, 3, 4])
    assert Histogram.from_dict(json.loads(json.dumps(cat.to_dict()))) == cat
    with pytest.raises(DriftError):
        Histogram.from_dict(
            {"kind": "numeric", "edges": ["-Infinity", "NaN", "Infinity"], "counts": [0, 0]}
        )


# --- bin semantics ------------------------------------------------------------------------


def test_right_open_bins_integer_data_on_edges() -> None:
    h = histogram(pa.array([0, 1, 2, 3, 4, 5, 9, 10], pa.int64()), numeric(2.0, 5.0, 9.0))
    # [-inf,2): 0,1   [2,5): 2,3,4   [5,9): 5   [9,inf): 9,10  (a value on the largest edge)
    assert h.counts.tolist() == [2, 3, 1, 2]


def test_infinities_nan_and_nulls() -> None:
    arr = pa.array([-INF, INF, np.nan, None, 3.0, 3.0], pa.float64())
    h = histogram(arr, numeric(0.0, 3.0))
    assert h.counts.tolist() == [1, 0, 3] and h.missing == 2 and h.total == 6


@pytest.mark.parametrize(
    "typ",
    [
        pa.int8(),
        pa.int16(),
        pa.int32(),
        pa.int64(),
        pa.uint8(),
        pa.uint16(),
        pa.uint32(),
        pa.uint64(),
        pa.float32(),
        pa.float64(),
        pa.float16(),
    ],
)
def test_numeric_widths(typ: pa.DataType) -> None:
    raw = RNG.integers(0, 100, 2000)
    mask = RNG.random(2000) < 0.1
    values = raw.astype(np.float16) if typ == pa.float16() else raw
    arr = pa.array(values, mask=mask, type=typ).slice(3, 1990)
    edges = np.array([-INF, 10, 10.5, 50, 99, INF])
    h = histogram(arr, Histogram.numeric(edges))
    counts, missing = ref_counts(raw[3:1993], ~mask[3:1993], edges)
    assert h.counts.tolist() == counts.tolist() and h.missing == missing


def test_int64_beyond_2_53_compared_exactly() -> None:
    big = 2**60
    arr = pa.array([big - 1, big, big + 1, -(2**63), 2**63 - 1], pa.int64())
    h = histogram(arr, numeric(float(big)))  # float(big) is exact; big-1 is not representable
    assert h.counts.tolist() == [2, 3]
    u = pa.array([2**64 - 1, 0, 2**63], pa.uint64())
    assert histogram(u, numeric(-1.0, 2.0**63)).counts.tolist() == [0, 1, 2]


def test_temporal_types_bin_their_integer_storage() -> None:
    ts = pa.array([dt.datetime(2013, 1, d) for d in (1, 2, 3)] + [None], pa.timestamp("us"))
    cut = float(pa.scalar(dt.datetime(2013, 1, 2), pa.timestamp("us")).value)
    assert histogram(ts, numeric(cut)).counts.tolist() == [1, 2]
    tz = ts.cast(pa.timestamp("ns", tz="UTC"))
    cut_ns = cut * 1000
    assert histogram(tz, numeric(cut_ns)).counts.tolist() == [1, 2]
    d32 = pa.array([dt.date(1970, 1, 1), dt.date(1970, 1, 11)], pa.date32())
    assert histogram(d32, numeric(10.0)).counts.tolist() == [1, 1]
    d64 = d32.cast(pa.date64())
    assert histogram(d64, numeric(10 * 86_400_000.0)).counts.tolist() == [1, 1]
    dur = pa.array([1, 5, None], pa.duration("s"))
    h = histogram(dur, numeric(5.0))
    assert h.counts.tolist() == [1, 1] and h.missing == 1
    t32 = pa.array([1, 7], pa.time32("s"))
    assert histogram(t32, numeric(5.0)).counts.tolist() == [1, 1]


def test_decimal_and_null_type() -> None:
    d = pa.array([decimal.Decimal("1.5"), None, decimal.Decimal("-2")], pa.decimal128(5, 2))
    h = histogram(d, numeric(0.0))
    assert h.counts.tolist() == [1, 1] and h.missing == 1
    h = histogram(pa.nulls(4), numeric(0.0))
    assert h.counts.tolist() == [0, 0] and h.missing == 4


def test_bool_as_categories_and_as_numbers() -> None:
    arr = pa.array([True, False, None, True] * 5).slice(1, 17)
    cat = histogram(arr, Histogram.categorical(["true", "false"]))
    py = arr.to_pylist()
    assert cat.counts.tolist() == [py.count(True), py.count(False), 0]
    assert cat.missing == py.count(None)
    only_true = histogram(arr, Histogram.categorical(["true"]))
    assert only_true.counts.tolist() == [py.count(True), py.count(False)]
    num = histogram(arr, numeric(0.5))
    assert num.counts.tolist() == [py.count(False), py.count(True)]


@pytest.mark.parametrize("typ", [pa.string(), pa.large_string(), pa.string_view()])
def test_plain_strings(typ: pa.DataType) -> None:
    values = ["UA", "AA", None, "ZZ", "", "UA", "B6"] * 3
    arr = pa.array(values, typ).slice(2, 17)
    h = histogram(arr, Histogram.categorical(["UA", "AA", ""]))
    sl = values[2:19]
    other = sum(v not in ("UA", "AA", "", None) for v in sl)
    assert h.counts.tolist() == [sl.count("UA"), sl.count("AA"), sl.count(""), other]
    assert h.missing == sl.count(None)


@pytest.mark.parametrize(
    "index_type", [pa.int8(), pa.uint8(), pa.int16(), pa.int32(), pa.int64(), pa.uint32()]
)
def test_dictionary_strings_with_null_indices_and_null_entries(index_type: pa.DataType) -> None:
    dictionary = pa.array(["EWR", None, "JFK", "LGA", "XXX"])
    idx = RNG.integers(0, 5, 1000)
    mask = RNG.random(1000) < 0.15
    arr = pa.DictionaryArray.from_arrays(pa.array(idx, index_type, mask=mask), dictionary)
    arr = arr.slice(13, 950)
    h = histogram(arr, Histogram.categorical(["JFK", "EWR", "LGA"]))
    names = np.array(["EWR", None, "JFK", "LGA", "XXX"], dtype=object)[idx[13:963]]
    valid = ~mask[13:963]
    exp = [int(np.sum(valid & (names == c))) for c in ("JFK", "EWR", "LGA")]
    exp.append(int(np.sum(valid & (names == "XXX"))))
    assert h.counts.tolist() == exp
    assert h.missing == int(np.sum(~valid | (names == None)))  # noqa: E711
    chunked = pa.chunked_array([arr.slice(0, 100), arr.slice(100)])
    assert histogram(chunked, h) == h


def test_dictionary_of_numbers_into_numeric_edges() -> None:
    arr = pa.DictionaryArray.from_arrays(
        pa.array([0, 1, 2, None, 2], pa.int8()), pa.array([1.0, np.nan, 7.0])
    )
    h = histogram(arr, numeric(5.0))
    assert h.counts.tolist() == [1, 2] and h.missing == 2


@pytest.mark.parametrize("threads", [1, 2])
def test_batches_with_changing_dictionaries(threads: int) -> None:
    # a plan reuses the lookup table of an equal dictionary (batches of one parquet column
    # chunk share theirs); batches whose dictionaries differ, reorder or grow are binned anew
    idx = pa.array([0, 0, 1, 2, None, 1], pa.int32())
    dicts = [["JFK", "EWR", "ZZZ"], ["EWR", "JFK", "ZZZ"], ["JFK", "EWR", "ZZZ"], ["LGA"] * 3]
    nums = [[1.0, 7.0, np.nan], [7.0, 1.0, np.nan], [7.0, 7.0, 7.0], [1.0, 7.0, np.nan]]
    order = (0, 0, 1, 1, 2, 0, 3, 3, 1)  # equal dictionaries in a row, and changes
    batches = [
        pa.record_batch(
            {
                "c": pa.DictionaryArray.from_arrays(idx, pa.array(dicts[k])),
                "x": pa.DictionaryArray.from_arrays(idx, pa.array(nums[k])),
            }
        )
        for k in order
    ]
    templates = {"c": Histogram.categorical(["JFK", "EWR"]), "x": numeric(5.0)}
    got = histogram_columns(iter(batches), templates, threads=threads)
    table = pa.Table.from_batches(batches)
    names = np.array(table["c"].to_pylist(), dtype=object)
    values = np.array([np.nan if v is None else v for v in table["x"].to_pylist()])
    assert got["c"].counts.tolist() == [
        int(np.sum(names == "JFK")),
        int(np.sum(names == "EWR")),
        int(np.sum((names == "ZZZ") | (names == "LGA"))),
    ]
    assert got["c"].missing == int(np.sum(names == None))  # noqa: E711
    assert got["x"].counts.tolist() == [int(np.sum(values < 5)), int(np.sum(values >= 5))]
    assert got["x"].missing == int(np.sum(np.isnan(values)))


def test_strings_into_numeric_edges_is_a_clear_error() -> None:
    with pytest.raises(DriftError, match="cannot bin"):
        histogram(pa.array(["a"]), numeric(0.0))


def test_empty_inputs_and_numpy() -> None:
    assert histogram(pa.array([], pa.float64()), numeric(0.0)).total == 0
    assert histogram(pa.chunked_array([], pa.float64()), numeric(0.0)).total == 0
    h = histogram(np.array([1.0, np.nan, -1.0]), numeric(0.0))
    assert h.counts.tolist() == [1, 1] and h.missing == 1


@pytest.mark.parametrize("inner", [np.linspace(-3, 3, 99), np.sort(RNG.standard_normal(199))])
def test_many_bins_search_and_uniform_paths(inner: np.ndarray) -> None:
    x = np.concatenate([RNG.standard_normal(20_000) * 2, inner, [INF, -INF, np.nan]])
    mask = RNG.random(len(x)) < 0.1
    edges = np.concatenate(([-INF], inner, [INF]))
    for valid in (np.ones(len(x), bool), ~mask):
        arr = pa.array(x, mask=~valid).slice(5)
        h = histogram(arr, Histogram.numeric(edges))
        counts, missing = ref_counts(x[5:], valid[5:], edges)
        assert h.counts.tolist() == counts.tolist() and h.missing == missing
    ints = pa.array(np.round(x[np.isfinite(x)] * 10).astype(np.int32))
    h = histogram(ints, Histogram.numeric(edges * 10))
    counts, _ = ref_counts(ints.to_numpy(), np.ones(len(ints), bool), edges * 10)
    assert h.counts.tolist() == counts.tolist()


# --- property test ----------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    values=hnp.arrays(
        np.float64,
        st.integers(0, 300),
        elements=st.one_of(st.floats(-1e6, 1e6), st.sampled_from([np.nan, INF, -INF])),
    ),
    null_p=st.floats(0, 1),
    inner=st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=40, unique=True),
    start=st.integers(0, 40),
    stop_back=st.integers(0, 40),
    as_int=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_counts_match_searchsorted(
    values: np.ndarray,
    null_p: float,
    inner: list[float],
    start: int,
    stop_back: int,
    as_int: bool,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    if as_int:
        values = np.nan_to_num(values, nan=0.0, posinf=1e6, neginf=-1e6).astype(np.int64)
    mask = rng.random(len(values)) < null_p
    edges = np.concatenate(([-INF], np.sort(np.array(inner, dtype=np.float64)), [INF]))
    arr = pa.array(values, mask=mask)
    stop = max(start, len(values) - stop_back)
    sliced = arr.slice(min(start, len(values)), stop - min(start, len(values)))
    h = histogram(sliced, Histogram.numeric(edges))
    s = slice(min(start, len(values)), stop)
    counts, missing = ref_counts(values[s], ~mask[s], edges)
    assert h.counts.tolist() == counts.tolist()
    assert h.missing == missing
    assert h.total == len(sliced)


# --- sources, batches, threads ----------------------------------------------------------


@pytest.fixture(scope="module")
def table() -> pa.Table:
    n = 50_000
    x = RNG.standard_normal(n)
    return pa.table(
        {
            "x": pa.array(x, mask=RNG.random(n) < 0.05),
            "i": pa.array(RNG.integers(-50, 50, n).astype(np.int8)),
            "s": pa.array(RNG.choice(["a", "b", "c", "d"], n)).dictionary_encode(),
            "b": pa.array(RNG.random(n) < 0.3),
        }
    )


@pytest.fixture(scope="module")
def templates() -> dict[str, Histogram]:
    return {
        "x": numeric(-1.0, 0.0, 0.5, 2.0),
        "i": numeric(-10.0, 0.0, 10.0),
        "s": Histogram.categorical(["a", "b"]),
        "b": Histogram.categorical(["false", "true"]),
        "absent": numeric(0.0),
    }


def test_sources_and_splits_give_identical_counts(
    table: pa.Table, tmp_path, templates: dict[str, Histogram]
) -> None:
    one = histogram_columns(table.combine_chunks(), templates)
    assert set(one) == {"x", "i", "s", "b"}  # a column absent from the source is left out
    for name in one:
        assert one[name] == histogram(table.column(name), templates[name])
    batches = table.to_batches(max_chunksize=997)
    with_empty = [batches[0].slice(0, 0), *batches, batches[0].slice(0, 0)]
    (tmp_path / "ds").mkdir()
    for k, start in enumerate(range(0, table.num_rows, 7000)):
        pq.write_table(
            table.slice(start, 7000), tmp_path / "ds" / f"part-{k}.parquet", row_group_size=3000
        )
    sources = {
        "batches": with_empty,
        "reader": pa.RecordBatchReader.from_batches(table.schema, iter(with_empty)),
        "table": pa.Table.from_batches(with_empty),
        "generator": (b for b in with_empty),
        "dataset": pads.dataset(tmp_path / "ds"),
        "record_batch": table.combine_chunks().to_batches()[0],
    }
    for label, source in sources.items():
        got = histogram_columns(source, templates)
        for name in ("x", "i", "b") if label == "dataset" else one:
            assert got[name] == one[name], (label, name)
        if label == "dataset":  # parquet round-trip keeps the categories
            assert got["s"].counts.tolist() == one["s"].counts.tolist()
    threaded = histogram_columns(with_empty, templates, threads=4)
    assert all(threaded[n] == one[n] for n in one)
    with ThreadPoolExecutor(4) as pool:
        parts = list(pool.map(lambda b: histogram_columns(b, templates), batches))
    assert all(sum(p[n] for p in parts) == one[n] for n in one)


def test_empty_sources(templates: dict[str, Histogram], table: pa.Table) -> None:
    got = histogram_columns(table.slice(0, 0), templates)
    assert set(got) == {"x", "i", "s", "b"} and all(h.total == 0 for h in got.values())
    got = histogram_columns([], templates)  # no schema, no batch: every column, empty
    assert set(got) == set(templates) and all(h.total == 0 for h in got.values())
    with pytest.raises(DriftError, match="cannot read batches"):
        histogram_columns(42, templates)
    for url in ("fabric://local/flights/month=2/", Path("flights")):  # not iterated as batches
        with pytest.raises(DriftError, match="or open it first with"):
            histogram_columns(url, templates)
