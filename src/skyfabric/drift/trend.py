"""The result of a monitor run: every window of a source against one baseline.

`MonitorResult` holds one `WindowResult` per window, checked now or read back from the
history table, each with one `ColumnTrend` per column. It writes the JSON of
``--json-out`` (`MonitorResult.to_dict`), a long pandas frame (one row per window and
column, `MonitorResult.to_pandas`), and shows as a PSI heat map in a notebook
(``_repr_html_``).
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from skyfabric.drift.check import LEVELS, DriftResult

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ColumnTrend", "MonitorResult", "WindowResult"]


def _num(x: Any) -> float | None:
    """A finite float or None (JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass
class ColumnTrend:
    """One column of one window.

    Attributes:
        column: name. psi: PSI or None (``missing_column``, ``empty``, ``type_changed``).
        expected_psi: mean PSI under no drift for these sample sizes. critical_psi: the PSI
        95% of no-drift samples stay below. p_value: chi-square p-value. js_distance:
        Jensen-Shannon distance. status: `skyfabric.drift.psi.Status`. level: ``stable``,
        ``moderate`` or ``significant`` (`DriftResult.level`). note: why, for statuses
        that are not thresholds.
    """

    column: str
    psi: float | None
    expected_psi: float | None
    critical_psi: float | None
    p_value: float | None
    js_distance: float | None
    status: str
    level: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "psi": _num(self.psi),
            "expected_psi": _num(self.expected_psi),
            "critical_psi": _num(self.critical_psi),
            "p_value": _num(self.p_value),
            "js_distance": _num(self.js_distance),
            "status": self.status,
            "level": self.level,
            "note": self.note,
        }


@dataclass
class WindowResult:
    """One window: label (``month=7``, ``2026-01-05``), bounds ``[start, end)`` when known
    (UTC), rows scanned, worst level over its columns, its columns, when it was checked, and
    whether it was read back from the history (``from_history``) rather than checked now.
    ``result`` is the full `DriftResult` (histograms included) of a window checked now."""

    window: str
    start: datetime | None
    end: datetime | None
    rows: int
    status: str
    columns: list[ColumnTrend]
    checked_at: str
    from_history: bool = False
    result: DriftResult | None = None

    @classmethod
    def from_result(
        cls, window: str, start: datetime | None, end: datetime | None, result: DriftResult
    ) -> WindowResult:
        cols = [
            ColumnTrend(
                c.column,
                c.psi,
                c.expected_psi,
                c.critical_psi,
                c.p_value,
                c.js_distance,
                c.status,
                result.level(c),
                c.note or "",
            )
            for c in result.columns
        ]
        return cls(window, start, end, result.rows, result.worst_status, cols,
                   result.created_at, False, result)

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "rows": self.rows,
            "status": self.status,
            "checked_at": self.checked_at,
            "from_history": self.from_history,
            "columns": [c.to_dict() for c in self.columns],
        }


@dataclass
class MonitorResult:
    """Every window of ``source`` against the baseline at ``baseline_url``.

    Attributes:
        windows: in window order (partition value or time), checked now or from history.
        source, baseline_url: as given to `skyfabric.drift.monitor`.
        eps, moderate, significant: the PSI floor and thresholds used.
        history: the history table (``namespace.table``) or None when not kept.
        windowing: how the source was split (``by month``, ``every 1d on ts``).
        seconds: wall time of the run (s).
    """

    windows: list[WindowResult]
    source: str
    baseline_url: str
    eps: float = 1e-4
    moderate: float = 0.1
    significant: float = 0.25
    history: str | None = None
    windowing: str = ""
    seconds: float = 0.0

    @property
    def checked(self) -> list[WindowResult]:
        """The windows checked in this run (not read back from the history)."""
        return [w for w in self.windows if not w.from_history]

    @property
    def skipped(self) -> list[str]:
        """Labels of the windows found in the history and not checked again."""
        return [w.window for w in self.windows if w.from_history]

    @property
    def worst_status(self) -> str:
        """The worst level over the windows checked in this run (``stable`` when none)."""
        return max((w.status for w in self.checked), key=LEVELS.index, default="stable")

    def exceeds(self, level: str) -> list[WindowResult]:
        """The windows checked in this run at ``level`` or worse (none for ``never``)."""
        if level == "never":
            return []
        return [w for w in self.checked if LEVELS.index(w.status) >= LEVELS.index(level)]

    def to_dict(self) -> dict[str, Any]:
        """``{"source", "baseline", "thresholds", "history", "windows": [{"window", "rows",
        "status", "columns": [{"column", "psi", "status", ...}]}]}``."""
        return {
            "source": self.source,
            "baseline": self.baseline_url,
            "thresholds": {"eps": self.eps, "moderate": self.moderate,
                           "significant": self.significant},
            "history": self.history,
            "windowing": self.windowing,
            "worst_status": self.worst_status,
            "checked": [w.window for w in self.checked],
            "skipped": self.skipped,
            "windows": [w.to_dict() for w in self.windows],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def to_pandas(self) -> pd.DataFrame:
        """One row per window and column: window, start, end, rows, window_status,
        column, psi, expected_psi, critical_psi, p_value, js_distance, status, level."""
        import pandas as pd

        rows = [
            {
                "window": w.window, "start": w.start, "end": w.end, "rows": w.rows,
                "window_status": w.status, **{k: v for k, v in c.to_dict().items() if k != "note"},
            }
            for w in self.windows
            for c in w.columns
        ]
        return pd.DataFrame(rows)

    def columns(self) -> list[str]:
        """Every column name, in first-seen order."""
        return list(dict.fromkeys(c.column for w in self.windows for c in w.columns))

    def _repr_html_(self) -> str:
        from skyfabric.drift.trend_report import heat_map

        e = html.escape
        return (
            f"<p><b>drift of {e(self.source)}</b> vs {e(self.baseline_url)}: "
            f"{len(self.windows)} windows ({len(self.checked)} checked now), worst "
            f"{e(self.worst_status)}</p>" + heat_map(self)
        )
