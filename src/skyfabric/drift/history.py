"""The drift history: one Iceberg row per window and column, in the fabric catalog.

The table (default `DEFAULT_HISTORY`, ``monitoring.drift_history``) is created on first use
through the table layer (`skyfabric.tables`), so DuckDB, polars, Trino and Spark read it
like any other table. Columns (`HISTORY_SCHEMA`):

================  ==========================  ==========================================
column            type                        meaning
================  ==========================  ==========================================
window_label      string                      ``month=7``, ``2026-01-05``: the window key
window_start      timestamp (UTC, us)         start of the window, when known
window_end        timestamp (UTC, us)         end of the window (exclusive), when known
windowing         string                      how the source was split: ``by month``,
                                              ``every 1d on captured_at``
column_name       string                      the checked column
psi               double                      PSI (null: missing column, empty, type change)
expected_psi      double                      mean PSI under no drift for these sizes
critical_psi      double                      PSI 95% of no-drift samples stay below
p_value           double                      chi-square p-value of the PSI
js_distance       double                      Jensen-Shannon distance
status            string                      stable, moderate, significant, too_small, ...
level             string                      stable, moderate or significant
rows              int64                       rows of the window
baseline_url      string                      the baseline compared against
source            string                      the monitored source, as given
checked_at        timestamp (UTC, us)         when the window was checked
================  ==========================  ==========================================

``window``, ``column`` and ``rows``-like names are reserved words in SQL (DuckDB, Trino),
hence ``window_label`` and ``column_name``. A window is identified by (source,
baseline_url, windowing, window_label), so monthly partitions and monthly time windows of one
source never stand in for each other; a re-check replaces its rows in one commit (`record`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from skyfabric.drift.trend import ColumnTrend, WindowResult
from skyfabric.errors import DriftError, MonitorSettingError

if TYPE_CHECKING:
    from skyfabric.fabric import Fabric
    from skyfabric.tables import Table

__all__ = [
    "DEFAULT_HISTORY",
    "HISTORY_SCHEMA",
    "forget",
    "history_rows",
    "open_history",
    "read_windows",
    "record",
]

DEFAULT_HISTORY = "monitoring.drift_history"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TS = pa.timestamp("us", tz="UTC")
HISTORY_SCHEMA = pa.schema(
    [
        pa.field("window_label", pa.string()),
        pa.field("window_start", _TS),
        pa.field("window_end", _TS),
        pa.field("windowing", pa.string()),
        pa.field("column_name", pa.string()),
        pa.field("psi", pa.float64()),
        pa.field("expected_psi", pa.float64()),
        pa.field("critical_psi", pa.float64()),
        pa.field("p_value", pa.float64()),
        pa.field("js_distance", pa.float64()),
        pa.field("status", pa.string()),
        pa.field("level", pa.string()),
        pa.field("rows", pa.int64()),
        pa.field("baseline_url", pa.string()),
        pa.field("source", pa.string()),
        pa.field("checked_at", _TS),
    ]
)


def open_history(fabric: Fabric, name: str = DEFAULT_HISTORY, location: str | None = None) -> Table:
    """The history table ``name``, created (with its namespace) when it does not exist, its
    files at ``location`` (default: the catalog's warehouse).

    Raises:
        MissingDependencyError: the table layer (``skyfabric[tables]``) is not installed.
        CatalogError: the catalog cannot be reached.
        DriftError: the table is new, ``location`` is None and the catalog has no warehouse.
    """
    parts = name.split(".")
    if len(parts) != 2 or not all(_IDENT.match(p) for p in parts):
        raise MonitorSettingError(
            f"history table name {name!r} is not namespace.table (letters, digits and _ in "
            f"each part); fix: e.g. --history {DEFAULT_HISTORY}"
        )
    try:
        table = fabric.create_table(name, HISTORY_SCHEMA, location=location, exist_ok=True)
    except ValueError as exc:
        if "location" not in str(exc):
            raise
        raise DriftError(
            f"the drift history table {name} does not exist yet, and the catalog has no "
            "warehouse to create it in (several stores are configured and [catalog] names no "
            "warehouse); fix: set warehouse = \"fabric://<store>/warehouse\" in [catalog], or "
            "give the table's location (--history-location fabric://<store>/monitoring/history, "
            "history_location= in Python)"
        ) from exc
    missing = [f for f in HISTORY_SCHEMA.names if f not in table.schema.column_names]
    if missing:
        raise MonitorSettingError(
            f"table {name} exists and is not a drift history (it has no {', '.join(missing[:3])} "
            f"column); nothing was written to it; fix: name another --history table, e.g. "
            f"{DEFAULT_HISTORY}"
        )
    return table


def _when(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def history_rows(
    windows: list[WindowResult], source: str, baseline_url: str, windowing: str
) -> pa.Table:
    """The history rows of ``windows`` (one per window and column) as an Arrow table."""
    rows = [
        {
            "window_label": w.window,
            "window_start": w.start,
            "window_end": w.end,
            "windowing": windowing,
            "column_name": c.column,
            "psi": c.psi,
            "expected_psi": c.expected_psi,
            "critical_psi": c.critical_psi,
            "p_value": c.p_value,
            "js_distance": c.js_distance,
            "status": c.status,
            "level": c.level,
            "rows": w.rows,
            "baseline_url": baseline_url,
            "source": source,
            "checked_at": _when(w.checked_at),
        }
        for w in windows
        for c in w.columns
    ]
    return pa.Table.from_pylist(rows, schema=HISTORY_SCHEMA)


def _these(source: str, baseline_url: str, windowing: str) -> Any:
    from pyiceberg.expressions import And, EqualTo

    return And(
        EqualTo("source", source),
        EqualTo("baseline_url", baseline_url),
        EqualTo("windowing", windowing),
    )


def forget(
    table: Table, labels: list[str], source: str, baseline_url: str, windowing: str
) -> None:
    """Delete the history rows of windows ``labels`` (of this source, baseline and
    windowing), so the next run checks them again: what a failed alert leaves behind."""
    from pyiceberg.expressions import And, In

    if labels:
        table.delete(And(_these(source, baseline_url, windowing), In("window_label", labels)))


def record(
    table: Table, windows: list[WindowResult], source: str, baseline_url: str, windowing: str
) -> None:
    """Append the rows of ``windows``; rows those windows already had are replaced in the
    same commit (a re-check, ``--recompute``), so a reader never sees both or neither."""
    from pyiceberg.expressions import And, In

    if not windows:
        return
    data = history_rows(windows, source, baseline_url, windowing)
    labels = {w.window for w in windows}
    table.overwrite(data, And(_these(source, baseline_url, windowing), In("window_label", labels)))


def read_windows(
    table: Table, source: str, baseline_url: str, windowing: str
) -> dict[str, WindowResult]:
    """Window label -> `WindowResult` (``from_history=True``) for every window of this
    source, baseline and windowing in the history; the latest check of a window wins."""
    data = table.to_arrow(_these(source, baseline_url, windowing)).sort_by(
        [("checked_at", "ascending")]
    )
    out: dict[str, WindowResult] = {}
    for r in data.to_pylist():
        label = r["window_label"]
        checked = r["checked_at"].isoformat(timespec="seconds")
        w = out.get(label)
        if w is None or w.checked_at != checked:  # a later check of the window replaces it
            w = out[label] = WindowResult(
                label, r["window_start"], r["window_end"], r["rows"], "stable", [], checked,
                from_history=True,
            )
        w.columns.append(
            ColumnTrend(r["column_name"], r["psi"], r["expected_psi"], r["critical_psi"],
                        r["p_value"], r["js_distance"], r["status"], r["level"])
        )
    from skyfabric.drift.check import LEVELS

    for w in out.values():
        w.status = max((c.level for c in w.columns), key=LEVELS.index, default="stable")
    return out
