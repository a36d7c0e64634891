"""The batch job: compare a source against a saved baseline, column by column.

``check(baseline, source)`` opens the source (`sources`), counts its
values into the baseline's bins with an engine (`engine`), and compares
each column with `compare` (PSI, expected PSI under no drift,
chi-square p-value, Jensen-Shannon distance, status). Thresholds and ``eps`` default to the
``[drift]`` section of the configuration (``FabricConfig.drift``).

Drift *levels* used by `DriftResult.exceeds` and the CLI's exit codes:

===============  =====================================================================
level            statuses
===============  =====================================================================
``stable``       ``stable``; ``too_small`` (the sample cannot support a verdict)
``moderate``     ``moderate``
``significant``  ``significant``; ``missing_column`` (a column the baseline has is gone);
                 ``type_changed`` (its type no longer fits the baseline's bins: numbers
                 became strings or the reverse); ``empty`` (no rows arrived): all should
                 page someone like big drift
===============  =====================================================================

``constant`` and ``all_null`` columns take the level of their PSI when one is defined,
else ``stable``.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from skyfabric.drift.comparing import baseline_columns, compare_columns, drift_defaults, thresholds
from skyfabric.drift.engine import Engine, ProgressCallback, count
from skyfabric.drift.file_io import read_bytes, write_text
from skyfabric.drift.sources import DEFAULT_BATCH_SIZE, fixed_partition_keys, open_source
from skyfabric.errors import BaselineError, DriftError

if TYPE_CHECKING:
    import pyarrow as pa

    from skyfabric.drift.baseline import Baseline
    from skyfabric.drift.histogram import Histogram
    from skyfabric.drift.psi import ColumnDrift
    from skyfabric.drift.sources import Source
    from skyfabric.fabric import Fabric

__all__ = [
    "LEVELS",
    "DriftResult",
    "baseline_columns",
    "check",
    "compare_columns",
    "fit_baseline",
    "load_baseline",
    "save_baseline",
    "thresholds",
]

Level = Literal["stable", "moderate", "significant"]
LEVELS: tuple[Level, ...] = ("stable", "moderate", "significant")
_FIXED_LEVEL = {
    "stable": 0,
    "too_small": 0,
    "moderate": 1,
    "significant": 2,
    "missing_column": 2,
    "type_changed": 2,
    "empty": 2,
}


def _finite(x: Any) -> Any:
    """JSON has no NaN/inf: non-finite floats become ``None``."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


@dataclass
class DriftResult:
    """Drift of every checked column of one source against one baseline.

    Attributes:
        columns: one `ColumnDrift` per baseline column checked.
        rows: rows scanned in the current data.
        source: display name of the current data (URL or path).
        baseline_source: the baseline's own ``source``.
        created_at: ISO-8601 UTC time of the check.
        eps, moderate, significant: the PSI floor and thresholds used.
        engine: ``"local"`` or ``"dask"``.
        seconds: wall time of the scan and comparison (s).
    """

    columns: list[ColumnDrift]
    rows: int
    source: str
    baseline_source: str
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    eps: float = 1e-4
    moderate: float = 0.1
    significant: float = 0.25
    engine: str = "local"
    seconds: float = 0.0

    def level(self, col: ColumnDrift) -> Level:
        """Drift level of one column (see the module docstring)."""
        if col.status in _FIXED_LEVEL:
            return LEVELS[_FIXED_LEVEL[col.status]]
        psi = col.psi
        if psi is None or not math.isfinite(psi):
            return "stable"
        if psi >= self.significant:
            return "significant"
        return "moderate" if psi >= self.moderate else "stable"

    @property
    def worst_status(self) -> Level:
        """The highest drift level over all columns (``"stable"`` when there are none)."""
        return max((self.level(c) for c in self.columns), key=LEVELS.index, default="stable")

    def exceeds(self, level: str) -> bool:
        """True when some column is at ``level`` or worse; ``"never"`` is always False.

        Raises:
            DriftError: ``level`` is not ``moderate``, ``significant`` or ``never``.
        """
        if level == "never":
            return False
        if level not in ("moderate", "significant"):
            raise DriftError(
                f"unknown drift level {level!r}; fix: use moderate, significant or never"
            )
        return LEVELS.index(self.worst_status) >= LEVELS.index(level)  # type: ignore[arg-type]

    def __getitem__(self, column: str) -> ColumnDrift:
        for col in self.columns:
            if col.column == column:
                return col
        raise KeyError(column)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict: the result, then one entry per column with both histograms."""
        cols = []
        for c in self.columns:
            d = {k: _finite(v) for k, v in c.to_dict().items()}
            d["level"] = self.level(c)
            d["rows_baseline"] = int(c.baseline.total)
            d["rows_current"] = int(c.current.total) if c.current is not None else None
            cols.append(d)
        return {
            "source": self.source,
            "baseline_source": self.baseline_source,
            "created_at": self.created_at,
            "rows": self.rows,
            "worst_status": self.worst_status,
            "thresholds": {
                "eps": self.eps,
                "moderate": self.moderate,
                "significant": self.significant,
            },
            "engine": self.engine,
            "seconds": round(self.seconds, 4),
            "columns": cols,
        }

    def to_json(self, indent: int | None = 2) -> str:
        """`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftResult:
        """Rebuild a result written by `to_dict` (e.g. to re-render a report)."""
        from skyfabric.drift.histogram import Histogram
        from skyfabric.drift.psi import ColumnDrift

        cols = [
            ColumnDrift(
                column=c["column"],
                psi=c["psi"],
                js_distance=c["js_distance"],
                expected_psi=c["expected_psi"],
                p_value=c["p_value"],
                status=c["status"],
                baseline=Histogram.from_dict(c["baseline"]),
                current=Histogram.from_dict(c["current"]) if c["current"] is not None else None,
                note=c["note"],
                dof=c.get("dof"),
                critical_psi=c.get("critical_psi"),
                dtype=c.get("dtype"),
            )
            for c in data["columns"]
        ]
        th = data.get("thresholds", {})
        return cls(
            columns=cols,
            rows=data["rows"],
            source=data["source"],
            baseline_source=data["baseline_source"],
            created_at=data["created_at"],
            eps=th.get("eps", 1e-4),
            moderate=th.get("moderate", 0.1),
            significant=th.get("significant", 0.25),
            engine=data.get("engine", "local"),
            seconds=data.get("seconds", 0.0),
        )


def check(
    baseline: Baseline | str | os.PathLike[str],
    source: Any,
    *,
    fabric: Fabric | None = None,
    engine: Engine = "local",
    columns: str | list[str] | None = None,
    eps: float | None = None,
    moderate: float | None = None,
    significant: float | None = None,
    client: Any = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> DriftResult:
    """Compare ``source`` against ``baseline``; never loads the source whole.

    Args:
        baseline: a `Baseline`, or the URL/path of one saved
            with `save_baseline`.
        source: see `skyfabric.drift.sources` (URL, path, pyarrow object).
        fabric: resolves ``fabric://`` URLs and supplies the ``[drift]`` defaults.
        engine: ``"local"`` (threads) or ``"dask"`` (one task per file; ``client`` or the
            default client, see `count_dask`).
        columns: baseline columns to check (default: all of them); a single name is one
            column, a name given twice is checked once.
        eps, moderate, significant: PSI floor and thresholds; default ``FabricConfig.drift``.
        progress: called with the row count of each counted batch/file.

    Raises:
        BaselineError: a requested column is not in the baseline, or ``columns`` is empty.
        DriftError: thresholds out of order, unknown engine, unreadable source, ``columns``
            not names.
        ObjectNotFoundError: the source or baseline does not exist.
    """
    started = time.perf_counter()
    if not hasattr(baseline, "columns"):
        baseline = load_baseline(os.fspath(baseline), fabric=fabric)  # type: ignore[arg-type]
    eps, moderate, significant = thresholds(fabric, eps, moderate, significant)
    names = baseline_columns(baseline, columns)
    src = open_source(source, fabric=fabric)
    templates, changed = _templates(baseline, names, src)
    # a column whose type no longer fits its bins is reported, not counted: the others
    # still get their numbers
    with src.reading():
        counted = count(
            src,
            {c: templates[c] for c in names if c not in changed},
            engine=engine,
            fabric=fabric,
            client=client,
            batch_size=batch_size,
            threads=threads,
            progress=progress,
        )
    results = compare_columns(
        baseline, names, counted.histograms, changed, eps, moderate, significant
    )
    if isinstance(source, str | os.PathLike):
        _explain_fixed_partition_keys(results, fixed_partition_keys(os.fspath(source)), src.name)
    return DriftResult(
        columns=results,
        rows=counted.rows,
        source=src.name,
        baseline_source=baseline.source,
        eps=eps,
        moderate=moderate,
        significant=significant,
        engine=engine,
        seconds=time.perf_counter() - started,
    )


def _explain_fixed_partition_keys(
    results: list[ColumnDrift], fixed: dict[str, str], name: str
) -> None:
    """Say why a baseline column is missing when it is a partition key the source's path
    fixes (``.../month=7/``): such a key is not read as a column (`open_source`), so a
    baseline fitted on all months reports ``month`` as ``missing_column``."""
    for col in results:
        if col.status == "missing_column" and col.column in fixed:
            key = f"{col.column}={fixed[col.column]}"
            col.note = (
                f"column {col.column!r} is not in the current data: {name} fixes it in its "
                f"path ({key}), and a partition key the path fixes is not read as a column "
                "(a constant would show as drift against a baseline of other values); fix: "
                "leave it out of the check (--columns on the command line, columns= in "
                "Python), or fit the baseline without it"
            )


def _templates(
    baseline: Baseline, names: list[str], src: Source
) -> tuple[dict[str, Histogram], dict[str, ColumnDrift]]:
    """(column -> template to count into, column -> ``type_changed`` result) for ``names``.

    A column whose current type cannot go into its bins (`_type_changes`), or whose files
    disagree on its type (``src.conflicts``), gets a result and is not counted. A temporal
    column now in another unit is counted on the baseline's bins through exact integer
    thresholds in that unit (`RescaledTemplate`).
    """
    from skyfabric.drift._binning import rescaled_thresholds, temporal_rescale
    from skyfabric.drift.histogram import RescaledTemplate
    from skyfabric.drift.psi import ColumnDrift

    templates = baseline.templates()
    changed = _type_changes(baseline, names, src.schema)
    for c in names:
        col = baseline.columns[c]
        if c in src.conflicts:
            note = src.conflict_message([c])
            changed[c] = ColumnDrift.without_psi(c, "type_changed", col.histogram, None, note)
        elif c in src.schema.names and c not in changed:
            factor = temporal_rescale(col.dtype, src.schema.field(c).type)
            if factor is not None:
                edges = templates[c].edges
                thresholds = rescaled_thresholds(edges, factor)  # type: ignore[arg-type]
                templates[c] = RescaledTemplate("numeric", edges, int_thresholds=thresholds)
    return templates, changed


def _type_changes(
    baseline: Baseline, names: list[str], schema: pa.Schema
) -> dict[str, ColumnDrift]:
    """A ``type_changed`` result per column whose current type cannot go into its bins."""
    from skyfabric.drift._binning import type_mismatch
    from skyfabric.drift.psi import ColumnDrift

    out = {}
    for c in names:
        if c not in schema.names:
            continue
        t = schema.field(c).type
        col = baseline.columns[c]
        why = type_mismatch(col.histogram, t, col.dtype)
        if why is not None:
            note = (
                f"column {c!r} changed type: it was {col.dtype} in the baseline and {why}; "
                f"fix: cast it back to {col.dtype} where the data is written, or refit the "
                "baseline on data of the new type"
            )
            out[c] = ColumnDrift.without_psi(c, "type_changed", col.histogram, None, note)
    return out


def fit_baseline(
    source: Any,
    columns: str | list[str] | None = None,
    *,
    fabric: Fabric | None = None,
    bins: int | None = None,
    binning: Literal["quantile", "uniform"] = "quantile",
    top_k: int | None = None,
    memory_budget_bytes: int = 256 * 2**20,
    source_name: str | None = None,
    threads: int | None = None,
) -> Baseline:
    """Fit a `Baseline` on any source `check` accepts.

    ``columns`` default: every column a baseline can bin but pandas' index columns
    (`skyfabric.drift.baseline.default_columns`); the others are listed with the reason in
    the baseline's ``skipped``. ``bins`` and ``top_k`` default to ``FabricConfig.drift``. A
    dataset or table is scanned twice (quantiles/top-k, then counts), in batches; the
    counting pass uses ``threads`` threads (default: CPU count).

    Raises:
        BaselineError: a requested column is not in the source, ``columns=[]``, no column
            of the source can be binned (each named with its type, and the fix), or the fit
            fails.
        ObjectNotFoundError: the source does not exist.
    """
    from skyfabric.drift.baseline import (
        Baseline,
        default_columns,
        no_binnable_columns,
        require_columns,
    )
    from skyfabric.drift.histogram import column_names

    defaults = drift_defaults(fabric)
    # one name, not its characters; a name given twice is fitted once (it raised a KeyError)
    columns = column_names(columns)
    if bins is not None and not (isinstance(bins, int) and bins >= 2):
        raise BaselineError(f"bins must be an integer >= 2, got {bins!r}")
    src = open_source(source, fabric=fabric)
    require_columns(columns, src.schema.names, src.name)
    skipped: dict[str, str] = {}
    if not columns:  # those a baseline can bin: a list column is neither read nor checked
        columns, skipped = default_columns(src.schema, src.promoted)
        if not columns:
            raise no_binnable_columns(src.name, skipped)
    src.require_consistent(columns)
    with src.reading():
        base = Baseline.fit(
            src.fit_input(columns),
            columns,
            bins=defaults.bins if bins is None else bins,
            binning=binning,
            top_k=top_k or defaults.top_k,
            memory_budget_bytes=memory_budget_bytes,
            source_name=source_name or src.name,
            threads=threads or os.cpu_count() or 1,
        )
    base.skipped = skipped
    return base


def save_baseline(
    baseline: Baseline, url: str | os.PathLike[str], fabric: Fabric | None = None
) -> None:
    """Write ``baseline`` as JSON to a ``fabric://`` URL or a local path."""
    write_text(os.fspath(url), baseline.to_json(), fabric=fabric, example="baseline.json")


def load_baseline(url: str | os.PathLike[str], fabric: Fabric | None = None) -> Baseline:
    """Read a baseline written by `save_baseline` from a URL or local path.

    Raises:
        ObjectNotFoundError: nothing at ``url``.
        BaselineError: the object is not a valid baseline (parquet or other binary data, a
            drift check report, ...); the message starts with ``url``.
    """
    from skyfabric.drift.baseline import Baseline

    data = read_bytes(os.fspath(url), fabric=fabric)
    try:
        return Baseline.from_json(data)
    except BaselineError as exc:
        raise BaselineError(f"{os.fspath(url)}: {exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise BaselineError(
            f"{os.fspath(url)} is not a valid skyfabric baseline ({exc}); fix: point at a file "
            "written by `skyfabric drift baseline` / save_baseline"
        ) from exc
