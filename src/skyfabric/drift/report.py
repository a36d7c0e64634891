"""Show a `DriftResult`: terminal table, JSON, HTML with plots.

- `render_table` builds a ``rich`` table (column, status, PSI, expected PSI under no
  drift, p-value, Jensen-Shannon distance, rows in baseline/current, note).
- `to_html` renders one self-contained page: a summary and, per column, a PNG of the
  baseline vs current bin proportions (the missing bin included), drawn with matplotlib's
  Agg canvas (no display, no pyplot global state) and embedded as base64. Every piece of
  text from the data (column names, categories, notes, URLs) goes through ``html.escape``.
- `write_html` / `write_json` save to a ``fabric://`` URL or a local path.
"""

from __future__ import annotations

import base64
import html
import io
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from skyfabric.drift.file_io import write_text

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

    from skyfabric.drift.check import DriftResult
    from skyfabric.drift.histogram import Histogram
    from skyfabric.drift.psi import ColumnDrift
    from skyfabric.fabric import Fabric

__all__ = [
    "STATUS_COLORS",
    "bin_labels",
    "cell",
    "plot_column",
    "render_table",
    "to_html",
    "write_html",
    "write_json",
]

#: rich style / HTML colour per status.
STATUS_COLORS = {
    "stable": "green",
    "moderate": "yellow",
    "significant": "red",
    "too_small": "cyan",
    "constant": "blue",
    "all_null": "magenta",
    "empty": "magenta",
    "missing_column": "red",
    "type_changed": "red",
}
_HTML_COLORS = {
    "green": "#1a7f37",
    "yellow": "#9a6700",
    "red": "#cf222e",
    "cyan": "#0969da",
    "blue": "#0550ae",
    "magenta": "#8250df",
}


def fmt(x: float | None, digits: int = 4) -> str:
    """A number for display: ``None``/NaN as an em dash, tiny p-values in scientific form."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    if x != 0 and abs(x) < 10**-digits:
        return f"{x:.1e}"
    return f"{x:.{digits}f}"


def _pval(p: float | None) -> str:
    """A p-value in two significant digits (``"0.12"``, ``"3.4e-17"``)."""
    if p is None or not math.isfinite(p):
        return "—"
    return f"{p:.2g}"


def bin_labels(hist: Histogram, dtype: str | None = None) -> list[str]:
    """One label per bin plus ``"missing"`` (``len(hist.counts) + 1`` strings).

    Numeric bins: ``"< e1"``, ``"[e1, e2)"``, ..., ``">= e"``, with as many significant
    digits as tell adjacent edges apart; ``dtype``, the baseline column's Arrow type string
    (`ColumnBaseline.dtype`, `ColumnDrift.dtype`, e.g. ``timestamp[ms, tz=UTC]``), shows
    temporal edges as dates, times or durations in that unit
    (`skyfabric.drift._labels.numeric_bin_labels`). Categorical bins: the categories as they
    are, then ``__other__``. Display only: the JSON keeps the edges themselves.
    """
    if hist.kind == "categorical":
        from skyfabric.drift.histogram import OTHER

        labels = [*(str(c) for c in (hist.categories or [])), OTHER]
    else:
        from skyfabric.drift._labels import numeric_bin_labels

        labels = numeric_bin_labels(hist.edges, dtype)  # type: ignore[arg-type]
    labels = labels[: len(hist.counts)]
    labels += [f"bin {i}" for i in range(len(labels), len(hist.counts))]
    return [*labels, "missing"]


def _proportions(hist: Histogram | None, nbins: int) -> np.ndarray:
    """Bins then missing, divided by the total; zeros when there is no data (float64)."""
    if hist is None:
        return np.zeros(nbins + 1)
    values = np.append(np.asarray(hist.counts, dtype=np.float64), float(hist.missing))
    total = values.sum()
    return values / total if total > 0 else np.zeros_like(values)


def cell(text: str) -> Text:
    """``text`` for a terminal table cell: as it is (never rich markup), with control
    characters shown escaped (``\\x1b``) so that a column name cannot send escape
    sequences to the terminal or break a row across lines."""
    from rich.text import Text

    return Text("".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text))


def render_table(result: DriftResult, title: str | None = None) -> Table:
    """A ``rich.table.Table`` with one row per column, status coloured by level.

    Columns: column, status, PSI, E[PSI] (expected PSI under no drift for these sample
    sizes), p (chi-square p-value), JS (Jensen-Shannon distance), n base / n cur (rows in
    the baseline / current data), note.

    Text from the data (column names, notes with dtypes such as ``timestamp[ms]``, the
    source names of the default title) goes in as ``rich.text.Text``, so it prints as it
    is and is never read as rich markup; a ``title`` given as a string is markup.
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=title or Text(f"drift of {result.source} vs {result.baseline_source}"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
        collapse_padding=True,
    )
    # E[PSI]: expected PSI under no drift for these sample sizes; p: chi-square p-value
    for name, justify in [
        ("column", "left"),
        ("status", "left"),
        ("PSI", "right"),
        ("E[PSI]", "right"),
        ("p", "right"),
        ("JS", "right"),
        ("n base", "right"),
        ("n cur", "right"),
    ]:
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    table.add_column("note", overflow="fold")
    for c in result.columns:
        color = STATUS_COLORS.get(c.status, "white")
        table.add_row(
            cell(c.column),
            Text(c.status, style=color),
            fmt(c.psi),
            fmt(c.expected_psi),
            _pval(c.p_value),
            fmt(c.js_distance),
            f"{c.baseline.total:,}",
            f"{c.current.total:,}" if c.current is not None else "—",
            Text(c.note or ""),
        )
    return table


#: Text properties that draw a string as it is (per Text, not rcParams: thread-safe, and
#: the user's global settings stay untouched).
_LITERAL: dict[str, Any] = {"parse_math": False, "usetex": False}


def figure_column(col: ColumnDrift) -> Any:
    """A matplotlib ``Figure`` (Agg canvas) of baseline vs current bin proportions.

    Text from the data (column name, categories, bin labels) is drawn as it is: never read
    as mathtext (``$5-$10`` would show ``5 - 10``, and ``a_$x_$`` raised ``ValueError``) or
    LaTeX, whatever the user's matplotlib settings (``text.parse_math``, ``text.usetex``).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = bin_labels(col.baseline, col.dtype)
    base = _proportions(col.baseline, len(col.baseline.counts))
    cur = _proportions(col.current, len(col.baseline.counts))
    n = len(labels)
    # a range on two lines; categories are the data's own text, drawn as they are
    ticks = labels if col.baseline.kind == "categorical" else [_wrap(t) for t in labels]
    longest = max(len(line) for tick in ticks for line in tick.split("\n"))
    width = max(6.0, 0.32 * n + 2)
    # 8 pt text is ~0.067 in per character: long labels (temporal ranges) are turned, and
    # the figure grows to hold them instead of squashing the bars (capped)
    rotate = n > 6 or longest * 0.067 > (width - 1) / n
    height = 3.6 + (min(0.047 * longest, 4.0) if rotate and longest > 16 else 0.0)
    fig = Figure(figsize=(width, height), dpi=90, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = np.arange(n)
    ax.bar(x - 0.2, base, width=0.4, label="baseline", color="#8c959f")
    ax.bar(
        x + 0.2,
        cur,
        width=0.4,
        label="current",
        color=_HTML_COLORS.get(STATUS_COLORS.get(col.status, "blue"), "#0550ae"),
    )
    ax.set_xticks(
        x,
        ticks,
        rotation=45 if rotate else 0,
        ha="right" if rotate else "center",
        fontsize=8,
        **_LITERAL,
    )
    ax.set_ylabel("proportion of rows")
    ax.set_title(f"{col.column}: PSI {fmt(col.psi)} ({col.status})", fontsize=10, **_LITERAL)
    ax.legend(fontsize=8)
    return fig


def _wrap(label: str) -> str:
    """A long numeric range label on two lines, broken after its comma."""
    if len(label) > 20 and label.startswith(("[", "(")) and label.count(", ") == 1:
        return label.replace(", ", ",\n")
    return label


def plot_column(col: ColumnDrift) -> bytes:
    """PNG bytes of `figure_column`."""
    buf = io.BytesIO()
    figure_column(col).savefig(buf, format="png")
    return buf.getvalue()


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#1f2328}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #d0d7de;padding:4px 8px}
th{background:#f6f8fa;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.status{font-weight:600}section{margin:2rem 0}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}
dt{font-weight:600}img{max-width:100%}
"""


def _status_html(status: str) -> str:
    color = _HTML_COLORS.get(STATUS_COLORS.get(status, ""), "#1f2328")
    return f'<span class="status" style="color:{color}">{html.escape(status)}</span>'


def to_html(result: DriftResult, title: str | None = None) -> str:
    """A self-contained HTML page: summary, table, one base64 PNG ``<img>`` per column."""
    e = html.escape
    title = title or f"skyfabric drift: {result.source}"
    summary = [
        ("current data", result.source),
        ("baseline", result.baseline_source),
        ("checked at", result.created_at),
        ("rows scanned", f"{result.rows:,}"),
        (
            "thresholds",
            f"moderate >= {result.moderate}, significant >= {result.significant}, "
            f"eps = {result.eps}",
        ),
        ("engine", f"{result.engine} ({result.seconds:.2f} s)"),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f"<p>Worst drift level: {_status_html(result.worst_status)}</p><dl>",
        *(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in summary),
        "</dl><table><thead><tr>",
        *(
            f"<th>{h}</th>"
            for h in [
                "column",
                "status",
                "PSI",
                "E[PSI] no drift",
                "p-value",
                "JS distance",
                "rows baseline",
                "rows current",
                "note",
            ]
        ),
        "</tr></thead><tbody>",
    ]
    # anchors by position: a column name may hold spaces or newlines, which an id cannot
    for k, c in enumerate(result.columns):
        cur = f"{c.current.total:,}" if c.current is not None else "—"
        parts.append(
            f'<tr><td><a href="#col-{k}">{e(c.column)}</a></td>'
            f"<td>{_status_html(c.status)}</td><td class=n>{fmt(c.psi)}</td>"
            f"<td class=n>{fmt(c.expected_psi)}</td><td class=n>{_pval(c.p_value)}</td>"
            f"<td class=n>{fmt(c.js_distance)}</td><td class=n>{c.baseline.total:,}</td>"
            f"<td class=n>{cur}</td><td>{e(c.note or '')}</td></tr>"
        )
    parts.append("</tbody></table>")
    for k, c in enumerate(result.columns):
        png = base64.b64encode(plot_column(c)).decode("ascii")
        note = f" · {e(c.note)}" if c.note else ""
        parts.append(
            f'<section id="col-{k}"><h2>{e(c.column)}</h2>'
            f"<p>{_status_html(c.status)} · PSI {fmt(c.psi)}{note}</p>"
            f'<img alt="{e(c.column)}: baseline vs current bin proportions" '
            f'src="data:image/png;base64,{png}"></section>'
        )
    parts.append(
        "<p><small>PSI = Σ (a<sub>i</sub> − e<sub>i</sub>) ln(a<sub>i</sub>/e<sub>i</sub>) over "
        "bin proportions incl. the missing bin, each floored at eps; thresholds after "
        "Yurdakul &amp; Naranjo. E[PSI] ≈ (B−1)(1/n+1/m) under no drift.</small></p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(
    result: DriftResult, url: str, fabric: Fabric | None = None, title: str | None = None
) -> None:
    """Write `to_html` to a ``fabric://`` URL or a local path."""
    write_text(url, to_html(result, title=title), fabric=fabric, example="report.html")


def write_json(result: DriftResult, url: str, fabric: Fabric | None = None) -> None:
    """Write ``result.to_json()`` to a ``fabric://`` URL or a local path."""
    write_text(url, result.to_json(), fabric=fabric, example="drift.json")
