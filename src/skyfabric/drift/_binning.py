"""Counting one Arrow array into a histogram's bins: type dispatch over Arrow buffers.

The Python side of `skyfabric.drift.kernels`: picks the numpy view of each Arrow type's
buffers (validity bitmap and offset honoured, no copies), dictionaries and strings mapped to
category bins, and the kernel that fits the edges (linear count, arithmetic or binary search).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skyfabric.drift import kernels
from skyfabric.errors import DriftError

if TYPE_CHECKING:
    from skyfabric.drift.histogram import Histogram

LINEAR_MAX_EDGES = 32
"""Up to this many inner edges the branchless linear count wins over the binary search
(measured on 20M float64: 9 edges 0.62 ns/value, 49 edges ~3 ns/value vs ~3.5 ns binary)."""


_TEMPORAL_STORAGE = {32: np.dtype(np.int32), 64: np.dtype(np.int64)}


def is_timelike(t: pa.DataType) -> bool:
    """date, time, timestamp or duration: an int32/int64 storage (not intervals)."""
    return (
        pa.types.is_date(t)
        or pa.types.is_time(t)
        or pa.types.is_timestamp(t)
        or pa.types.is_duration(t)
    )


def column_kind(t: pa.DataType) -> Literal["numeric", "categorical"] | None:
    """The kind of bins a column of type ``t`` is fitted with, None when it has none."""
    if pa.types.is_dictionary(t):
        v = t.value_type
        return "numeric" if pa.types.is_integer(v) or pa.types.is_floating(v) else "categorical"
    if (
        pa.types.is_boolean(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or str(t) == "string_view"
    ):
        return "categorical"
    if (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or is_timelike(t)
        or pa.types.is_decimal(t)
        or pa.types.is_null(t)
    ):
        return "numeric"
    return None  # intervals, binary, nested types...


_TEMPORAL_PREFIXES = ("date", "time", "timestamp", "duration")
_TEMPORAL_TYPE = re.compile(
    r"^(timestamp|duration|time32|time64|date32|date64)\[(\w+)(?:, tz=(.+))?\]$"
)
_FAMILY = {"time32": "time", "time64": "time", "date32": "date", "date64": "date"}
_PER_SECOND = {"day": Fraction(1, 86_400), "s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}


def _temporal_unit(type_str: str) -> tuple[str, str, bool] | None:
    """(family, unit, has a time zone) of a temporal Arrow type string
    (``"timestamp[ms, tz=UTC]"`` -> ``("timestamp", "ms", True)``)."""
    m = _TEMPORAL_TYPE.match(type_str)
    if m is None or m.group(2) not in _PER_SECOND:
        return None
    return _FAMILY.get(m.group(1), m.group(1)), m.group(2), m.group(3) is not None


def _temporal_pair(
    baseline_type: str | None, t: pa.DataType
) -> tuple[tuple[str, str, bool], tuple[str, str, bool]] | None:
    """(`_temporal_unit` of the baseline type, of ``t``) when both are the same temporal
    family, in any unit, timestamps both without a time zone or both with one; else None.
    Arrow stores a zoned timestamp as UTC whatever its zone, so ``UTC``, ``Etc/UTC`` and
    ``Europe/Paris`` values are the same instants; a naive one is a wall clock, not
    comparable to them."""
    was, now = _temporal_unit(baseline_type or ""), _temporal_unit(str(t))
    if was is None or now is None or was[0] != now[0] or was[2] != now[2]:
        return None
    return was, now


def temporal_rescale(baseline_type: str | None, t: pa.DataType) -> Fraction | None:
    """Factor from the baseline's time unit to ``t``'s when both are the same temporal
    family (`_temporal_pair`: timestamps, durations, times, dates) in different units
    (``timestamp[ms]`` -> ``timestamp[us]``: 1000); ``None`` otherwise.

    `rescaled_thresholds` turns the baseline's edges into the new unit so that every value
    lands in the bin of its instant expressed in the baseline's unit (floored).
    """
    pair = _temporal_pair(baseline_type, t)
    if pair is None or pair[0][1] == pair[1][1]:
        return None
    return Fraction(_PER_SECOND[pair[1][1]]) / Fraction(_PER_SECOND[pair[0][1]])


def rescaled_thresholds(edges: np.ndarray, factor: Fraction) -> list[int]:
    """The integer thresholds of a baseline's inner ``edges`` in a unit ``factor`` times
    finer (> 1) or coarser (< 1), exactly (Python integers, never float64: a timestamp in
    ns is beyond 2**53, where float64 rounds to multiples of 256).

    A value ``x`` of the baseline's unit is in bin ``k`` iff ``x >= ceil(e_k)``. In a finer
    unit, ``v >= ceil(e) * f`` iff ``floor(v / f) >= ceil(e)``; in a coarser one, ``x >=
    ceil(ceil(e) * f)`` iff ``x / f >= ceil(e)``: each value lands in the bin of its instant
    expressed in the baseline's unit, floored. Thresholds may repeat (bins no value of the
    new unit can fall in), which the linear count and the search both take.
    """
    return [math.ceil(math.ceil(e) * factor) for e in np.asarray(edges)[1:-1]]


def type_mismatch(h: Histogram, t: pa.DataType, baseline_type: str | None = None) -> str | None:
    """Why a column of type ``t`` cannot be compared with bins ``h``; None when it can.

    Widths may change (int32 -> int64 -> double, string -> dictionary): values still go into
    the same edges or categories. A change of kind cannot: numbers cast to strings would all
    count as ``__other__``, strings have no place among numeric edges. Nor can a change of
    temporal type when ``baseline_type`` (the baseline's Arrow type string) is known: dates,
    times, timestamps and durations are binned by their integer storage (a date32 counts
    days, a timestamp seconds or fractions), nor between naive and zoned timestamps. A
    change of unit within one type (``timestamp[ms]`` -> ``timestamp[us]``) or of time zone
    (stored as UTC either way) fits: the check counts a unit change against thresholds
    rescaled by `temporal_rescale`. An all-null
    column (type ``null``) fits any bins (every row is missing); booleans fit numeric edges
    as 0/1.
    """
    if isinstance(t, pa.ExtensionType):
        t = t.storage_type
    if pa.types.is_null(t):
        return None
    kind = column_kind(t)
    if kind == h.kind or (h.kind == "numeric" and pa.types.is_boolean(t)):
        was_temporal = baseline_type is not None and baseline_type.startswith(_TEMPORAL_PREFIXES)
        if baseline_type is None or not (was_temporal or is_timelike(t)):
            return None
        if str(t) == baseline_type or _temporal_pair(baseline_type, t) is not None:
            return None  # a unit change is counted through rescaled thresholds (check.py)
        return (
            f"its values are now {t}, and dates, times and durations are binned by their "
            "integer storage, so values of another temporal type or unit land in the wrong bins"
        )
    bins = "numeric bin edges" if h.kind == "numeric" else "categories"
    now = "a type that cannot be binned" if kind is None else f"{kind} values"
    return f"its values are now {t} ({now}), which cannot go into the baseline's {bins}"


def _storage_dtype(t: pa.DataType) -> np.dtype | None:
    """numpy dtype of the data buffer of a fixed-width numeric/temporal type, else None."""
    if (pa.types.is_floating(t) and not pa.types.is_float16(t)) or pa.types.is_integer(t):
        return np.dtype(t.to_pandas_dtype())
    if (
        pa.types.is_date(t)
        or pa.types.is_time(t)
        or pa.types.is_timestamp(t)
        or pa.types.is_duration(t)
    ):
        return _TEMPORAL_STORAGE[t.bit_width]
    return None


def _views(arr: pa.Array, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray | None]:
    """(values view, validity bytes or None) of a primitive array; no copy."""
    bufs = arr.buffers()
    values = np.frombuffer(bufs[1], dtype=dtype, count=arr.offset + len(arr))[arr.offset :]
    if arr.null_count == 0 or bufs[0] is None:
        return values, None
    return values, np.frombuffer(bufs[0], dtype=np.uint8)


def _bool_counts(arr: pa.Array) -> tuple[int, int]:
    """(#true, #valid) of a bool array, from its bit-packed buffers."""
    bufs = arr.buffers()
    data = np.frombuffer(bufs[1], dtype=np.uint8)
    if arr.null_count == 0 or bufs[0] is None:
        return int(kernels.count_bool(data, arr.offset, len(arr))), len(arr)
    bitmap = np.frombuffer(bufs[0], dtype=np.uint8)
    n_true, n_valid = kernels.count_bool_masked(data, arr.offset, bitmap, arr.offset, len(arr))
    return int(n_true), int(n_valid)


def _counts_from_ge(n_ok: int, ge: np.ndarray) -> np.ndarray:
    """Bin counts from ``ge[j] = #{x >= t_j}`` over sorted thresholds and ``n_ok`` values:
    the differences of ``[n_ok, ge[0], ..., ge[m-1], 0]`` (three small numpy operations: this
    runs once per column per batch)."""
    m = len(ge)
    counts = np.empty(m + 1, dtype=np.int64)
    counts[0] = n_ok - (ge[0] if m else 0)
    if m:
        np.subtract(ge[:-1], ge[1:], out=counts[1:m])
        counts[m] = ge[m - 1]
    return counts


class _LastLut:
    """The bin lookup table of the last dictionary a plan counted, reused while the
    dictionary stays the same: the batches of one parquet column chunk share their
    dictionary, and binning it again per batch (``pyarrow.compute.index_in`` for
    categories) cost more than counting the batch's indices. Safe across threads: the
    (dictionary, table) pair is read and replaced as one object."""

    def __init__(self) -> None:
        self._last: tuple[pa.Array, np.ndarray] | None = None

    def get(self, dictionary: pa.Array, build: Any) -> np.ndarray:
        """``build(dictionary)``, or the table built for an equal dictionary last time."""
        last = self._last
        if last is not None and last[0].equals(dictionary):
            return last[1]
        lut = build(dictionary)
        self._last = (dictionary, lut)
        return lut


def _pad(thresholds: np.ndarray, sentinel: Any) -> np.ndarray:
    """Thresholds padded with ``sentinel`` to P = 2**L > len (the search's fixed size)."""
    p = 1 << len(thresholds).bit_length()
    out = np.full(p, sentinel, dtype=thresholds.dtype)
    out[: len(thresholds)] = thresholds
    return out


class _NumericPlan:
    """Thresholds for a numeric template, prepared once per call and shared by threads."""

    def __init__(self, edges: np.ndarray, int_thresholds: list[int] | None = None) -> None:
        """``int_thresholds``: exact integer thresholds to use for integer data instead of
        ``ceil(edges)`` (`rescaled_thresholds`)."""
        self.edges = np.ascontiguousarray(edges, dtype=np.float64)
        self._exact = int_thresholds
        self.inner = np.ascontiguousarray(self.edges[1:-1])
        self.nbins = len(self.edges) - 1
        self.padded = _pad(self.inner, np.inf)
        self.uniform = self._uniform_params()
        self._int: dict[np.dtype, tuple[int, np.ndarray]] = {}
        self._luts = _LastLut()

    def _uniform_params(self) -> tuple[float, float] | None:
        """(lo, 1/width) when the inner edges are lo + k*width, k = 1..B-1, else None.

        None too when the arithmetic would overflow (edges near the largest float, a width
        of subnormals): the kernel's guess ``(v - lo) / width`` must be finite over the
        edges' span to be within one bin of the answer."""
        inner, m = self.inner, len(self.inner)
        if m < 2:
            return None
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            width = (inner[-1] - inner[0]) / (m - 1)
            lo = inner[0] - width
            inv = 1.0 / width
            span = inner[-1] - lo
            scale = max(abs(lo), abs(inner[-1]))
            if not (
                width > 0
                and all(map(math.isfinite, (width, lo, inv, span)))
                and width >= 1e-8 * scale
            ):
                return None
            if np.max(np.abs(inner - (lo + np.arange(1, m + 1) * width))) > 1e-9 * width:
                return None
        return float(lo), float(inv)

    def int_thresholds(self, dtype: np.dtype) -> tuple[int, np.ndarray]:
        """(#edges every value of ``dtype`` reaches, integer thresholds ceil(e) in range).

        For an integer x and a float edge e, ``x >= e`` iff ``x >= ceil(e)``: exact even for
        int64 values beyond 2**53, where converting x to float64 would round."""
        if dtype not in self._int:
            info = np.iinfo(dtype)
            always, mid = 0, []
            for c in self._exact if self._exact is not None else map(math.ceil, self.inner):
                if c <= info.min:
                    always += 1
                elif c <= info.max:
                    mid.append(c)
            tdtype = np.uint64 if dtype == np.uint64 else np.int64
            self._int[dtype] = (always, np.array(mid, dtype=tdtype))
        return self._int[dtype]

    def bin_of(self, values: np.ndarray) -> np.ndarray:
        """Bin per value (int64; ``nbins`` = missing for NaN) with numpy: for small inputs
        such as dictionary entries. Integers are compared exactly via integer thresholds."""
        if values.dtype.kind in "iu":
            always, mid = self.int_thresholds(values.dtype)
            return always + np.searchsorted(mid, values, side="right").astype(np.int64)
        b = np.minimum(np.searchsorted(self.inner, values, side="right"), self.nbins - 1)
        return np.where(np.isnan(values), self.nbins, b).astype(np.int64)

    def count(self, arr: pa.Array) -> tuple[np.ndarray, int]:
        """(counts int64 (nbins,), missing) of one array; nothing copied for the listed types."""
        n, t = len(arr), arr.type
        counts = np.zeros(self.nbins, dtype=np.int64)
        if n == 0 or arr.null_count == n:
            return counts, n
        if pa.types.is_dictionary(t):
            return self._count_dictionary(arr)
        if pa.types.is_boolean(t):
            n_true, n_valid = _bool_counts(arr)
            b0, b1 = self.bin_of(np.array([0.0, 1.0]))
            counts[b0] += n_valid - n_true
            counts[b1] += n_true
            return counts, n - n_valid
        dtype = _storage_dtype(t)
        if dtype is None:
            if pa.types.is_float16(t) or pa.types.is_decimal(t):
                return self.count(pc.cast(arr, pa.float64()))
            raise DriftError(
                f"cannot bin a column of type {t} into numeric edges; "
                "numeric, temporal, bool and dictionary columns are supported"
            )
        values, bitmap = _views(arr, dtype)
        if dtype.kind == "f":
            return self._count_float(values, bitmap, arr.offset, n)
        return self._count_int(values, bitmap, arr.offset, n)

    def _count_float(
        self, values: np.ndarray, bitmap: np.ndarray | None, offset: int, n: int
    ) -> tuple[np.ndarray, int]:
        m = len(self.inner)
        if m <= LINEAR_MAX_EDGES:
            ge = np.zeros(m, dtype=np.int64)
            if bitmap is None:
                n_ok = kernels.count_ge(values, self.inner, ge)
            else:
                n_ok = kernels.count_ge_masked(values, bitmap, offset, self.inner, ge)
            return _counts_from_ge(n_ok, ge), n - n_ok
        out = np.zeros(self.nbins + 1, dtype=np.int64)
        if self.uniform is not None:
            lo, inv = self.uniform
            if bitmap is None:
                kernels.count_uniform(values, lo, inv, self.edges, out)
            else:
                kernels.count_uniform_masked(values, bitmap, offset, lo, inv, self.edges, out)
        elif bitmap is None:
            kernels.count_bsearch(values, self.padded, m, out)
        else:
            kernels.count_bsearch_masked(values, bitmap, offset, self.padded, m, out)
        return out[:-1], int(out[-1])

    def _count_int(
        self, values: np.ndarray, bitmap: np.ndarray | None, offset: int, n: int
    ) -> tuple[np.ndarray, int]:
        always, mid = self.int_thresholds(values.dtype)
        counts = np.zeros(self.nbins, dtype=np.int64)
        m = len(mid)
        if m <= LINEAR_MAX_EDGES:
            ge = np.zeros(m, dtype=np.int64)
            if bitmap is None:
                n_ok = kernels.count_ge(values, mid, ge)
            else:
                n_ok = kernels.count_ge_masked(values, bitmap, offset, mid, ge)
            counts[always : always + m + 1] = _counts_from_ge(n_ok, ge)
            return counts, n - n_ok
        out = np.zeros(m + 2, dtype=np.int64)
        padded = _pad(mid, np.iinfo(mid.dtype).max)
        if bitmap is None:
            kernels.count_bsearch(values, padded, m, out)
        else:
            kernels.count_bsearch_masked(values, bitmap, offset, padded, m, out)
        counts[always : always + m + 1] = out[:-1]
        return counts, int(out[-1])

    def _count_dictionary(self, arr: pa.DictionaryArray) -> tuple[np.ndarray, int]:
        dictionary = arr.dictionary
        if not (pa.types.is_integer(dictionary.type) or pa.types.is_floating(dictionary.type)):
            raise DriftError(
                f"cannot bin dictionary values of type {dictionary.type} into numeric edges"
            )
        lut = self._luts.get(dictionary, self._dictionary_lut)
        return _count_indices(arr.indices, lut, self.nbins, self.nbins + 1)

    def _dictionary_lut(self, dictionary: pa.Array) -> np.ndarray:
        """Bin of each dictionary entry (missing for null and NaN), then the missing bin."""
        vals = dictionary.to_numpy(zero_copy_only=False)  # entries, small; nulls become NaN
        if dictionary.null_count:
            vals = np.where(
                dictionary.is_null().to_numpy(zero_copy_only=False), np.nan, vals.astype(np.float64)
            )
        return np.append(self.bin_of(vals), self.nbins)  # never empty


def _count_indices(
    indices: pa.Array, lut: np.ndarray, null_bin: int, nout: int
) -> tuple[np.ndarray, int]:
    """Count integer ``indices`` through ``lut`` into ``nout`` bins, the last being missing."""
    out = np.zeros(nout, dtype=np.int64)
    values, bitmap = _views(indices, _storage_dtype(indices.type))  # type: ignore[arg-type]
    lut = np.ascontiguousarray(lut, dtype=np.int64)
    if bitmap is None:
        kernels.count_lut(values, lut, out)
    else:
        kernels.count_lut_masked(values, bitmap, indices.offset, lut, null_bin, out)
    return out[:-1], int(out[-1])


def _as_strings(arr: pa.Array) -> pa.Array:
    """Category strings of an array: bool as ``"false"``/``"true"``, others cast to string."""
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return arr
    return pc.cast(arr, pa.string())  # bool casts to "true"/"false"


class _CategoricalPlan:
    """Category lookup for a categorical template; bins: categories, __other__, missing."""

    def __init__(self, categories: list[str]) -> None:
        self.categories = categories
        self.other = len(categories)
        self.missing_bin = len(categories) + 1
        self.value_set = pa.array([*categories, None], type=pa.string())
        # position from index_in -> bin: categories map to themselves, the null entry to missing
        self.lut = np.append(np.arange(len(categories), dtype=np.int64), self.missing_bin)
        self._luts = _LastLut()

    def positions(self, strings: pa.Array) -> pa.Array:
        """int32 position of each value in categories; null input -> C; not found -> null."""
        return pc.index_in(strings, value_set=self.value_set, skip_nulls=False)

    def _dictionary_lut(self, dictionary: pa.Array) -> np.ndarray:
        """Bin of each dictionary entry (``__other__`` when not a category, missing for
        null), then the missing bin."""
        pos = self.positions(_as_strings(dictionary)).fill_null(-1)
        p = np.asarray(pos.to_numpy(zero_copy_only=False), dtype=np.int64)
        lut = np.where(p < 0, self.other, self.lut[np.maximum(p, 0)])
        return np.append(lut, self.missing_bin)  # never empty

    def count(self, arr: pa.Array) -> tuple[np.ndarray, int]:
        n, t = len(arr), arr.type
        if n == 0 or arr.null_count == n or pa.types.is_null(t):
            return np.zeros(self.other + 1, dtype=np.int64), n
        if pa.types.is_dictionary(t):
            lut = self._luts.get(arr.dictionary, self._dictionary_lut)
            return _count_indices(arr.indices, lut, self.missing_bin, self.missing_bin + 1)
        if pa.types.is_boolean(t):
            n_true, n_valid = _bool_counts(arr)
            counts = np.zeros(self.other + 1, dtype=np.int64)
            for name, k in (("true", n_true), ("false", n_valid - n_true)):
                counts[self.categories.index(name) if name in self.categories else self.other] += k
            return counts, n - n_valid
        arr = _as_strings(arr)  # string_view and non-string types are cast (a copy)
        return _count_indices(self.positions(arr), self.lut, self.other, self.missing_bin + 1)


def _tiny(t: pa.DataType, nulls: bool, text: str) -> pa.Array | None:
    """Eight values of type ``t`` (the second null when ``nulls``), or None for other types.

    Numbers and temporals are zeros reinterpreted in place (``view``), strings are ``text``;
    the buffers have the layout, dtype and writability a scanned batch of ``t`` has, so
    counting them runs the very kernel specializations the scan will run.
    """
    n = 8
    mask = np.zeros(n, dtype=bool)
    mask[1] = nulls
    if pa.types.is_dictionary(t):
        values = _tiny(t.value_type, False, text)
        if values is None:
            return None
        indices = pa.array(np.zeros(n, dtype=t.index_type.to_pandas_dtype()), mask=mask)
        return pa.DictionaryArray.from_arrays(indices, values[:1])
    if pa.types.is_boolean(t):
        return pa.array(np.zeros(n, dtype=bool), mask=mask)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or str(t) == "string_view":
        return pa.array([None if m else text for m in mask], type=t)
    dtype = _storage_dtype(t)
    if dtype is None:
        return None
    return pa.array(np.zeros(n, dtype=dtype), mask=mask).view(t)


def load_kernels(plan: _NumericPlan | _CategoricalPlan, t: pa.DataType) -> None:
    """Load (from numba's on-disk cache, else compile) the kernels counting type ``t`` runs.

    Counts two tiny arrays, with and without a null. The first kernel of a process pays
    numba's one-time set-up (~0.2 s); doing it here, before a scan starts, matters because
    pyarrow's dataset scanner does not wait for a stalled consumer: it keeps decoding ahead,
    and a first batch held up that long let it buffer ~1 GB. Types that cannot be counted
    into this plan are left for the scan to report.
    """
    text = plan.categories[0] if isinstance(plan, _CategoricalPlan) and plan.categories else "x"
    for nulls in (False, True):
        arr = _tiny(t, nulls, text)
        if arr is None:
            return
        try:
            plan.count(arr)
        except (DriftError, pa.ArrowException):
            return


def _plan(h: Histogram) -> _NumericPlan | _CategoricalPlan:
    if h.kind == "numeric":
        return _NumericPlan(h.edges, getattr(h, "int_thresholds", None))  # type: ignore[arg-type]
    return _CategoricalPlan(h.categories)  # type: ignore[arg-type]


def _count_column(
    plan: _NumericPlan | _CategoricalPlan, column: pa.Array | pa.ChunkedArray
) -> tuple[np.ndarray, int]:
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    counts, missing = None, 0
    for chunk in chunks:
        if isinstance(chunk.type, pa.ExtensionType):
            chunk = chunk.storage
        c, m = plan.count(chunk)
        counts = c if counts is None else counts + c
        missing += m
    if counts is None:  # a ChunkedArray with no chunks
        counts = plan.count(pa.array([], pa.float64()))[0]
    return counts, missing
