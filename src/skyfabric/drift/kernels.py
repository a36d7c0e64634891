"""Tiny numba kernels that count Arrow value buffers into histogram bins, in place.

Every kernel reads numpy *views* of Arrow buffers (``np.frombuffer`` over ``Array.buffers()``,
sliced by the array offset), never a copy of the data. Validity bitmaps are passed whole with
their bit offset (Arrow's LSB bit order, bit ``i`` of the array is bit ``(offset + i) % 8`` of
byte ``(offset + i) // 8``). All kernels are ``@njit(nogil=True, cache=True)``: they release
the GIL, so callers may run them in threads over different batches, and the machine code is
cached on disk next to this file (``__pycache__``) so that only the first run on a machine pays
the compilation. Validation, dtype dispatch and Arrow handling live in
`skyfabric.drift.histogram`; nothing here raises on user input.

Three ways to find the bin of a value ``x`` among the sorted inner edges ``t[0..m-1]``
(bins are right-open: bin ``k`` holds ``t[k-1] <= x < t[k]``; bin index = #{j: t[j] <= x}):

* `count_ge` / `count_ge_masked` (few edges, m <= ~32): a branchless linear
  count.  Instead of a per-value bin index they accumulate ``ge[j] = #{x >= t[j]}`` chunk by
  chunk; the loop is a compare-and-add the compiler turns into SIMD code, and there is no
  scatter into a counts array at all. Bin counts are differences of ``ge``.
* `count_bsearch` / `count_bsearch_masked` (many edges): a fixed-iteration
  branchless binary search ``b += (t[b + step - 1] <= x) * step`` for
  ``step = P/2, P/4, ..., 1`` over the edges padded with a sentinel to ``P = 2**L > m``
  (Khuong & Morin, "Array layouts for comparison-based searching", ACM JEA 22, 2017). It runs
  level by level over a chunk of values so that each level is one vectorized gather-compare-add
  pass; the number of iterations never depends on the data.
* `count_uniform` / `count_uniform_masked` (equal-width edges): arithmetic,
  ``b = floor((x - lo) / width)`` clamped to ``[0, B-1]``, then one branchless correction
  ``b += (x >= e[b+1]) - (x < e[b])`` against the stored edges so the result is exactly the
  one a search would give even when the floating-point division rounds across an edge.

Categorical data is counted through a lookup table (`count_lut`): dictionary entries
are binned once in Python, then the kernel maps each index to its bin. Booleans are bit-packed
and counted by `count_bool`.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
from numba import njit

__all__ = [
    "CHUNK",
    "count_bool",
    "count_bool_masked",
    "count_bsearch",
    "count_bsearch_masked",
    "count_ge",
    "count_ge_masked",
    "count_lut",
    "count_lut_masked",
    "count_uniform",
    "count_uniform_masked",
]


def _skip_scipy_blas_probe() -> None:
    """Keep numba's one-time set-up in this process from importing scipy.linalg.

    The first compile or cache load of any numba function imports ``numba.np.arraymath``,
    whose module-level ``_check_blas()`` imports ``scipy.linalg.cython_blas`` only to learn
    whether scipy is installed (numba's ``np.convolve``/``np.correlate`` then call BLAS).
    That import is ~0.15-0.2 s and ~15 MB of a fresh ``drift check`` (scipy 1.17 also
    imports numpy.f2py), and no kernel here uses BLAS. So, unless numba has done it already,
    import that module now with the probe answered by ``importlib.util.find_spec("scipy")``:
    the same answer without loading scipy. numba's linear algebra still imports and checks
    scipy itself when a function using it compiles. Never raises: on any surprise (another
    numba version) numba simply probes the usual way.
    """
    if "numba.np.arraymath" in sys.modules:
        return
    try:
        from numba.np import linalg

        real = linalg.ensure_blas

        def probe() -> None:
            if importlib.util.find_spec("scipy") is None:
                raise ImportError("scipy is not installed")

        linalg.ensure_blas = probe
        try:
            from numba.np import arraymath
        finally:
            linalg.ensure_blas = real
        if getattr(arraymath, "ensure_blas", None) is probe:
            arraymath.ensure_blas = real  # its only other use is that import-time probe
    except Exception:  # pragma: no cover - a numba without these internals
        return


_skip_scipy_blas_probe()

CHUNK = 1024
"""Values per inner block: 1024 float64 = 8 KiB, small enough to stay in L1 while every
edge (or every search level) makes its pass over the block."""


def _bit_table() -> np.ndarray:
    """uint64 per byte value whose 8 little-endian bytes are that byte's bits (LSB first)."""
    bits = (np.arange(256, dtype=np.uint16)[:, None] >> np.arange(8, dtype=np.uint16)) & 1
    return np.ascontiguousarray(bits.astype(np.uint8)).view(np.uint64).reshape(256)


_BITS = _bit_table()  # a global array: numba freezes it into the compiled code as a constant


@njit(nogil=True, cache=True)
def _expand_valid(bitmap, bit_offset, start, k, out):  # pragma: no cover - compiled
    """out[i] = validity bit (0/1) of element ``start + i`` for i < k; out: uint8, (CHUNK,).

    Eight bits at a time through a 256-entry table (one 8-byte store per bitmap byte); the
    window is shifted across two bitmap bytes when the bit offset is not a multiple of 8.
    """
    p0 = bit_offset + start
    q0 = p0 >> 3
    shift = np.uint32(p0 & 7)
    last = bitmap.shape[0] - 1
    wide = out.view(np.uint64)
    for q in range((k + 7) >> 3):
        lo = np.uint32(bitmap[q0 + q])
        hi = np.uint32(bitmap[min(q0 + q + 1, last)])  # past the end only beyond element k
        wide[q] = _BITS[((lo | (hi << np.uint32(8))) >> shift) & np.uint32(0xFF)]


@njit(nogil=True, cache=True)
def _ge_passes(block, thresholds, ge):  # pragma: no cover - compiled
    """ge[j] += #{i: block[i] >= thresholds[j]} over one chunk.

    Four thresholds per pass: each value is loaded once for four compare-and-adds held in
    registers (measured on 20M float64 with 9 edges: 0.62 ns/value, 0.72 with one per pass).
    """
    k = block.shape[0]
    m = thresholds.shape[0]
    j = 0
    while j + 3 < m:
        t0, t1, t2, t3 = thresholds[j], thresholds[j + 1], thresholds[j + 2], thresholds[j + 3]
        a0 = a1 = a2 = a3 = 0
        for i in range(k):
            x = block[i]
            a0 += x >= t0
            a1 += x >= t1
            a2 += x >= t2
            a3 += x >= t3
        ge[j] += a0
        ge[j + 1] += a1
        ge[j + 2] += a2
        ge[j + 3] += a3
        j += 4
    while j < m:
        t0 = thresholds[j]
        a0 = 0
        for i in range(k):
            a0 += block[i] >= t0
        ge[j] += a0
        j += 1


@njit(nogil=True, cache=True)
def _ge_passes_masked(block, ok, thresholds, ge):  # pragma: no cover - compiled
    """`_ge_passes` counting only elements with ``ok[i] == 1`` (ok: uint8 0/1, (>= k,));
    returns ``#{i: ok[i] == 1 and block[i] < thresholds[0]}``.

    With that count, the pass over ``thresholds[0]`` also yields the number of valid
    non-NaN values (``lt + ge[0]``: NaN is neither ``<`` nor ``>=``), with no pass of its own
    (measured on 20M float64 with 1% nulls and 9 edges: 0.77 ns/value instead of 0.92).
    A copy of `_ge_passes` with the mask, on purpose: one function testing a "masked" flag
    inside took 0.81 ns/value instead of 0.62 on unmasked float64 (measured).
    """
    k = block.shape[0]
    m = thresholds.shape[0]
    lt = 0
    if m == 0:  # one bin: count the valid non-NaN values
        for i in range(k):
            lt += ok[i] & (block[i] == block[i])
        return lt
    t0 = thresholds[0]
    if m >= 4:
        t1, t2, t3 = thresholds[1], thresholds[2], thresholds[3]
        a0 = a1 = a2 = a3 = 0
        for i in range(k):
            x = block[i]
            v = ok[i]
            lt += v & (x < t0)
            a0 += v & (x >= t0)
            a1 += v & (x >= t1)
            a2 += v & (x >= t2)
            a3 += v & (x >= t3)
        ge[0] += a0
        ge[1] += a1
        ge[2] += a2
        ge[3] += a3
        j = 4
    else:
        a0 = 0
        for i in range(k):
            x = block[i]
            v = ok[i]
            lt += v & (x < t0)
            a0 += v & (x >= t0)
        ge[0] += a0
        j = 1
    while j + 3 < m:
        t0, t1, t2, t3 = thresholds[j], thresholds[j + 1], thresholds[j + 2], thresholds[j + 3]
        a0 = a1 = a2 = a3 = 0
        for i in range(k):
            x = block[i]
            v = ok[i]
            a0 += v & (x >= t0)
            a1 += v & (x >= t1)
            a2 += v & (x >= t2)
            a3 += v & (x >= t3)
        ge[j] += a0
        ge[j + 1] += a1
        ge[j + 2] += a2
        ge[j + 3] += a3
        j += 4
    while j < m:
        t0 = thresholds[j]
        a0 = 0
        for i in range(k):
            a0 += ok[i] & (block[i] >= t0)
        ge[j] += a0
        j += 1
    return lt


@njit(nogil=True, cache=True)
def count_ge(values, thresholds, ge):  # pragma: no cover - compiled
    """Add ``#{i: values[i] >= thresholds[j]}`` to ``ge[j]``; return #non-NaN values.

    values: 1-D int or float array view (the Arrow data buffer, offset applied), shape (n,).
    thresholds: sorted 1-D array (float64 for float data, int64/uint64 for integer data),
    shape (m,). ge: int64 array, shape (m,), accumulated in place. NaN never counts as
    ``>=`` anything and is excluded from the returned count.
    """
    n = values.shape[0]
    n_ok = 0
    for start in range(0, n, CHUNK):
        block = values[start : min(n, start + CHUNK)]
        _ge_passes(block, thresholds, ge)
        acc = 0
        for i in range(block.shape[0]):
            acc += block[i] == block[i]
        n_ok += acc
    return n_ok


@njit(nogil=True, cache=True)
def count_ge_masked(values, bitmap, bit_offset, thresholds, ge):  # pragma: no cover - compiled
    """Like `count_ge`, skipping elements whose validity bit is 0.

    bitmap: uint8 view of the whole validity buffer; bit_offset: the Arrow array offset.
    Returns the number of valid, non-NaN values.
    """
    n = values.shape[0]
    ok = np.empty(CHUNK, np.uint8)
    below = 0  # valid non-NaN values under thresholds[0] (all of them when m == 0)
    ge0 = ge[0] if thresholds.shape[0] else 0
    for start in range(0, n, CHUNK):
        block = values[start : min(n, start + CHUNK)]
        k = block.shape[0]
        _expand_valid(bitmap, bit_offset, start, k, ok)
        below += _ge_passes_masked(block, ok, thresholds, ge)
    return below + ((ge[0] - ge0) if thresholds.shape[0] else 0)


@njit(nogil=True, cache=True)
def _search_block(block, padded, bins):  # pragma: no cover - compiled
    """bins[i] = min(#{j: padded[j] <= block[i]}, P - 1), branchless, level by level."""
    k = block.shape[0]
    for i in range(k):
        bins[i] = 0
    step = np.uint32(padded.shape[0] >> 1)
    while step > 0:  # log2(P) levels: depends on the edges only, never on the data
        for i in range(k):
            b = bins[i]
            bins[i] = b + np.uint32(padded[b + step - np.uint32(1)] <= block[i]) * step
        step = step >> np.uint32(1)


@njit(nogil=True, cache=True)
def count_bsearch(values, padded, m, counts):  # pragma: no cover - compiled
    """Count values into ``m + 1`` bins by branchless binary search; NaN into ``counts[m+1]``.

    padded: the m sorted thresholds followed by a sentinel (+inf, or the integer dtype's
    maximum) up to length P = 2**L > m. counts: int64, shape (m + 2,), accumulated in place.
    """
    n = values.shape[0]
    nb = m + 2
    bins = np.empty(CHUNK, np.uint32)
    sub = np.zeros(4 * nb, np.int64)  # 4 interleaved sub-histograms: no store-forward stalls
    for start in range(0, n, CHUNK):
        block = values[start : min(n, start + CHUNK)]
        k = block.shape[0]
        _search_block(block, padded, bins)
        for i in range(k):
            v = block[i]
            b = min(np.int64(bins[i]), m)
            bins[i] = b + np.int64(v != v) * (m + 1 - b)
        for i in range(k):
            sub[(i & 3) * nb + np.int64(bins[i])] += 1
    for r in range(4):
        for b in range(nb):
            counts[b] += sub[r * nb + b]


@njit(nogil=True, cache=True)
def count_bsearch_masked(values, bitmap, bit_offset, padded, m, counts):  # pragma: no cover
    """Like `count_bsearch`; invalid elements (bit 0) go to ``counts[m+1]``."""
    n = values.shape[0]
    nb = m + 2
    bins = np.empty(CHUNK, np.uint32)
    ok = np.empty(CHUNK, np.uint8)
    sub = np.zeros(4 * nb, np.int64)
    for start in range(0, n, CHUNK):
        block = values[start : min(n, start + CHUNK)]
        k = block.shape[0]
        _search_block(block, padded, bins)
        _expand_valid(bitmap, bit_offset, start, k, ok)
        for i in range(k):
            v = block[i]
            b = min(np.int64(bins[i]), m)
            bad = np.int64((v != v) | (ok[i] == 0))
            bins[i] = b + bad * (m + 1 - b)
        for i in range(k):
            sub[(i & 3) * nb + np.int64(bins[i])] += 1
    for r in range(4):
        for b in range(nb):
            counts[b] += sub[r * nb + b]


@njit(nogil=True, cache=True)
def _uniform_block(block, lo, inv_width, edges, bins):  # pragma: no cover - compiled
    """bins[i] = bin of block[i] among ``edges`` (B+1 equal-width edges) by arithmetic."""
    nbins = edges.shape[0] - 1
    top = nbins - 1.0
    for i in range(block.shape[0]):
        v = np.float64(block[i])
        t = (v - lo) * inv_width
        t = t if t > 0.0 else 0.0  # also maps NaN to 0: a safe index, fixed up below
        t = t if t < top else top
        j = np.int64(t)
        j = min(j + np.int64(v >= edges[j + 1]) - np.int64(v < edges[j]), nbins - 1)  # +inf
        bins[i] = j + np.int64(v != v) * (nbins - j)


@njit(nogil=True, cache=True)
def count_uniform(values, lo, inv_width, edges, counts):  # pragma: no cover - compiled
    """Count float values into equal-width bins; NaN into ``counts[B]``.

    lo: float64, the first inner edge minus one width (the baseline minimum);
    inv_width: 1 / width; edges: float64, shape (B+1,), edges[0] = -inf, edges[B] = +inf,
    inner edges ~ lo + k * width. counts: int64, shape (B+1,), accumulated in place.
    """
    n = values.shape[0]
    nb = edges.shape[0]
    bins = np.empty(CHUNK, np.int64)
    sub = np.zeros(4 * nb, np.int64)
    for start in range(0, n, CHUNK):
        block = values[start : min(n, start + CHUNK)]
        _uniform_block(block, lo, inv_width, edges, bins)
        for i in range(block.shape[0]):
            sub[(i & 3) * nb + bins[i]] += 1
    for r in range(4):
        for b in range(nb):
            counts[b] += sub[r * nb + b]


@njit(nogil=True, cache=True)
def count_uniform_masked(  # pragma: no cover - compiled
    values, bitmap, bit_offset, lo, inv_width, edges, counts
):
    """Like `count_uniform`; invalid elements (bit 0) go to ``counts[B]``."""
    n = values.shape[0]
    nb = edges.shape[0]
    nbins = nb - 1
    bins = np.empty(CHUNK, np.int64)
    ok = np.empty(CHUNK, np.uint8)
    sub = np.zeros(4 * nb, np.int64)
    for start in range(0, n, CHUNK):
        block = values[start : min(n, start + CHUNK)]
        k = block.shape[0]
        _uniform_block(block, lo, inv_width, edges, bins)
        _expand_valid(bitmap, bit_offset, start, k, ok)
        for i in range(k):
            b = bins[i]
            bins[i] = b + np.int64(ok[i] == 0) * (nbins - b)
        for i in range(k):
            sub[(i & 3) * nb + bins[i]] += 1
    for r in range(4):
        for b in range(nb):
            counts[b] += sub[r * nb + b]


@njit(nogil=True, cache=True)
def count_lut(indices, lut, counts):  # pragma: no cover - compiled
    """counts[lut[indices[i]]] += 1 for every i (indices clamped into the table).

    indices: any integer array view (dictionary indices, or positions from ``index_in``),
    shape (n,). lut: int64, shape (d,), d >= 1, values in [0, len(counts)). counts: int64,
    accumulated in place.
    """
    n = indices.shape[0]
    d = lut.shape[0]
    nb = counts.shape[0]
    sub = np.zeros(4 * nb, np.int64)
    for i in range(n):
        j = min(max(np.int64(indices[i]), 0), d - 1)
        sub[(i & 3) * nb + lut[j]] += 1
    for r in range(4):
        for b in range(nb):
            counts[b] += sub[r * nb + b]


@njit(nogil=True, cache=True)
def count_lut_masked(indices, bitmap, bit_offset, lut, null_bin, counts):  # pragma: no cover
    """Like `count_lut`; elements whose validity bit is 0 go to ``counts[null_bin]``.

    The index stored under a null slot is arbitrary, so it is clamped before the lookup and
    its bin is then replaced without a branch.
    """
    n = indices.shape[0]
    d = lut.shape[0]
    nb = counts.shape[0]
    ok = np.empty(CHUNK, np.uint8)
    sub = np.zeros(4 * nb, np.int64)
    for start in range(0, n, CHUNK):
        block = indices[start : min(n, start + CHUNK)]
        k = block.shape[0]
        _expand_valid(bitmap, bit_offset, start, k, ok)
        for i in range(k):
            j = min(max(np.int64(block[i]), 0), d - 1)
            b = lut[j]
            b = b + np.int64(1 - ok[i]) * (null_bin - b)
            sub[(i & 3) * nb + b] += 1
    for r in range(4):
        for b in range(nb):
            counts[b] += sub[r * nb + b]


@njit(nogil=True, cache=True)
def count_bool(data, data_offset, n):  # pragma: no cover - compiled
    """Number of set bits among bits ``data_offset .. data_offset + n - 1`` of ``data``."""
    bits = np.empty(CHUNK, np.uint8)
    total = 0
    for start in range(0, n, CHUNK):
        k = min(n, start + CHUNK) - start
        _expand_valid(data, data_offset, start, k, bits)
        acc = 0
        for i in range(k):
            acc += bits[i]
        total += acc
    return total


@njit(nogil=True, cache=True)
def count_bool_masked(data, data_offset, bitmap, bit_offset, n):  # pragma: no cover
    """Return (#valid true values, #valid values) of a bit-packed boolean array."""
    bits = np.empty(CHUNK, np.uint8)
    ok = np.empty(CHUNK, np.uint8)
    n_true = 0
    n_valid = 0
    for start in range(0, n, CHUNK):
        k = min(n, start + CHUNK) - start
        _expand_valid(data, data_offset, start, k, bits)
        _expand_valid(bitmap, bit_offset, start, k, ok)
        acc_t = 0
        acc_v = 0
        for i in range(k):
            acc_t += bits[i] & ok[i]
            acc_v += ok[i]
        n_true += acc_t
        n_valid += acc_v
    return n_true, n_valid
