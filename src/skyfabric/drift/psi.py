"""Population stability index (PSI), its no-drift distribution, and Jensen-Shannon distance.

PSI over bins i (every value bin and the missing bin, so a change in the missing rate is
drift), on proportions ``e_i = expected_i / n`` and ``a_i = actual_i / m``, each floored at
``eps`` before the difference and the log::

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

Statuses: ``stable`` < 0.1 <= ``moderate`` < 0.25 <= ``significant`` (configurable), the
conventional thresholds examined by B. Yurdakul and J. Naranjo, "Statistical properties of the
population stability index", Journal of Risk Model Validation 14(4), 2020 (and Yurdakul's 2018
dissertation, Western Michigan University). They show that for two independent samples of
sizes n and m from one distribution, ``PSI / (1/n + 1/m)`` is asymptotically chi-square with
B-1 degrees of freedom. Hence, for these sample sizes and no drift at all:

* the expected PSI is ``(B-1) * (1/n + 1/m)``,
* the p-value of an observed PSI is ``P(chi2_{B-1} >= PSI / (1/n + 1/m))``,
* 95% of no-drift PSIs stay below ``chi2_{0.95, B-1} * (1/n + 1/m)``; when that is at or above
  the ``moderate`` threshold, the sample is too small for the threshold to mean anything and
  the result is flagged ``too_small`` instead of drift (e.g. 100 vs 100 rows in 10 bins:
  16.9 * 0.02 = 0.34) -- unless the p-value is below `SMALL_SAMPLE_ALPHA` (0.001): a shift
  that chance explains once in a thousand no-drift samples is drift whatever the sample size,
  and gets its threshold status (100 rows shifted by 3 sigma: PSI 7.8, p ~ 1e-78).

Here B counts the bins, the missing bin included, that are non-empty in the baseline or the
current histogram (bins empty in both carry no information and add 0 to PSI). The chi-square
survival function is the regularized upper incomplete gamma function ``Q(k/2, x/2)``, computed
by its series or continued fraction (Press et al., Numerical Recipes, 3rd ed., section 6.2),
so scipy is not needed.

The Jensen-Shannon distance (Endres & Schindelin, IEEE Trans. Inf. Theory 49(7), 2003), base
2, is the square root of the JS divergence of the unfloored proportions, bounded in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from skyfabric.drift.histogram import Histogram
from skyfabric.errors import DriftError

__all__ = [
    "SMALL_SAMPLE_ALPHA",
    "ColumnDrift",
    "Status",
    "chi2_isf",
    "chi2_sf",
    "compare",
    "js_distance",
    "psi",
]

Status = Literal[
    "stable",
    "moderate",
    "significant",
    "too_small",
    "constant",
    "all_null",
    "empty",
    "missing_column",
    "type_changed",
]


@dataclass
class ColumnDrift:
    """Drift of one column.

    Attributes:
        column: name. psi: PSI (dimensionless, >= 0, finite) or None when not computable
        (``empty``, ``missing_column``, ``type_changed``). js_distance: Jensen-Shannon distance in [0, 1].
        expected_psi: mean PSI under no drift for these sample sizes, ``dof * (1/n + 1/m)``.
        p_value: chi-square p-value of ``psi`` under no drift. status: see `Status`.
        baseline, current: the two histograms (``current`` None when the column is absent
        or its type changed so that it cannot be counted into the baseline's bins).
        note: a sentence for humans explaining non-threshold statuses.
        dof: degrees of freedom (non-empty bins in the union, minus 1).
        critical_psi: the PSI that no-drift samples of these sizes stay below with
        probability ``confidence`` (95%).
        dtype: the baseline column's Arrow type string (``timestamp[ms]``), set by `check`
        (None from `compare`): the report shows temporal bin edges as dates and times.
    """

    column: str
    psi: float | None
    js_distance: float | None
    expected_psi: float | None
    p_value: float | None
    status: Status
    baseline: Histogram
    current: Histogram | None
    note: str = ""
    dof: int | None = None
    critical_psi: float | None = None
    dtype: str | None = None

    @classmethod
    def without_psi(
        cls, column: str, status: Status, baseline: Histogram, current: Histogram | None, note: str
    ) -> ColumnDrift:
        """A result with no PSI, JS distance or no-drift statistics (``missing_column``,
        ``empty``, ``type_changed``): ``note`` says why."""
        return cls(column, None, None, None, None, status, baseline, current, note)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (finite floats, histograms via ``Histogram.to_dict``)."""
        return {
            "column": self.column,
            "status": self.status,
            "psi": self.psi,
            "js_distance": self.js_distance,
            "expected_psi": self.expected_psi,
            "p_value": self.p_value,
            "dof": self.dof,
            "critical_psi": self.critical_psi,
            "note": self.note,
            "dtype": self.dtype,
            "baseline": self.baseline.to_dict(),
            "current": None if self.current is None else self.current.to_dict(),
        }


def _check_pair(expected: Histogram, actual: Histogram) -> None:
    if not expected.same_bins(actual):
        raise DriftError(
            "PSI needs histograms with the same bins; count the current data with "
            "the baseline's templates (Baseline.templates())"
        )
    for name, h in (("expected", expected), ("actual", actual)):
        if h.total == 0:
            raise DriftError(f"the {name} histogram is empty; PSI needs at least one row")


def psi(expected: Histogram, actual: Histogram, *, eps: float = 1e-4) -> float:
    """PSI of ``actual`` against ``expected`` (formula in the module docstring).

    Args:
        expected, actual: histograms with the same bins; proportions include the missing bin.
        eps: floor for each proportion, 0 < eps < 1 (default 1e-4): keeps PSI finite when a
            bin is empty on one side; an empty bin then adds about ``p * ln(p / eps)``.

    Returns: PSI >= 0, finite.

    Raises:
        DriftError: different bins, an empty histogram, or eps outside (0, 1).
    """
    if not 0 < eps < 1:
        raise DriftError(f"eps must be in (0, 1), got {eps!r}")
    _check_pair(expected, actual)
    e = np.maximum(expected.proportions(), eps)
    a = np.maximum(actual.proportions(), eps)
    return float(np.sum((a - e) * np.log(a / e)))


def js_distance(expected: Histogram, actual: Histogram) -> float:
    """Jensen-Shannon distance, base 2, in [0, 1] (0: same proportions; 1: disjoint bins).

    Raises: DriftError for different bins or an empty histogram."""
    _check_pair(expected, actual)
    p, q = expected.proportions(), actual.proportions()
    mid = (p + q) / 2

    def kl(x: np.ndarray) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log2(x[nz] / mid[nz])))

    return math.sqrt(min(max(0.5 * kl(p) + 0.5 * kl(q), 0.0), 1.0))


def _gamma_q(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x), a > 0 (Numerical Recipes 3e, 6.2)."""
    if x <= 0:
        return 1.0
    log_prefix = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:  # series for P(a, x), Q = 1 - P
        term = total = 1.0 / a
        ap = a
        for _ in range(100_000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    tiny = 1e-300  # continued fraction for Q by the modified Lentz method
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 100_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-16:
            break
    return min(1.0, math.exp(log_prefix) * h)


def chi2_sf(x: float, dof: int) -> float:
    """P(X >= x) for X ~ chi-square with ``dof`` >= 1 degrees of freedom: Q(dof/2, x/2)."""
    if dof < 1:
        raise DriftError(f"chi-square needs dof >= 1, got {dof}")
    return _gamma_q(dof / 2, x / 2)


def chi2_isf(p: float, dof: int) -> float:
    """x such that chi2_sf(x, dof) = p (0 < p < 1), by bisection to 1e-12 relative."""
    if not 0 < p < 1:
        raise DriftError(f"chi2_isf needs 0 < p < 1, got {p!r}")
    lo, hi = 0.0, max(float(dof), 1.0)
    while chi2_sf(hi, dof) > p:
        lo, hi = hi, hi * 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if chi2_sf(mid, dof) > p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return (lo + hi) / 2


SMALL_SAMPLE_ALPHA = 1e-3
"""p-value under which a sample too small for the thresholds still gets its threshold status:
no-drift samples reach it once in a thousand (module docstring)."""


def compare(
    column: str,
    expected: Histogram,
    actual: Histogram | None,
    *,
    eps: float = 1e-4,
    moderate: float = 0.1,
    significant: float = 0.25,
    confidence: float = 0.95,
) -> ColumnDrift:
    """PSI, JS distance, no-drift expectation, p-value and a status for one column.

    Status, first match wins: ``missing_column`` (actual is None), ``empty`` (no rows in the
    baseline or current histogram; psi None), ``all_null`` (no non-missing value on either
    side; psi 0), ``too_small`` (``critical_psi >= moderate`` and ``p_value >=``
    `SMALL_SAMPLE_ALPHA`: see the module docstring),
    then ``stable``/``moderate``/``significant`` by the thresholds, where a ``stable`` result
    on a constant baseline (one non-empty value bin) reads ``constant``. The note explains
    every non-threshold status and a baseline or current column that is entirely null.

    Raises:
        DriftError: the histograms have different bins, or invalid eps/thresholds.
    """
    if not 0 < moderate <= significant:
        raise DriftError(f"need 0 < moderate <= significant, got {moderate}, {significant}")
    if not 0 < confidence < 1:
        raise DriftError(f"confidence must be in (0, 1), got {confidence!r}")
    if actual is None:
        return ColumnDrift.without_psi(
            column,
            "missing_column",
            expected,
            None,
            f"column {column!r} is not in the current data",
        )
    if not expected.same_bins(actual):
        raise DriftError(
            f"column {column!r}: current histogram has different bins than the "
            "baseline; count it with Baseline.templates()"
        )
    n, m = expected.total, actual.total
    if n == 0 or m == 0:
        which = "baseline" if n == 0 else "current data"
        return ColumnDrift.without_psi(
            column,
            "empty",
            expected,
            actual,
            f"the {which} has no rows for column {column!r}; PSI is undefined",
        )
    value = psi(expected, actual, eps=eps)
    js = js_distance(expected, actual)
    union = (
        np.append(expected.counts, expected.missing) + np.append(actual.counts, actual.missing)
    ) > 0
    dof = int(union.sum()) - 1
    scale = 1 / n + 1 / m
    p_value = chi2_sf(value / scale, dof) if dof > 0 else 1.0
    critical = chi2_isf(1 - confidence, dof) * scale if dof > 0 else 0.0
    result = ColumnDrift(
        column, value, js, dof * scale, p_value, "stable", expected, actual, "", dof, critical
    )
    e_values, a_values = int(expected.counts.sum()), int(actual.counts.sum())
    notes = []
    if e_values == 0 and a_values == 0:
        result.status = "all_null"
        result.note = f"column {column!r} is entirely null in the baseline and the current data"
        return result
    if e_values == 0:
        notes.append("the baseline column is entirely null")
    if a_values == 0:
        notes.append(f"the current column is entirely null ({m} rows)")
    if critical >= moderate and p_value >= SMALL_SAMPLE_ALPHA:
        result.status = "too_small"
        notes.append(
            f"sample too small for the thresholds: with n={n} baseline and m={m} current rows "
            f"and {dof + 1} non-empty bins, PSI without any drift averages {dof * scale:.3g} and "
            f"stays below {critical:.3g} with {confidence:.0%} probability, at or above the "
            f"moderate threshold {moderate}; observed PSI {value:.3g} (p = {p_value:.3g})"
        )
    else:
        if value >= significant:
            result.status = "significant"
        elif value >= moderate:
            result.status = "moderate"
        if critical >= moderate:
            notes.append(
                f"small sample (n={n} baseline, m={m} current rows), but PSI {value:.3g} is far "
                f"beyond what chance gives without drift (p = {p_value:.3g} < "
                f"{SMALL_SAMPLE_ALPHA})"
            )
    if int(np.count_nonzero(expected.counts)) == 1:
        if result.status == "stable":
            result.status = "constant"
        notes.append(
            "the baseline is constant (all its values fall in one bin); PSI only "
            "sees values leaving that bin and changes in the missing rate"
        )
    result.note = "; ".join(notes)
    return result
