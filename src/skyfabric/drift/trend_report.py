"""One self-contained HTML page over every window of a monitor run.

- a column x window heat map of PSI, each cell coloured by its status against the
  thresholds (`heat_map`, also the notebook view of `MonitorResult`);
- per column, a line of PSI over the windows with the expected PSI under no drift and the
  two thresholds (matplotlib Agg canvas, embedded as a base64 PNG, as `report.to_html` does);
- each window's detail: rows, status, and a table of its columns.

Every piece of text from the data goes through ``html.escape``.
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Any

from skyfabric.drift.file_io import write_text
from skyfabric.drift.report import _CSS, _LITERAL, STATUS_COLORS, _pval, _status_html, fmt

if TYPE_CHECKING:
    from skyfabric.drift.trend import MonitorResult
    from skyfabric.fabric import Fabric

__all__ = ["heat_map", "plot_trend", "to_trend_html", "write_trend_html"]

# cell backgrounds: light tints of the status colours, so the numbers stay readable
_FILL = {
    "green": "#dafbe1",
    "yellow": "#fff8c5",
    "red": "#ffd8d3",
    "cyan": "#ddf4ff",
    "blue": "#ddf4ff",
    "magenta": "#fbefff",
}


def heat_map(result: MonitorResult) -> str:
    """An HTML ``<table>``: one row per column, one cell per window with its PSI, filled by
    status (green stable, yellow moderate, red significant and the statuses that page)."""
    e = html.escape
    cells = {(w.window, c.column): c for w in result.windows for c in w.columns}
    head = "".join(f"<th>{e(w.window)}</th>" for w in result.windows)
    rows = []
    for name in result.columns():
        tds = []
        for w in result.windows:
            c = cells.get((w.window, name))
            if c is None:
                tds.append("<td></td>")
                continue
            fill = _FILL.get(STATUS_COLORS.get(c.status, ""), "#ffffff")
            tip = f"{c.status}; E[PSI] {fmt(c.expected_psi)}; p {_pval(c.p_value)}"
            tds.append(
                f'<td class=n style="background:{fill}" title="{e(tip)}">{fmt(c.psi, 3)}</td>'
            )
        rows.append(f"<tr><th>{e(name)}</th>{''.join(tds)}</tr>")
    totals = "".join(f"<td class=n>{w.rows:,}</td>" for w in result.windows)
    worst = "".join(f"<td>{_status_html(w.status)}</td>" for w in result.windows)
    return (
        f"<table class=heat><thead><tr><th>PSI</th>{head}</tr></thead><tbody>"
        f"{''.join(rows)}<tr><th>rows</th>{totals}</tr><tr><th>worst</th>{worst}</tr>"
        "</tbody></table>"
    )


def plot_trend(result: MonitorResult, column: str) -> bytes:
    """PNG of ``column``'s PSI over the windows, its expected PSI under no drift, and the
    moderate/significant thresholds (dashed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = [w.window for w in result.windows]
    psi, expected = [], []
    for w in result.windows:
        c = next((c for c in w.columns if c.column == column), None)
        psi.append(float("nan") if c is None or c.psi is None else c.psi)
        expected.append(float("nan") if c is None or c.expected_psi is None else c.expected_psi)
    fig = Figure(figsize=(max(6.0, 0.45 * len(labels) + 2), 3.2), dpi=90, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = list(range(len(labels)))
    ax.plot(x, psi, marker="o", color="#0550ae", label="PSI")
    ax.plot(x, expected, linestyle=":", color="#57606a", label="E[PSI] no drift")
    ax.axhline(result.moderate, color="#9a6700", linestyle="--", linewidth=1, label="moderate")
    ax.axhline(result.significant, color="#cf222e", linestyle="--", linewidth=1,
               label="significant")
    ax.set_xticks(x, labels, rotation=45 if len(labels) > 6 else 0,
                  ha="right" if len(labels) > 6 else "center", fontsize=8, **_LITERAL)
    # symlog: one tiny window's PSI of 5 would flatten every other point against 0
    ax.set_yscale("symlog", linthresh=0.01)
    ax.set_ylabel("PSI (linear below 0.01, log above)")
    ax.set_title(column, fontsize=10, **_LITERAL)
    ax.legend(fontsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _detail(w: Any) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(c.column)}</td><td>{_status_html(c.status)}</td>"
        f"<td class=n>{fmt(c.psi)}</td><td class=n>{fmt(c.expected_psi)}</td>"
        f"<td class=n>{_pval(c.p_value)}</td><td class=n>{fmt(c.js_distance)}</td>"
        f"<td>{e(c.note)}</td></tr>"
        for c in w.columns
    )
    origin = "from the history" if w.from_history else "checked in this run"
    bounds = f" · [{w.start:%Y-%m-%d %H:%M}, {w.end:%Y-%m-%d %H:%M})" if w.start and w.end else ""
    return (
        f"<details><summary>{e(w.window)}: {_status_html(w.status)} · {w.rows:,} rows"
        f"{bounds} · checked {e(w.checked_at)} ({origin})</summary><table><thead><tr>"
        "<th>column</th><th>status</th><th>PSI</th><th>E[PSI] no drift</th><th>p-value</th>"
        f"<th>JS distance</th><th>note</th></tr></thead><tbody>{rows}</tbody></table></details>"
    )


def to_trend_html(result: MonitorResult, title: str | None = None) -> str:
    """The page described in the module docstring."""
    e = html.escape
    title = title or f"skyfabric drift trend: {result.source}"
    summary = [
        ("source", result.source),
        ("baseline", result.baseline_url),
        ("windows", f"{len(result.windows)} {result.windowing} ({len(result.checked)} checked "
                    "in this run)"),
        ("thresholds", f"moderate >= {result.moderate}, significant >= {result.significant}"),
        ("history", result.history or "not kept"),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1><dl>",
        *(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in summary),
        "</dl><h2>PSI by column and window</h2>",
        heat_map(result),
        "<h2>PSI over time</h2>",
    ]
    for name in result.columns():
        png = base64.b64encode(plot_trend(result, name)).decode("ascii")
        parts.append(
            f'<img alt="{e(name)}: PSI by window" src="data:image/png;base64,{png}">'
        )
    parts.append("<h2>Windows</h2>")
    parts.extend(_detail(w) for w in result.windows)
    parts.append(
        "<p><small>PSI over the baseline's bins incl. the missing bin; E[PSI] ≈ (B−1)(1/n+1/m) "
        "is its mean when nothing drifted, so a PSI near it is sampling noise.</small></p>"
        "</body></html>"
    )
    return "\n".join(parts)


def write_trend_html(
    result: MonitorResult, url: str, fabric: Fabric | None = None, title: str | None = None
) -> None:
    """Write `to_trend_html` to a ``fabric://`` URL or a local path (whole or not at all)."""
    write_text(url, to_trend_html(result, title), fabric=fabric, example="trend.html")
