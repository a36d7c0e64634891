"""Per-column summaries of baseline data: the exact values or a KLL sketch (numeric) and the
category frequencies (categorical), from which `skyfabric.drift.baseline` fits the bins.

KLL: Karnin, Lang & Liberty (2016), "Optimal Quantile Approximation in Streams", through
Apache DataSketches; frequent items: Anderson et al. (2017), DataSketches' implementation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skyfabric.drift._binning import is_timelike as _is_timelike
from skyfabric.drift.histogram import Histogram, histogram

MAX_EXACT_CATEGORIES = 100_000
"""Distinct values per categorical column counted exactly before switching to a sketch."""


def _numeric_values(arr: pa.Array) -> tuple[np.ndarray, int]:
    """(non-null non-NaN values as int64/uint64/float64 copy, #null + #NaN) of one array."""
    t = arr.type
    if pa.types.is_null(t):
        return np.empty(0, np.float64), len(arr)
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if _is_timelike(t):
        arr = arr.view(pa.int32() if t.bit_width == 32 else pa.int64())
    elif pa.types.is_decimal(t) or pa.types.is_float16(t):
        arr = pc.cast(arr, pa.float64())
    kept = pc.drop_null(arr).to_numpy(zero_copy_only=False)
    dtype = (
        np.uint64
        if kept.dtype == np.uint64
        else np.int64
        if kept.dtype.kind in "iu"
        else np.float64
    )
    vals = np.array(kept, dtype=dtype)  # a copy we own, not a view pinning the batch
    if dtype is np.float64:
        vals = vals[~np.isnan(vals)]
    return vals, len(arr) - len(vals)


class _NumericSummary:
    """Pass-1 state of a numeric column: values (exact) or a KLL sketch, min/max, missing."""

    def __init__(self, sketch_k: int) -> None:
        self.chunks: list[np.ndarray] = []
        self.nbytes = 0
        self.sketch: Any = None
        self.sketch_k = sketch_k
        self.n = 0  # non-missing values
        self.missing = 0
        self.integer = False  # int (and temporal) storage: lo and hi are exact integers
        self.lo, self.hi = math.inf, -math.inf  # over all values
        self.flo, self.fhi = math.inf, -math.inf  # over finite values

    def update(self, arr: pa.Array) -> None:
        vals, missing = _numeric_values(arr)
        self.missing += missing
        if not len(vals):
            return
        self.n += len(vals)
        self.integer = vals.dtype.kind in "iu"
        self.lo, self.hi = min(self.lo, vals.min()), max(self.hi, vals.max())
        finite = vals if vals.dtype.kind in "iu" else vals[np.isfinite(vals)]
        if len(finite):
            self.flo, self.fhi = min(self.flo, finite.min()), max(self.fhi, finite.max())
        if self.sketch is None:
            self.chunks.append(vals)
            self.nbytes += vals.nbytes
        else:
            self.sketch.update(vals.astype(np.float64))

    def spill(self) -> None:
        """Move the materialized values into a KLL sketch (mergeable; bounded memory)."""
        import datasketches as dsk  # here: a drift check, which never sketches, skips it

        self.sketch = dsk.kll_doubles_sketch(self.sketch_k)
        for chunk in self.chunks:
            self.sketch.update(chunk.astype(np.float64))
        self.chunks, self.nbytes = [], 0

    def values(self) -> np.ndarray:
        """All materialized values as one array (kept, so a second call does not copy)."""
        if len(self.chunks) > 1:
            self.chunks = [np.concatenate(self.chunks)]
        return self.chunks[0] if self.chunks else np.empty(0, np.float64)

    def edges(self, bins: int, binning: str) -> tuple[np.ndarray, int, str]:
        """(edges (B'+1,), merged edge count, note) from the summary.

        Holds at the extremes of float64 and int64 without a RuntimeWarning: a constant
        column at the largest float gets the bins ``< c`` and ``>= c`` (nothing but +inf is
        above it), quantiles and uniform edges of a range wider than the largest float are
        interpolated without overflowing, and integer edges stay reachable (`_int_edge`).
        """
        if self.n == 0:
            return np.array([-math.inf, math.inf]), 0, "no non-null values in the baseline"
        if bins == 1:
            return np.array([-math.inf, math.inf]), 0, ""
        if self.lo == self.hi:
            return self._constant_edges(bins)
        ranks = np.arange(1, bins) / bins
        if binning == "uniform":
            q = _uniform_edges(float(self.flo), float(self.fhi), bins)
        elif self.sketch is None:
            values = self.values()
            # a span beyond the largest float (-1e308 .. 1e308) overflows numpy's linear
            # interpolation: quantiles are linear in the data, so interpolate the halves
            halve = values.dtype.kind == "f" and not math.isfinite(
                float(self.fhi) - float(self.flo)
            )
            with np.errstate(invalid="ignore"):  # between two infinities: NaN, dropped below
                # numpy's default method="linear"; reorders our private copy in place
                q = np.quantile(values * 0.5 if halve else values, ranks, overwrite_input=True)
            q = q * 2.0 if halve else q
        else:
            q = np.asarray(self.sketch.get_quantiles(ranks.tolist()), dtype=np.float64)
        if self.integer:
            q = np.array([_int_edge(float(e), int(self.hi)) for e in q], dtype=np.float64)
        inner = np.unique(q[np.isfinite(q)])
        merged = (bins - 1) - len(inner)
        note = f"{merged} duplicate or non-finite edge(s) merged (heavy ties)" if merged else ""
        return np.concatenate(([-math.inf], inner, [math.inf])), merged, note

    def _constant_edges(self, bins: int) -> tuple[np.ndarray, int, str]:
        """Edges of a column whose values are all ``self.lo``: bins ``< c``, ``= c``,
        ``> c``; an integer ``c`` gets the float64 edges around it that it falls between
        (``float(2**63 - 1)`` is ``2**63``, above every int64)."""
        if self.integer:
            c = _float_floor(int(self.lo))
        else:
            c = float(self.lo)
            if not math.isfinite(c):
                return np.array([-math.inf, math.inf]), bins - 1, f"every value is {c}"
        above = math.nextafter(c, math.inf)
        shown = int(self.lo) if self.integer else c
        if math.isinf(above):  # c is the largest float64: only +inf is above it
            return (
                np.array([-math.inf, c, math.inf]),
                bins - 2,
                f"constant column (every value is {shown!r}, the largest float64): bins are "
                "< c, >= c",
            )
        return (
            np.array([-math.inf, c, above, math.inf]),
            bins - 2,
            f"constant column (every value is {shown!r}): bins are < c, = c, > c",
        )

    def counts(self, template: Histogram) -> Histogram:
        """Baseline counts for a one-shot source (no second pass over the data)."""
        if self.sketch is None:
            h = histogram(pa.array(self.values()), template)
        else:  # masses from the sketch: approximate within the rank error
            cdf = np.asarray(self.sketch.get_cdf(template.edges[1:-1].tolist(), False))
            h = Histogram.empty_like(template)
            h.counts = _apportion(np.diff(np.concatenate(([0.0], cdf))), self.n)
        h.missing = self.missing
        return h


def _float_floor(v: int) -> float:
    """The largest float64 <= the integer ``v`` (``float(v)`` may round up past it)."""
    f = float(v)
    return f if f <= v else math.nextafter(f, -math.inf)


def _int_edge(e: float, hi: int) -> float:
    """An edge of integer values whose maximum is ``hi``: lowered to `_float_floor` of
    ``hi`` when above it. An integer ``x`` falls at or above an edge ``e`` iff ``x >=
    ceil(e)``, and a quantile at an int64 beyond 2**53 rounds up past the value (``2**63
    - 1`` becomes ``2**63``): the top values would fall below the edge and its bin stay
    empty whatever the data."""
    return _float_floor(hi) if math.isfinite(e) and e > hi else e


def _uniform_edges(lo: float, hi: float, bins: int) -> np.ndarray:
    """The inner edges ``lo + k * (hi - lo) / bins``, k = 1..bins-1 (``[lo]`` when ``hi <=
    lo``). A span beyond the largest float (-1e308 .. 1e308), or a width below the
    smallest normal float (subnormal data), is interpolated as ``lo * (1 - t) + hi * t``,
    ``t = k / bins``, which neither overflows nor underflows to one edge."""
    if not hi > lo:
        return np.array([lo])
    k = np.arange(1, bins)
    with np.errstate(over="ignore"):
        width = (hi - lo) / bins
    if math.isfinite(width) and width >= np.finfo(np.float64).tiny:
        return lo + k * width
    t = k / bins
    return lo * (1 - t) + hi * t


def _apportion(masses: np.ndarray, n: int) -> np.ndarray:
    """Integer counts summing to n, proportional to masses (largest remainder method)."""
    raw = np.clip(masses, 0, None) * n / max(masses.sum(), 1e-300)
    out = np.floor(raw).astype(np.int64)
    out[np.argsort(out - raw)[: n - int(out.sum())]] += 1
    return out


class _CategorySummary:
    """Pass-1 state of a categorical column: exact value counts, or a frequent-items sketch."""

    def __init__(self) -> None:
        self.freq: dict[str, int] = {}
        self.sketch: Any = None
        self.n = 0
        self.missing = 0

    def update(self, arr: pa.Array) -> None:
        if pa.types.is_null(arr.type):
            self.missing += len(arr)
            return
        vc = pc.value_counts(arr)
        values = vc.field("values")
        if isinstance(values, pa.DictionaryArray):
            values = values.dictionary_decode()
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            values = pc.cast(values, pa.string())  # bool -> "false"/"true"
        for key, count in zip(values.to_pylist(), vc.field("counts").to_pylist(), strict=True):
            if key is None:
                self.missing += count
                continue
            self.n += count
            if self.sketch is None:
                self.freq[key] = self.freq.get(key, 0) + count
            else:
                self.sketch.update(key, count)
        if self.sketch is None and len(self.freq) > MAX_EXACT_CATEGORIES:
            import datasketches as dsk

            self.sketch = dsk.frequent_strings_sketch(16)
            for key, count in self.freq.items():
                self.sketch.update(key, count)
            self.freq = {}

    def top(self, top_k: int) -> list[tuple[str, int]]:
        if self.sketch is None:
            items = list(self.freq.items())
        else:
            import datasketches as dsk

            err = dsk.frequent_items_error_type.NO_FALSE_NEGATIVES
            items = [(it[0], int(it[1])) for it in self.sketch.get_frequent_items(err)]
        return sorted(items, key=lambda kv: (-kv[1], kv[0]))[:top_k]
