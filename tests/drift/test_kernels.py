"""The numba kernels against numpy references, on raw Arrow buffers with offsets and nulls."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pytest

from skyfabric.drift import kernels as K

RNG = np.random.default_rng(20130101)


def _ref_bins(values: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Reference bin (count of inner edges <= x), NaN -> len(inner) + 1 (missing)."""
    b = np.searchsorted(inner, values, side="right")
    if values.dtype.kind == "f":
        b = np.where(np.isnan(values), len(inner) + 1, b)
    return b


def _ref_counts(
    values: np.ndarray, inner: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    b = _ref_bins(values, inner)
    if valid is not None:
        b = np.where(valid, b, len(inner) + 1)
    return np.bincount(b, minlength=len(inner) + 2)


def _from_ge(n_ok: int, ge: np.ndarray) -> np.ndarray:
    return -np.diff(np.concatenate(([n_ok], ge, [0])))


def _arrow_with_nulls(
    values: np.ndarray, offset: int, length: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(values view, bitmap bytes, validity reference, bit offset) of a sliced Arrow array."""
    mask = RNG.random(len(values)) < 0.3
    arr = pa.array(values, mask=mask).slice(offset, length)
    assert arr.offset == offset
    bufs = arr.buffers()
    view = np.frombuffer(bufs[1], dtype=values.dtype, count=offset + length)[offset:]
    bitmap = np.frombuffer(bufs[0], dtype=np.uint8)
    return view, bitmap, ~mask[offset : offset + length], offset


FLOATS = np.concatenate([RNG.standard_normal(5000), [np.nan, np.inf, -np.inf, 0.0, 1.0, -1.0]])


@pytest.mark.parametrize("m", [0, 1, 4, 6, 9, 32])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_count_ge_matches_searchsorted(m: int, dtype: type) -> None:
    values = FLOATS.astype(dtype)
    inner = np.sort(RNG.standard_normal(m))
    if m:
        values = np.concatenate([values, inner.astype(dtype)])  # exactly on edges
    ge = np.zeros(m, np.int64)
    n_ok = K.count_ge(values, inner, ge)
    ref = _ref_counts(values.astype(np.float64), inner)
    assert n_ok == len(values) - np.isnan(values).sum()
    np.testing.assert_array_equal(_from_ge(n_ok, ge), ref[: m + 1])


@pytest.mark.parametrize(
    "dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
)
def test_count_ge_integers(dtype: type) -> None:
    info = np.iinfo(dtype)
    values = RNG.integers(info.min, info.max, 4000, dtype=dtype, endpoint=True)
    tdtype = np.uint64 if dtype is np.uint64 else np.int64
    inner = np.unique(RNG.choice(values, 7)).astype(tdtype)
    ge = np.zeros(len(inner), np.int64)
    n_ok = K.count_ge(values, inner, ge)
    ref = np.bincount(np.searchsorted(inner, values, side="right"), minlength=len(inner) + 1)
    np.testing.assert_array_equal(_from_ge(n_ok, ge), ref)


@pytest.mark.parametrize("offset", [0, 1, 3, 8, 13, 1027])
def test_masked_kernels_honour_bitmap_offset(offset: int) -> None:
    values = np.concatenate([FLOATS, RNG.standard_normal(3000)])
    length = len(values) - offset - 5
    view, bitmap, valid, bit_offset = _arrow_with_nulls(values, offset, length)
    inner = np.sort(RNG.standard_normal(9))
    ref = _ref_counts(view, inner, valid)

    ge = np.zeros(9, np.int64)
    n_ok = K.count_ge_masked(view, bitmap, bit_offset, inner, ge)
    np.testing.assert_array_equal(_from_ge(n_ok, ge), ref[:10])
    assert length - n_ok == ref[10]

    out = np.zeros(11, np.int64)
    K.count_bsearch_masked(view, bitmap, bit_offset, _pad(inner), 9, out)
    np.testing.assert_array_equal(out, ref)

    edges = _uniform_edges(-2.0, 2.0, 10)
    out = np.zeros(11, np.int64)
    K.count_uniform_masked(view, bitmap, bit_offset, -2.0, 10 / 4.0, edges, out)
    np.testing.assert_array_equal(out, _ref_counts(view, edges[1:-1], valid))


@pytest.mark.parametrize("m", [0, 1, 2, 3, 4, 5, 8, 9, 13])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int16])
def test_masked_linear_count_for_every_edge_count(m: int, dtype: type) -> None:
    """The valid non-NaN count comes out of the pass over the first edge (``x < t0`` plus
    ``x >= t0``), whichever pass that is; it must still exclude nulls and NaN, count values
    lying on edges, and add to counts already in ``ge``."""
    if np.issubdtype(dtype, np.floating):
        inner = np.sort(RNG.standard_normal(m))
        values = np.concatenate([FLOATS, inner]).astype(dtype)
        thresholds = inner if dtype is np.float64 else inner.astype(dtype).astype(np.float64)
    else:
        values = RNG.integers(-50, 50, 5000).astype(dtype)
        thresholds = np.unique(RNG.integers(-60, 60, 40))[:m].astype(np.int64)
        m = len(thresholds)
    view, bitmap, valid, bit_offset = _arrow_with_nulls(values, 3, len(values) - 7)
    ref = _ref_counts(view.astype(np.float64), thresholds.astype(np.float64), valid)
    half = len(view) // 2
    ge = np.zeros(m, np.int64)
    n_ok = K.count_ge_masked(view[:half], bitmap, bit_offset, thresholds, ge)
    n_ok += K.count_ge_masked(view[half:], bitmap, bit_offset + half, thresholds, ge)
    np.testing.assert_array_equal(_from_ge(n_ok, ge), ref[: m + 1])
    assert len(view) - n_ok == ref[m + 1]


def _pad(inner: np.ndarray, sentinel: float | int = np.inf) -> np.ndarray:
    p = 1 << len(inner).bit_length()
    out = np.full(p, sentinel, dtype=inner.dtype)
    out[: len(inner)] = inner
    return out


def _uniform_edges(lo: float, hi: float, bins: int) -> np.ndarray:
    inner = lo + np.arange(1, bins) * ((hi - lo) / bins)
    return np.concatenate(([-np.inf], inner, [np.inf]))


@pytest.mark.parametrize("m", [1, 2, 7, 8, 33, 100, 1023, 1024])
def test_count_bsearch_matches_searchsorted(m: int) -> None:
    inner = np.sort(RNG.standard_normal(m))
    values = np.concatenate([FLOATS, inner, np.nextafter(inner, -np.inf)])
    out = np.zeros(m + 2, np.int64)
    K.count_bsearch(values, _pad(inner), m, out)
    np.testing.assert_array_equal(out, _ref_counts(values, inner))


def test_count_bsearch_integers_with_max_sentinel() -> None:
    values = np.array([np.iinfo(np.int64).min, -5, 0, 5, 99, np.iinfo(np.int64).max])
    inner = np.arange(0, 100, 2, dtype=np.int64)  # 50 thresholds
    out = np.zeros(len(inner) + 2, np.int64)
    K.count_bsearch(values, _pad(inner, np.iinfo(np.int64).max), len(inner), out)
    ref = np.bincount(np.searchsorted(inner, values, side="right"), minlength=len(inner) + 2)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("bins", [2, 10, 64, 1000])
def test_count_uniform_exact_on_edges(bins: int) -> None:
    lo, hi = -3.3, 7.1
    edges = _uniform_edges(lo, hi, bins)
    inner = edges[1:-1]
    values = np.concatenate(
        [
            FLOATS * 4,
            inner,
            np.nextafter(inner, -np.inf),
            np.nextafter(inner, np.inf),
            [lo, hi],
        ]
    )
    out = np.zeros(bins + 1, np.int64)
    K.count_uniform(values, lo, bins / (hi - lo), edges, out)
    np.testing.assert_array_equal(out, _ref_counts(values, inner))


def test_count_lut_clamps_garbage_under_nulls() -> None:
    indices = RNG.integers(0, 5, 3000).astype(np.int8)
    mask = RNG.random(3000) < 0.2
    garbage = indices.copy()
    garbage[mask] = -7  # whatever bytes a writer left under a null slot
    garbage[mask & (RNG.random(3000) < 0.5)] = 120
    arr = pa.Array.from_buffers(
        pa.int8(), 3000, [pa.array(~mask).buffers()[1], pa.py_buffer(garbage.tobytes())]
    )
    arr = arr.slice(11, 2900)
    bufs = arr.buffers()
    view = np.frombuffer(bufs[1], np.int8, count=11 + 2900)[11:]
    bitmap = np.frombuffer(bufs[0], np.uint8)
    lut = np.array([0, 1, 1, 2, 0], np.int64)
    out = np.zeros(4, np.int64)
    K.count_lut_masked(view, bitmap, 11, lut, 3, out)
    valid = ~mask[11:2911]
    ref = np.bincount(np.where(valid, lut[indices[11:2911]], 3), minlength=4)
    np.testing.assert_array_equal(out, ref)

    out = np.zeros(4, np.int64)
    K.count_lut(indices, lut, out)
    np.testing.assert_array_equal(out, np.bincount(lut[indices], minlength=4))


@pytest.mark.parametrize("offset", [0, 5, 8, 1029])
def test_count_bool_bit_packed(offset: int) -> None:
    values = RNG.random(5000) < 0.37
    mask = RNG.random(5000) < 0.25
    n = 5000 - offset - 3
    plain = pa.array(values).slice(offset, n)
    data = np.frombuffer(plain.buffers()[1], np.uint8)
    assert K.count_bool(data, offset, n) == values[offset : offset + n].sum()

    arr = pa.array(values, mask=mask).slice(offset, n)
    bufs = arr.buffers()
    n_true, n_valid = K.count_bool_masked(
        np.frombuffer(bufs[1], np.uint8), offset, np.frombuffer(bufs[0], np.uint8), offset, n
    )
    valid = ~mask[offset : offset + n]
    assert (n_true, n_valid) == ((values[offset : offset + n] & valid).sum(), valid.sum())


def test_kernels_release_the_gil_and_threads_sum_exactly() -> None:
    values = RNG.standard_normal(400_000)
    inner = np.sort(RNG.standard_normal(9))
    parts = np.array_split(values, 16)

    def count(part: np.ndarray) -> np.ndarray:
        ge = np.zeros(9, np.int64)
        return _from_ge(K.count_ge(part, inner, ge), ge)

    with ThreadPoolExecutor(4) as pool:
        threaded = sum(pool.map(count, parts))
    np.testing.assert_array_equal(threaded, count(values))
    np.testing.assert_array_equal(threaded, _ref_counts(values, inner)[:10])
