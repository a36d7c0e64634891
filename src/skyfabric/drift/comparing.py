"""Thresholds, column selection and the per-column comparison shared by `check` and
`skyfabric.drift.monitor` (which compares many windows against one baseline)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skyfabric.errors import BaselineError, DriftError

if TYPE_CHECKING:
    from skyfabric.drift.baseline import Baseline
    from skyfabric.drift.histogram import Histogram
    from skyfabric.drift.psi import ColumnDrift
    from skyfabric.fabric import Fabric

__all__ = ["baseline_columns", "compare_columns", "drift_defaults", "thresholds"]


def drift_defaults(fabric: Fabric | None) -> Any:
    """The ``[drift]`` section of ``fabric``'s configuration (else of `load_config`)."""
    if fabric is not None:
        return fabric.config.drift
    from skyfabric.config import load_config

    return load_config().drift


def thresholds(
    fabric: Fabric | None, eps: float | None, moderate: float | None, significant: float | None
) -> tuple[float, float, float]:
    """``(eps, moderate, significant)``, each defaulting to ``FabricConfig.drift``.

    Raises:
        DriftError: not ``0 < moderate <= significant``.
    """
    defaults = drift_defaults(fabric)
    eps = defaults.eps if eps is None else eps
    moderate = defaults.moderate if moderate is None else moderate
    significant = defaults.significant if significant is None else significant
    if not 0 < moderate <= significant:
        raise DriftError(
            f"thresholds must satisfy 0 < moderate <= significant, got moderate={moderate}, "
            f"significant={significant}; fix: e.g. moderate=0.1, significant=0.25"
        )
    return eps, moderate, significant


def baseline_columns(baseline: Baseline, columns: str | list[str] | None) -> list[str]:
    """The baseline columns a ``columns=`` argument names (default: all of them); a name
    given twice is checked once, a single ``str`` is one name.

    Raises:
        BaselineError: a name is not in the baseline, or ``columns`` is empty.
    """
    from skyfabric.drift.histogram import column_names

    requested = column_names(columns)
    names = list(baseline.columns) if requested is None else requested
    unknown = [c for c in names if c not in baseline.columns]
    if unknown:
        raise BaselineError(
            f"column(s) {', '.join(unknown)} are not in the baseline (it has "
            f"{', '.join(baseline.columns)}); fix: check the names or refit the baseline"
        )
    return names


def compare_columns(
    baseline: Baseline,
    names: list[str],
    histograms: dict[str, Histogram],
    changed: dict[str, ColumnDrift],
    eps: float,
    moderate: float,
    significant: float,
) -> list[ColumnDrift]:
    """`compare` each of ``names`` with its counted histogram (a column absent from
    ``histograms`` is ``missing_column``); the ``changed`` columns keep their
    ``type_changed`` result."""
    from skyfabric.drift.psi import compare

    results = [
        changed[c]
        if c in changed
        else compare(
            c,
            baseline.columns[c].histogram,
            histograms.get(c),
            eps=eps,
            moderate=moderate,
            significant=significant,
        )
        for c in names
    ]
    for r in results:  # the report shows temporal edges in the baseline column's type
        r.dtype = baseline.columns[r.column].dtype
    return results
