"""Baselines: bin edges fitted on reference data only, with the reference counts, as JSON.

Edges come from the baseline alone (never from baseline + current data combined, which lets
one outlier in the current data stretch every bin). Per numeric column (ints, floats, dates,
times, timestamps, durations: the integer storage of temporal types, edges as float64):

* ``binning="quantile"`` (default): B-1 inner edges at the quantiles k/B, k = 1..B-1, of the
  non-null, non-NaN values, by numpy's default ``linear`` method (Hyndman & Fan 1996,
  definition 7) when exact, else from an Apache DataSketches KLL sketch (Karnin, Lang &
  Liberty 2016), whose normalized rank error is stored as ``rank_error``.
* ``binning="uniform"``: inner edges ``lo + k * (hi - lo) / B``, k = 1..B-1, between the
  baseline's finite minimum and maximum.

Either way the first bin reaches down to -inf and the last up to +inf, so current values
outside the baseline range are counted, never dropped. Duplicate edges from heavy ties (and
non-finite quantiles) are merged and counted in ``merged_edges``. A constant column gets the
edges ``c`` and ``nextafter(c, +inf)``, so the bins are "< c", "= c", "> c" and a move away from
the constant in either direction shows up as drift (an integer beyond 2**53 gets the float64
at or below it instead of ``c``, which may round up past it; the largest float64 gets only
the edge ``c``: "< c", ">= c"). Integer edges above the maximum are lowered to it, and
ranges wider than the largest float64 are interpolated without overflow.

Categorical columns (string, large_string, string_view, dictionary of non-numeric values,
bool as the categories ``"false"``/``"true"``) keep the ``top_k`` most frequent baseline
categories (ties broken by the category string) plus ``__other__`` and the missing bin.

Memory: numeric columns are materialized (8 bytes per non-null value) while the total stays
within ``memory_budget_bytes``; past it, the largest materialized column is moved into a KLL
sketch, repeatedly. Category counts are exact up to ``MAX_EXACT_CATEGORIES`` distinct values
per column, then a DataSketches frequent-items sketch picks the top-K.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import pyarrow as pa

from skyfabric._version import __version__
from skyfabric.drift._binning import column_kind as _kind
from skyfabric.drift._summaries import (
    MAX_EXACT_CATEGORIES,
    _CategorySummary,
    _NumericSummary,
)
from skyfabric.drift.histogram import Histogram, column_names, histogram_columns, iter_batches
from skyfabric.errors import BaselineError, DriftError

__all__ = [
    "FORMAT_VERSION",
    "Baseline",
    "ColumnBaseline",
    "default_columns",
    "no_binnable_columns",
    "pandas_index_columns",
    "require_columns",
]

FORMAT_VERSION = 1
"""Version of the JSON layout written by `Baseline.to_json`; older ones still load."""

Binning = Literal["quantile", "uniform", "categorical"]


@dataclass
class ColumnBaseline:
    """Baseline of one column.

    Attributes:
        name: column name. dtype: Arrow type string of the baseline column (e.g. ``double``,
        ``timestamp[us, tz=UTC]``, ``dictionary<values=string, indices=int32, ordered=0>``).
        histogram: bins and baseline counts. binning: how the bins were chosen.
        merged_edges: quantile/uniform edges dropped as duplicates (heavy ties) or non-finite.
        rank_error: KLL normalized rank error (fraction of n, e.g. 0.0133) when the edges came
        from a sketch, None when exact. note: anything a reader should know (constant column,
        approximate counts...).
    """

    name: str
    dtype: str
    histogram: Histogram
    binning: Binning
    merged_edges: int = 0
    rank_error: float | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (see `Baseline.to_json`)."""
        return {
            "name": self.name,
            "dtype": self.dtype,
            "binning": self.binning,
            "merged_edges": self.merged_edges,
            "rank_error": self.rank_error,
            "note": self.note,
            "histogram": self.histogram.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColumnBaseline:
        """Inverse of `to_dict`; unknown keys are ignored (written by a newer minor)."""
        rank_error = d.get("rank_error")
        if d.get("binning") not in ("quantile", "uniform", "categorical"):
            raise BaselineError(f"column {d.get('name')!r}: unknown binning {d.get('binning')!r}")
        return cls(
            name=str(d["name"]),
            dtype=str(d["dtype"]),
            histogram=Histogram.from_dict(d["histogram"]),
            binning=d["binning"],
            merged_edges=int(d.get("merged_edges", 0)),
            rank_error=None if rank_error is None else float(rank_error),
            note=str(d.get("note", "")),
        )


@dataclass
class Baseline:
    """Reference bins and counts of several columns, saved as JSON.

    Attributes:
        columns: column name -> `ColumnBaseline`. rows: rows read from the source.
        source: where the data came from. created_at: ISO-8601 UTC time (``...Z``).
        skyfabric_version: version that wrote it. bins: requested bins per numeric column.
        format_version: JSON layout version (`FORMAT_VERSION`).
        skipped: column name -> why the fit left it out, for the columns of the source that
            were not fitted when no columns were named (`default_columns`: types that cannot
            be binned, pandas index columns); saved as ``"skipped"`` when not empty.
    """

    columns: dict[str, ColumnBaseline]
    rows: int
    source: str
    created_at: str
    skyfabric_version: str
    bins: int
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    skipped: dict[str, str] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        source: Any,
        columns: str | list[str] | None = None,
        *,
        bins: int = 10,
        binning: Literal["quantile", "uniform"] = "quantile",
        top_k: int = 50,
        memory_budget_bytes: int = 256 * 2**20,
        source_name: str | None = None,
        sketch_k: int = 200,
        threads: int = 1,
    ) -> Baseline:
        """Fit bins on ``source`` and count it into them.

        Args:
            source: pyarrow RecordBatch, Table, RecordBatchReader, ``pyarrow.dataset.Dataset``,
                an ``__arrow_c_stream__`` object, or an iterable of RecordBatch. Re-iterable
                sources (Table, Dataset, RecordBatch, list/tuple of batches) are read twice:
                pass 1 finds quantiles and top categories, pass 2 counts exactly. One-shot
                sources are read once; counts of sketched columns are then approximate.
            columns: columns to fit (default: every column of a supported type); a single
                name is one column, a name given twice is fitted once.
            bins: B >= 1 bins per numeric column before merging ties.
            binning: ``"quantile"`` (equal frequency) or ``"uniform"`` (equal width).
            top_k: categories kept per categorical column, plus ``__other__``.
            memory_budget_bytes: bytes of numeric values (8 per value) held for exact
                quantiles, summed over columns; beyond it columns move into KLL sketches.
            source_name: recorded as ``source`` (default: a description of the object).
            sketch_k: KLL ``k`` (200 gives a normalized rank error of about 1.3%).
            threads: threads for the counting pass (see ``histogram_columns``).

        Raises:
            BaselineError: bad arguments, ``columns=[]``, a column missing or of an
            unsupported type, no column that can be binned (`no_binnable_columns`), or a
            source without rows.
        """
        if not (isinstance(bins, int) and bins >= 2):  # one bin cannot show a shift
            raise BaselineError(f"bins must be an integer >= 2, got {bins!r}")
        if binning not in ("quantile", "uniform"):
            raise BaselineError(f"binning must be 'quantile' or 'uniform', got {binning!r}")
        if not (isinstance(top_k, int) and top_k >= 1):
            raise BaselineError(f"top_k must be an integer >= 1, got {top_k!r}")
        import pyarrow.dataset as pads

        columns = column_names(columns)
        reiterable = isinstance(source, pa.Table | pa.RecordBatch | list | tuple | pads.Dataset)
        names, batches = iter_batches(source, columns)
        described = source_name or _describe(source)
        if names is not None:  # before the batches, which hold only the asked-for columns
            require_columns(columns, names, described)
        # a Dataset's scan drops the schema metadata that names pandas' index columns
        known = getattr(source, "schema", None)
        indexes = pandas_index_columns(known) if isinstance(known, pa.Schema) else set()
        summaries: dict[str, _NumericSummary | _CategorySummary] = {}
        dtypes: dict[str, str] = {}
        skipped: dict[str, str] = {}
        rows = 0
        for batch in batches:
            if not summaries:
                summaries, dtypes, skipped = _summaries_for(
                    batch.schema, columns, sketch_k, described, indexes
                )
            rows += batch.num_rows
            for name, summary in summaries.items():
                column = batch.column(name)
                for chunk in getattr(column, "chunks", [column]):  # a Table in the iterable
                    summary.update(chunk)
            _enforce_budget(summaries, memory_budget_bytes)
        if not summaries:
            if names is not None and rows == 0 and columns:
                missing = [c for c in columns if c not in names]
                if missing:
                    raise BaselineError(f"columns {missing} not in the source; it has {names}")
            raise BaselineError("the baseline source yielded no batches; a baseline needs rows")
        if rows == 0:
            raise BaselineError("the baseline source has no rows; a baseline needs data")
        fitted = {
            name: _fit_column(name, dtypes[name], s, bins, binning, top_k)
            for name, s in summaries.items()
        }
        if reiterable:
            counted = histogram_columns(
                source, {n: c.histogram for n, c in fitted.items()}, threads=threads
            )
            for name, col in fitted.items():
                col.histogram = counted[name]
        else:
            for name, col in fitted.items():
                col.histogram = _one_pass_counts(summaries[name], col)
                if col.rank_error is not None:
                    col.note = (
                        col.note + "; " if col.note else ""
                    ) + "counts from the sketch (one-shot source): approximate within rank_error"
        return cls(
            columns=fitted,
            rows=rows,
            source=described,
            created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            skyfabric_version=__version__,
            bins=bins,
            skipped=skipped,
        )

    def templates(self) -> dict[str, Histogram]:
        """Column name -> empty histogram with this baseline's bins, to count current data."""
        return {name: Histogram.empty_like(c.histogram) for name, c in self.columns.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict; see `to_json`."""
        return {
            **self.extra,
            "format_version": self.format_version,
            "skyfabric_version": self.skyfabric_version,
            "created_at": self.created_at,
            "source": self.source,
            "rows": self.rows,
            "bins": self.bins,
            "columns": {name: c.to_dict() for name, c in self.columns.items()},
            # only when a column was left out: other baselines' JSON stays as it was
            **({"skipped": dict(self.skipped)} if self.skipped else {}),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Strict JSON (no bare NaN/Infinity): floats written with ``repr`` so they load back
        bit-exact, infinite edges as the strings ``"Infinity"``/``"-Infinity"``. Objects are
        indented, lists of edges/categories/counts stay on one line each."""
        lists: list[str] = []
        tag = secrets.token_hex(8)  # placeholders no real string can collide with

        def park(obj: Any) -> Any:  # lists -> placeholders, dumped compactly afterwards
            if isinstance(obj, dict):
                return {k: park(v) for k, v in obj.items()}
            if isinstance(obj, list) and indent is not None:
                lists.append(json.dumps(obj, allow_nan=False))
                return f"{tag}:{len(lists) - 1}"
            return obj

        text = json.dumps(park(self.to_dict()), indent=indent, allow_nan=False)
        return re.sub(f'"{tag}:(\\d+)"', lambda m: lists[int(m.group(1))], text)

    @classmethod
    def from_json(cls, text: str | bytes) -> Baseline:
        """Load a baseline written by any skyfabric with ``format_version <= FORMAT_VERSION``.

        Raises:
            BaselineError: not JSON (binary or parquet data, an HTML page), a drift check
            report instead of a baseline, a newer format, or a missing/invalid field (named).
        """
        if isinstance(text, bytes | bytearray) and text[:4] == _PARQUET_MAGIC:
            raise BaselineError(
                "this is a parquet file (binary data), not a baseline JSON: the data and the "
                f"baseline may be swapped; {_FIX}, and the parquet data as the source"
            )
        try:
            d = json.loads(text)
        except UnicodeDecodeError as exc:
            raise BaselineError(f"this is binary data, not a baseline JSON; {_FIX}") from exc
        except ValueError as exc:
            if not text.strip():
                raise BaselineError(f"the file is empty, not a baseline JSON; {_FIX}") from exc
            head = text[:64]
            if isinstance(head, bytes | bytearray):
                head = head.decode("utf-8", "replace")
            if head.lstrip("\ufeff \t\r\n").startswith("<"):
                raise BaselineError(
                    f"this is HTML or XML (a drift check --report?), not a baseline JSON; {_FIX}"
                ) from exc
            raise BaselineError(f"baseline is not valid JSON: {exc}; {_FIX}") from exc
        if not isinstance(d, dict):
            raise BaselineError(f"baseline JSON must be an object, got {type(d).__name__}; {_FIX}")
        version = d.get("format_version")
        if version is None and _is_drift_report(d):
            raise BaselineError(
                "this is a drift check report (the JSON of `skyfabric drift check --json-out` "
                f"/ write_json), not a baseline; {_FIX}, not the report"
            )
        if not isinstance(version, int) or version < 1:
            raise BaselineError(
                f"baseline has no valid format_version (got {version!r}), so it is not a "
                f"skyfabric baseline; {_FIX}"
            )
        if version > FORMAT_VERSION:
            raise BaselineError(
                f"baseline format_version {version} was written by skyfabric "
                f"{d.get('skyfabric_version', '?')}; this is {__version__}, which reads up to "
                f"{FORMAT_VERSION}: upgrade skyfabric"
            )
        known = {
            "format_version",
            "skyfabric_version",
            "created_at",
            "source",
            "rows",
            "bins",
            "columns",
            "skipped",
        }
        try:
            columns = {str(k): ColumnBaseline.from_dict(v) for k, v in d["columns"].items()}
            skipped = {str(k): str(v) for k, v in d.get("skipped", {}).items()}
            return cls(
                columns=columns,
                rows=int(d["rows"]),
                source=str(d.get("source", "")),
                created_at=str(d.get("created_at", "")),
                skyfabric_version=str(d.get("skyfabric_version", "")),
                bins=int(d.get("bins", 0)),
                format_version=version,
                extra={k: v for k, v in d.items() if k not in known},
                skipped=skipped,
            )
        except (KeyError, TypeError, ValueError, AttributeError, DriftError) as exc:
            raise BaselineError(f"invalid baseline JSON: {exc!r}") from exc


_PARQUET_MAGIC = b"PAR1"  # the first (and last) four bytes of a parquet file

_FIX = (
    "fix: pass the baseline JSON written by `skyfabric drift baseline --out` (Python: "
    "save_baseline)"
)


def _is_drift_report(d: dict[str, Any]) -> bool:
    """True for the JSON of `DriftResult.to_dict` (``--json-out``): a ``columns`` list of
    per-column results with ``psi`` and ``status`` (a baseline has a ``columns`` object)."""
    cols = d.get("columns")
    if not isinstance(cols, list):
        return False
    if "worst_status" in d and "baseline_source" in d:
        return True
    return any(isinstance(c, dict) and "psi" in c and "status" in c for c in cols)


_PANDAS_INDEX_NAME = re.compile(r"__index_level_\d+__")
_INDEX_REASON = (
    "the pandas index (DataFrame.to_parquet stores it as a column); name it in --columns / "
    "columns= to fit it"
)


def pandas_index_columns(schema: pa.Schema) -> set[str]:
    """The columns of ``schema`` that hold a pandas index: those its ``b"pandas"`` metadata
    lists as ``index_columns`` (``DataFrame.to_parquet`` and ``Table.from_pandas`` store any
    index but a plain range as a column: a filtered frame's row numbers, a named index), and
    any named ``__index_level_N__`` (metadata or not)."""
    names = set(schema.names)
    found = {n for n in names if _PANDAS_INDEX_NAME.fullmatch(n)}
    try:
        listed = json.loads((schema.metadata or {}).get(b"pandas", b"{}"))["index_columns"]
    except (ValueError, TypeError, KeyError):  # no pandas metadata, or not pandas' layout
        return found
    if isinstance(listed, list):  # a range index is a dict of start/stop/step, no column
        found |= {c for c in listed if isinstance(c, str) and c in names}
    return found


def require_columns(columns: list[str] | None, names: list[str], source: str) -> None:
    """Raise unless every one of ``columns`` (None: all) is among ``names``, the columns of
    ``source``.

    Raises:
        BaselineError: names the missing columns and those ``source`` has.
    """
    missing = [c for c in columns or () if c not in names]
    if missing:
        raise BaselineError(
            f"column(s) {', '.join(missing)} are not in {source} (it has "
            f"{', '.join(names) or 'no columns'}); fix: check the column names"
        )


def default_columns(
    schema: pa.Schema,
    promoted: dict[str, str] | None = None,
    indexes: set[str] | frozenset[str] = frozenset(),
) -> tuple[list[str], dict[str, str]]:
    """(the columns a fit bins when none are named, column -> why each other one is left out).

    Left out: types that cannot be binned (lists, structs, binary...), and pandas' index
    columns (`pandas_index_columns` of ``schema``, plus ``indexes``): row numbers that
    ``df[df.x > 0].to_parquet(...)`` stored, which differ between any two data sets and
    would show as drift. A column named in ``columns=`` / ``--columns`` is fitted all the
    same. ``promoted``: `Source.promoted`, to say which files' types made a column
    unbinnable (string in one file, binary in another is binary).
    """
    indexes = pandas_index_columns(schema) | set(indexes)
    fitted: list[str] = []
    skipped: dict[str, str] = {}
    for f in schema:
        where = f" ({promoted[f.name]})" if promoted and f.name in promoted else ""
        if _kind(f.type) is None:
            skipped[f.name] = f"{f.type}{where}, which cannot be binned"
        elif f.name in indexes:
            skipped[f.name] = f"{f.type}, {_INDEX_REASON}"
        else:
            fitted.append(f.name)
    return fitted, skipped


def no_binnable_columns(source: str, skipped: dict[str, str]) -> BaselineError:
    """The error of a fit on ``source`` that has rows but no column it bins unasked:
    each column with its type and why (``skipped``, from `default_columns`), and the fix."""
    found = "; ".join(f"{name!r}: {why}" for name, why in skipped.items()) or "no columns"
    fix = (
        "point at data that has such columns (naming them with --columns on the command "
        "line, columns= in Python), or write these columns as one of those types (text "
        "written as binary: as string)"
    )
    if any(why.endswith(_INDEX_REASON) for why in skipped.values()):
        fix = "name the index column(s) with --columns (columns= in Python) to fit them, or " + fix
    return BaselineError(
        f"no column of {source} can be binned, so a baseline has nothing to fit. It has "
        f"{found}. A baseline bins numeric, temporal (date, time, timestamp, duration), bool, "
        f"string and dictionary columns; fix: {fix}"
    )


def _summaries_for(
    schema: pa.Schema,
    columns: list[str] | None,
    sketch_k: int,
    source: str,
    indexes: set[str],
) -> tuple[dict[str, _NumericSummary | _CategorySummary], dict[str, str], dict[str, str]]:
    """(summary per fitted column, its Arrow type string, column -> why it is left out)."""
    names = schema.names
    skipped: dict[str, str] = {}
    if columns is not None:
        absent = [c for c in columns if c not in names]
        if absent:
            raise BaselineError(f"columns {absent} not in the source; it has {names}")
    else:
        columns, skipped = default_columns(schema, indexes=indexes)
        if not columns:
            raise no_binnable_columns(source, skipped)
    summaries: dict[str, _NumericSummary | _CategorySummary] = {}
    dtypes = {}
    for name in columns:
        t = schema.field(name).type
        kind = _kind(t)
        if kind is None:
            raise BaselineError(
                f"column {name!r} has type {t}, which cannot be binned; "
                "use numeric, temporal, bool, string or dictionary columns"
            )
        summaries[name] = _NumericSummary(sketch_k) if kind == "numeric" else _CategorySummary()
        dtypes[name] = str(t)
    return summaries, dtypes, skipped


def _enforce_budget(summaries: dict[str, Any], budget: int) -> None:
    """Spill the largest materialized numeric columns to sketches until under budget."""
    exact = [s for s in summaries.values() if isinstance(s, _NumericSummary) and s.chunks]
    total = sum(s.nbytes for s in exact)
    for s in sorted(exact, key=lambda s: -s.nbytes):
        if total <= budget:
            break
        total -= s.nbytes
        s.spill()


def _fit_column(
    name: str,
    dtype: str,
    s: _NumericSummary | _CategorySummary,
    bins: int,
    binning: str,
    top_k: int,
) -> ColumnBaseline:
    if isinstance(s, _CategorySummary):
        note = (
            ""
            if s.sketch is None
            else f"more than {MAX_EXACT_CATEGORIES} distinct values: top-K from a frequent-items sketch"
        )
        cats = [k for k, _ in s.top(top_k)]
        return ColumnBaseline(name, dtype, Histogram.categorical(cats), "categorical", note=note)
    edges, merged, note = s.edges(bins, binning)
    rank_error = None
    if s.sketch is not None:
        rank_error = float(s.sketch.normalized_rank_error(False))
    return ColumnBaseline(
        name,
        dtype,
        Histogram.numeric(edges),
        binning,  # type: ignore[arg-type]
        merged_edges=merged,
        rank_error=rank_error,
        note=note,
    )


def _one_pass_counts(s: _NumericSummary | _CategorySummary, col: ColumnBaseline) -> Histogram:
    if isinstance(s, _NumericSummary):
        return s.counts(col.histogram)
    h = Histogram.empty_like(col.histogram)
    top = dict(s.top(len(col.histogram.categories)))  # type: ignore[arg-type]
    h.counts[:-1] = [top[c] for c in col.histogram.categories]  # type: ignore[union-attr]
    h.counts[-1] = max(s.n - int(h.counts[:-1].sum()), 0)
    h.missing = s.missing
    return h


def _describe(source: Any) -> str:
    files = getattr(source, "files", None)
    if files:
        return f"{files[0]} (+{len(files) - 1} more files)" if len(files) > 1 else str(files[0])
    return f"<{type(source).__module__}.{type(source).__name__}>"
