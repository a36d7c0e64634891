"""Fast streaming drift (PSI) over Arrow batches: histograms, baselines, checks, reports.

Typical use::

    from skyfabric import drift

    baseline = drift.fit_baseline("fabric://lake/flights/month=1/", ["dep_delay", "carrier"])
    drift.save_baseline(baseline, "fabric://registry/baselines/flights.json")
    result = drift.check("fabric://registry/baselines/flights.json", "fabric://lake/flights/month=7/")
    result.worst_status            # "stable" | "moderate" | "significant"
    drift.write_html(result, "fabric://reports/2013-07.html")

    # every month against the baseline, results appended to monitoring.drift_history
    trend = drift.monitor("fabric://lake/flights/", "fabric://registry/baselines/flights.json",
                          by="month")
    trend.to_pandas()                # one row per window and column

Importing this package loads numpy, pyarrow and numba (the kernels); matplotlib and dask
are imported only when a plot is drawn or the dask engine runs. ``import skyfabric`` does
not import this package at all.
"""

from __future__ import annotations

from skyfabric.drift.histogram import Histogram, histogram, histogram_columns  # isort: skip
from skyfabric.drift.baseline import Baseline, ColumnBaseline  # isort: skip
from skyfabric.drift.check import (
    DriftResult,
    check,
    fit_baseline,
    load_baseline,
    save_baseline,
)
from skyfabric.drift.monitor import monitor
from skyfabric.drift.report import plot_column, render_table, to_html, write_html, write_json
from skyfabric.drift.trend import MonitorResult

# Last: binding the function ``psi`` after the submodule ``skyfabric.drift.psi`` is loaded,
# so ``drift.psi`` is the function (the submodule stays importable by its full name).
from skyfabric.drift.psi import ColumnDrift, compare, psi  # isort: skip

__all__ = [
    "Baseline",
    "ColumnBaseline",
    "ColumnDrift",
    "DriftResult",
    "Histogram",
    "MonitorResult",
    "check",
    "compare",
    "fit_baseline",
    "histogram",
    "histogram_columns",
    "load_baseline",
    "monitor",
    "plot_column",
    "psi",
    "render_table",
    "save_baseline",
    "to_html",
    "write_html",
    "write_json",
]
