"""Mergeable histograms of Arrow columns: bin edges or categories, int64 counts, a missing bin.

A `Histogram` is either *numeric* (float64 ``edges`` of shape (B+1,), ``edges[0] = -inf``,
``edges[-1] = +inf``, bins right-open ``[e_i, e_i+1)``; ``+inf`` is counted in the last bin)
or *categorical* (``categories``, then one ``"__other__"`` bin for values not among them).
Nulls and NaN are counted in ``missing``. Counts add: ``h1 + h2`` merges histograms of disjoint
batches, files, threads or Dask partitions, and the result is identical however the data was
split, because integer addition is exact and order-free.

Counting reads Arrow buffers in place through `skyfabric.drift.kernels`; this module holds
the Python side (type dispatch, offsets, dictionaries). Types: float16/32/64, every signed and
unsigned integer width, bool, date32/64, time32/64, timestamp and duration (their integer
storage; edges hold float64 of the integer value), string/large_string (string_view is cast
to string first, as are decimal and float16 to float: a copy), and dictionary arrays.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from skyfabric.drift import _binning
from skyfabric.drift._binning import _count_column, _plan
from skyfabric.errors import DriftError

__all__ = [
    "MISSING",
    "OTHER",
    "Histogram",
    "column_names",
    "histogram",
    "histogram_columns",
    "iter_batches",
    "load_kernels",
]

OTHER = "__other__"
"""Label of the categorical bin that counts values outside the baseline's categories."""
MISSING = "__missing__"
"""Label of the missing bin (nulls and NaN) in `Histogram.labels`."""

_INF = float("inf")


def _encode_float(x: float) -> float | str:
    """JSON-safe float: finite floats as numbers (``repr`` round-trips exactly), infinities as
    the strings ``"Infinity"`` / ``"-Infinity"`` (bare ``Infinity`` is not JSON)."""
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if math.isnan(x):
        raise DriftError("a histogram edge is NaN; edges must be numbers or +/-inf")
    return float(x)


def _decode_float(x: Any) -> float:
    if isinstance(x, str):
        if x in ("Infinity", "-Infinity"):
            return float(x.replace("Infinity", "inf"))
        raise DriftError(f"edge {x!r} is not a number, 'Infinity' or '-Infinity'")
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise DriftError(f"edge {x!r} is not a number")
    return float(x)


@dataclass(eq=False)
class Histogram:
    """Bin counts of one column.

    Attributes:
        kind: ``"numeric"`` or ``"categorical"``.
        edges: numeric only; float64, shape (B+1,), strictly increasing, ``-inf`` first and
            ``+inf`` last. Bin ``i`` is ``[edges[i], edges[i+1])``; ``+inf`` is in bin B-1.
        categories: categorical only; distinct strings. Bins are the categories in order,
            then `OTHER` (values not in ``categories``), so ``nbins = len + 1``.
        counts: int64, shape (nbins,), values per bin (zeros when omitted).
        missing: number of nulls and NaN.

    Raises:
        DriftError: inconsistent fields (edges not increasing, counts of the wrong shape...).
    """

    kind: Literal["numeric", "categorical"]
    edges: np.ndarray | None = None
    categories: list[str] | None = None
    counts: np.ndarray = None  # type: ignore[assignment]  # zeros(nbins) when omitted
    missing: int = 0

    def __post_init__(self) -> None:
        if self.kind == "numeric":
            if self.edges is None or self.categories is not None:
                raise DriftError("a numeric histogram needs edges and no categories")
            e = np.array(self.edges, dtype=np.float64).ravel()
            if e.size < 2 or e[0] != -_INF or e[-1] != _INF:
                raise DriftError(f"edges must start at -inf and end at +inf, got {e.tolist()}")
            # compared, not subtracted: np.diff overflows between -1e308 and 1e308
            if np.isnan(e).any() or not np.all(e[1:] > e[:-1]):
                raise DriftError(f"edges must be strictly increasing numbers, got {e.tolist()}")
            e.setflags(write=False)
            self.edges = e
        elif self.kind == "categorical":
            if self.categories is None or self.edges is not None:
                raise DriftError("a categorical histogram needs categories and no edges")
            cats = [str(c) for c in self.categories]
            if len(set(cats)) != len(cats):
                raise DriftError(f"categories must be distinct, got {cats}")
            self.categories = cats
        else:
            raise DriftError(f"kind must be 'numeric' or 'categorical', not {self.kind!r}")
        nbins = self.nbins
        if self.counts is None:
            self.counts = np.zeros(nbins, dtype=np.int64)
        else:
            c = np.asarray(self.counts)
            if c.shape != (nbins,) or (c.size and (c.dtype.kind not in "iu" or c.min() < 0)):
                raise DriftError(
                    f"counts must be {nbins} non-negative integers, got shape {c.shape} {c.dtype}"
                )
            self.counts = c.astype(np.int64, copy=True)
        if int(self.missing) < 0:
            raise DriftError(f"missing must be >= 0, got {self.missing}")
        self.missing = int(self.missing)

    @classmethod
    def numeric(cls, edges: Iterable[float]) -> Histogram:
        """Empty numeric histogram over ``edges`` (float64, (B+1,), -inf ... +inf)."""
        return cls("numeric", edges=np.asarray(list(edges), dtype=np.float64))

    @classmethod
    def categorical(cls, categories: Iterable[str]) -> Histogram:
        """Empty categorical histogram over ``categories`` (+ the ``__other__`` bin)."""
        return cls("categorical", categories=list(categories))

    @classmethod
    def empty_like(cls, h: Histogram) -> Histogram:
        """A histogram with the bins of ``h`` and zero counts."""
        return cls(h.kind, edges=h.edges, categories=h.categories)

    @property
    def nbins(self) -> int:
        """Number of value bins (the missing bin not included)."""
        if self.kind == "numeric":
            return len(self.edges) - 1  # type: ignore[arg-type]
        return len(self.categories) + 1  # type: ignore[arg-type]

    @property
    def total(self) -> int:
        """All counted rows: ``counts.sum() + missing``."""
        return int(self.counts.sum()) + self.missing

    @property
    def labels(self) -> list[str]:
        """One label per entry of `proportions`: bins, then `MISSING`."""
        if self.kind == "categorical":
            return [*self.categories, OTHER, MISSING]  # type: ignore[misc]
        e = self.edges
        return [f"[{e[i]:.6g}, {e[i + 1]:.6g})" for i in range(self.nbins)] + [MISSING]  # type: ignore[index]

    def proportions(self) -> np.ndarray:
        """float64, shape (nbins+1,): counts then missing, divided by `total`.

        All zeros when the histogram is empty (check `total`)."""
        full = np.append(self.counts, self.missing).astype(np.float64)
        total = full.sum()
        return full / total if total > 0 else full

    def same_bins(self, other: Histogram) -> bool:
        """True when both histograms have the same kind and the same edges or categories."""
        if self.kind != other.kind:
            return False
        if self.kind == "numeric":
            return bool(np.array_equal(self.edges, other.edges))
        return self.categories == other.categories

    def __add__(self, other: Histogram) -> Histogram:
        if not isinstance(other, Histogram):
            return NotImplemented
        if not self.same_bins(other):
            raise DriftError(
                "cannot add histograms with different bins: "
                f"{self.kind} {self._bins_repr()} vs {other.kind} {other._bins_repr()}"
            )
        return Histogram(
            self.kind,
            self.edges,
            self.categories,
            self.counts + other.counts,
            self.missing + other.missing,
        )

    def __radd__(self, other: Any) -> Histogram:  # lets sum(histograms) start from 0
        if isinstance(other, int) and other == 0:
            return self + Histogram.empty_like(self)
        return NotImplemented

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Histogram):
            return NotImplemented
        return (
            self.same_bins(other)
            and self.missing == other.missing
            and bool(np.array_equal(self.counts, other.counts))
        )

    __hash__ = None  # type: ignore[assignment]  # mutable counts

    def _bins_repr(self) -> str:
        return str(self.edges.tolist() if self.kind == "numeric" else self.categories)  # type: ignore[union-attr]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict; floats exact, infinities as ``"Infinity"``/``"-Infinity"``."""
        return {
            "kind": self.kind,
            "edges": None if self.edges is None else [_encode_float(x) for x in self.edges],
            "categories": None if self.categories is None else list(self.categories),
            "counts": [int(c) for c in self.counts],
            "missing": self.missing,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Histogram:
        """Inverse of `to_dict`. Raises DriftError naming the bad field."""
        counts = d.get("counts")
        if not isinstance(counts, list) or not all(
            isinstance(c, int) and not isinstance(c, bool) for c in counts
        ):
            raise DriftError(f"histogram counts must be a list of integers, got {counts!r}")
        try:
            edges = d.get("edges")
            return cls(
                d["kind"],
                edges=None if edges is None else np.array([_decode_float(x) for x in edges]),
                categories=d.get("categories"),
                counts=np.asarray(d["counts"], dtype=np.int64),
                missing=int(d.get("missing", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DriftError(f"invalid histogram {dict(d)!r}: {exc!r}") from exc


@dataclass(eq=False)
class RescaledTemplate(Histogram):
    """A numeric template whose integer data is counted against exact ``int_thresholds``
    instead of ``ceil(edges)``: a temporal column checked in another unit than its
    baseline's (`skyfabric.drift._binning.rescaled_thresholds`). Its bins, edges and the
    counts it yields are the baseline's; the thresholds are never saved.

    Attributes:
        int_thresholds: one Python int per inner edge, in the current data's unit.
    """

    int_thresholds: list[int] = field(default_factory=list)


def histogram(data: pa.Array | pa.ChunkedArray | np.ndarray, like: Histogram) -> Histogram:
    """Count one column into the bins of ``like`` (its counts are ignored).

    Args:
        data: ``pa.Array``/``pa.ChunkedArray`` of a supported type (module docstring), or a
            1-D numpy array (wrapped zero-copy; NaN counts as missing).
        like: template whose edges or categories define the bins.

    Returns: a new Histogram with the bins of ``like``.

    Raises:
        DriftError: the type cannot go into these bins (e.g. strings into numeric edges).
    """
    if isinstance(data, np.ndarray):
        data = pa.array(data)
    counts, missing = _count_column(_plan(like), data)
    return Histogram(like.kind, like.edges, like.categories, counts, missing)


EMPTY_COLUMNS = (
    "columns is empty: it names no column; fix: name at least one column (columns=['x'], "
    "or a single name columns='x'), or pass columns=None for all of them"
)


def column_names(
    columns: str | Iterable[str] | None, *, empty_ok: bool = False
) -> list[str] | None:
    """The column names of a ``columns=`` argument, as every public drift function reads it:
    ``None`` (all columns) stays ``None``; a single ``str`` is one name, not its characters;
    any other iterable of ``str`` becomes a list, a name given twice kept once (in order).

    Raises:
        BaselineError: the list is empty (unless ``empty_ok``): `EMPTY_COLUMNS`.
        DriftError: ``columns`` is not a name or an iterable of names (names the entry).
    """
    from skyfabric.errors import BaselineError

    if columns is None:
        return None
    if isinstance(columns, str):
        return [columns]
    try:
        names = list(columns)
    except TypeError:
        raise DriftError(
            f"columns must be a column name or a list of names, got {type(columns).__name__} "
            f"{columns!r}; fix: e.g. columns=['x', 'y'] or columns='x'"
        ) from None
    bad = [c for c in names if not isinstance(c, str)]
    if bad:
        raise DriftError(
            f"columns must be names (str), got {bad[0]!r} ({type(bad[0]).__name__}); fix: "
            "pass the column names, e.g. columns=['x', 'y']"
        )
    if not names and not empty_ok:
        raise BaselineError(EMPTY_COLUMNS)
    return list(dict.fromkeys(names))


def iter_batches(
    source: Any, columns: str | Iterable[str] | None = None
) -> tuple[list[str] | None, Iterator[pa.RecordBatch]]:
    """(column names of the source or None if unknown, batches projected on ``columns``).

    Accepts a RecordBatch, Table, RecordBatchReader, ``pyarrow.dataset.Dataset`` (scanned in
    batches with column projection), an object exporting ``__arrow_c_stream__``, or an
    iterable of RecordBatch. Columns absent from the source are skipped; ``columns`` is read
    by `column_names` (a single name is one column; ``[]`` projects none).

    Raises:
        DriftError: ``source`` is a URL or path (a ``str`` or ``os.PathLike``): the message
            points to `skyfabric.drift.fit_baseline` and `skyfabric.drift.check`, which open
            them; or an object of another type.
    """
    import pyarrow.dataset as pads

    columns = column_names(columns, empty_ok=True)

    def keep(names: list[str]) -> list[str]:
        return names if columns is None else [c for c in columns if c in names]

    if isinstance(source, str | os.PathLike):  # a str is iterable: it would yield characters
        # Baseline.fit and histogram_columns both land here: name what takes URLs instead
        raise DriftError(
            f"Baseline.fit and histogram_columns read pyarrow objects (Table, RecordBatch, "
            f"RecordBatchReader, Dataset), not the URL or path {str(source)!r}; fix: use "
            f"skyfabric.drift.fit_baseline({str(source)!r}, ...) to fit a baseline and "
            "skyfabric.drift.check(baseline, url) to check, which open URLs and paths, or "
            "open it first with skyfabric.drift.sources.open_source(url).data"
        )
    if isinstance(source, pa.RecordBatch):
        names = source.schema.names
        return names, iter([source.select(keep(names))])
    if isinstance(source, pa.Table):
        names = source.schema.names
        return names, iter(source.select(keep(names)).to_batches())
    if isinstance(source, pads.Dataset):
        from skyfabric.drift._scan import scan_batches

        names = source.schema.names
        # the bounded scan of `check`: pyarrow's own scanner buffers ~1 GB ahead on 1 GB
        return names, scan_batches(source, keep(names), batch_size=131_072)
    if not isinstance(source, pa.RecordBatchReader) and hasattr(source, "__arrow_c_stream__"):
        source = pa.RecordBatchReader.from_stream(source)
    if isinstance(source, pa.RecordBatchReader):
        names = source.schema.names
        return names, (b.select(keep(names)) for b in source)
    if isinstance(source, Iterable):
        return None, (b.select(keep(b.schema.names)) for b in source)
    raise DriftError(
        f"cannot read batches from {type(source).__name__}; pass a pyarrow "
        "RecordBatch, Table, RecordBatchReader, Dataset or an iterable of batches"
    )


def histogram_columns(
    source: Any, templates: Mapping[str, Histogram], *, threads: int = 1
) -> dict[str, Histogram]:
    """Histograms of several columns, reading ``source`` batch by batch (memory: one batch
    per thread). Columns absent from the source are left out of the result; when the source
    has no schema and yields no batch, every column gets an empty histogram.

    Args:
        source: see `iter_batches`.
        templates: column name -> template histogram (bins; counts ignored).
        threads: > 1 counts batches concurrently (the kernels release the GIL); at most
            ``2 * threads`` batches are in flight. Counts are identical for any value.

    Returns: column name -> Histogram with the template's bins.

    Raises:
        DriftError: a column's type cannot be binned into its template.
    """
    names, batches = iter_batches(source, list(templates))
    plans = {name: _plan(h) for name, h in templates.items()}
    sums: dict[str, tuple[np.ndarray, int]] = {}
    seen: set[str] = set(names or ()) & set(templates)

    def count_batch(batch: pa.RecordBatch) -> dict[str, tuple[np.ndarray, int]]:
        out = {}
        for name in batch.schema.names:
            if name in plans:
                try:
                    out[name] = _count_column(plans[name], batch.column(name))
                except DriftError as exc:  # say which column; a batch holds many
                    raise DriftError(f"column {name!r}: {exc}") from exc
        return out

    def add(part: dict[str, tuple[np.ndarray, int]]) -> None:
        for name, (c, m) in part.items():
            seen.add(name)
            prev = sums.get(name)
            sums[name] = (c, m) if prev is None else (prev[0] + c, prev[1] + m)

    _map_batches(count_batch, batches, add, threads)
    if names is None and not seen:
        seen = set(templates)
    out = {}
    for name in templates:
        if name in seen:
            h = templates[name]
            c, m = sums.get(name, (np.zeros(h.nbins, dtype=np.int64), 0))
            out[name] = Histogram(h.kind, h.edges, h.categories, c, m)
    return out


def load_kernels(templates: Mapping[str, Histogram], schema: pa.Schema) -> None:
    """Load the numba kernels that counting ``schema``'s columns into ``templates`` will run.

    Call it before streaming a scan into `histogram_columns`: it costs ~0.2 s once per
    process (numba's set-up, kernels from its on-disk cache) and a few ms per further
    type, on eight synthetic values per column, without reading any data. Columns absent
    from ``schema`` are skipped; a type the bins cannot take is left for the count to report.
    """
    for name, h in templates.items():
        if name in schema.names:
            t = schema.field(name).type
            if isinstance(t, pa.ExtensionType):
                t = t.storage_type
            _binning.load_kernels(_plan(h), t)


def _map_batches(
    fn: Callable[[pa.RecordBatch], Any],
    batches: Iterator[pa.RecordBatch],
    sink: Callable[[Any], None],
    threads: int,
) -> None:
    """sink(fn(batch)) for every batch, on ``threads`` threads with a bounded window."""
    if threads <= 1:
        for batch in batches:
            sink(fn(batch))
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="skyfabric-drift") as pool:
        pending: set[Future[Any]] = set()
        for batch in batches:
            pending.add(pool.submit(fn, batch))
            if len(pending) >= 2 * threads:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    sink(f.result())
        for f in pending:
            sink(f.result())
