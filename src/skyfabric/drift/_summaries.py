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
        self.lo, self.hi = math.inf, -math.inf  # over all values
        self.flo, self.fhi = math.inf, -math.inf  # over finite values

    def update(self, arr: pa.Array) -> None:
        vals, missing = _numeric_values(arr)
        self.missing += missing
        if not len(vals):
            return
        self.n += len(vals)
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
        """(edges (B'+1,), merged edge count, note) from the summary."""
        if self.n == 0:
            return np.array([-math.inf, math.inf]), 0, "no non-null values in the baseline"
        if bins == 1:
            return np.array([-math.inf, math.inf]), 0, ""
        if self.lo == self.hi:
            c = float(self.lo)
            if not math.isfinite(c):
                return np.array([-math.inf, math.inf]), bins - 1, f"every value is {c}"
            return (
                np.array([-math.inf, c, np.nextafter(c, math.inf), math.inf]),
                bins - 2,
                f"constant column (every value is {c!r}): bins are < c, = c, > c",
            )
        ranks = np.arange(1, bins) / bins
        if binning == "uniform":
            lo, hi = float(self.flo), float(self.fhi)
            q = lo + np.arange(1, bins) * ((hi - lo) / bins) if hi > lo else np.array([lo])
        elif self.sketch is None:
            # numpy's default method="linear"; reorders our private copy instead of copying it
            q = np.quantile(self.values(), ranks, overwrite_input=True)
        else:
            q = np.asarray(self.sketch.get_quantiles(ranks.tolist()), dtype=np.float64)
        inner = np.unique(q[np.isfinite(q)])
        merged = (bins - 1) - len(inner)
        note = f"{merged} duplicate or non-finite edge(s) merged (heavy ties)" if merged else ""
        return np.concatenate(([-math.inf], inner, [math.inf])), merged, note

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
