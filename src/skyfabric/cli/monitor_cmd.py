"""``skyfabric drift monitor``: one baseline against every window of a source, with history,
one trend report, JSON and a webhook alert. Exit codes are those of ``drift check``
(`skyfabric.cli.drift_cmds`), taken over the windows checked in this run."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from skyfabric.cli._common import console, err_console, fabric, out_console, print_error, print_json
from skyfabric.cli.drift_cmds import (
    _SOURCE_HELP,
    EXIT_ERROR,
    EXIT_MODERATE,
    EXIT_OK,
    EXIT_SIGNIFICANT,
    EXIT_USAGE,
    FailOn,
    ModelOption,
    RegistryOption,
    VersionOption,
    _check_outputs,
    _errors,
    _split,
)

__all__ = ["monitor_cmd"]


def _usage(message: str) -> typer.Exit:
    print_error(message)
    return typer.Exit(EXIT_USAGE)


def _trend_table(result: Any) -> Any:
    """Column x window PSI, coloured by status (the terminal form of the heat map)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from skyfabric.drift.report import STATUS_COLORS, cell

    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, collapse_padding=True)
    table.add_column("PSI", no_wrap=True)
    for w in result.windows:
        table.add_column(cell(w.window), justify="right", no_wrap=True)
    cells = {(w.window, c.column): c for w in result.windows for c in w.columns}
    for name in result.columns():
        row = []
        for w in result.windows:
            c = cells.get((w.window, name))
            psi = "" if c is None else ("—" if c.psi is None else f"{c.psi:.3f}")
            row.append(Text(psi, style=STATUS_COLORS.get(c.status, "white") if c else ""))
        table.add_row(cell(name), *row)
    table.add_row("rows", *(f"{w.rows:,}" for w in result.windows))
    return table


def monitor_cmd(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help=_SOURCE_HELP)],
    baseline: Annotated[
        str | None, typer.Option("--baseline", "-b", help="Baseline JSON URL or path.")
    ] = None,
    model: ModelOption = None,
    version: VersionOption = None,
    registry: RegistryOption = None,
    by: Annotated[
        str | None,
        typer.Option(help="Hive partition key(s): one window per value (month, dt, year,month)."),
    ] = None,
    every: Annotated[
        str | None, typer.Option(help="Window length over --time-column: 1h, 1d, 7d, 1w, 1mo.")
    ] = None,
    time_column: Annotated[
        str | None, typer.Option("--time-column", help="Timestamp column for --every.")
    ] = None,
    history: Annotated[
        str, typer.Option(help="Iceberg table NS.TABLE the results are appended to.")
    ] = "monitoring.drift_history",
    history_location: Annotated[
        str | None,
        typer.Option(help="Where a new history table's files go (default: the warehouse)."),
    ] = None,
    no_history: Annotated[
        bool, typer.Option("--no-history", help="Keep no history: check every window.")
    ] = False,
    recompute: Annotated[
        bool, typer.Option(help="Check windows already in the history again.")
    ] = False,
    report: Annotated[
        str | None, typer.Option(help="Write the trend report (HTML) here.")
    ] = None,
    json_out: Annotated[str | None, typer.Option("--json-out", help="Write the JSON here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    fail_on: Annotated[FailOn, typer.Option(help="Lowest drift level that exits non-zero.")] = (
        FailOn.significant
    ),
    alert_webhook_env: Annotated[
        str | None,
        typer.Option(help="Env var holding a Slack/Teams webhook URL to post to at --fail-on."),
    ] = None,
    report_link: Annotated[
        str | None, typer.Option(help="Link to the report in the alert (default: --report).")
    ] = None,
    columns: Annotated[str | None, typer.Option(help="Comma-separated subset to check.")] = None,
) -> None:
    """Check every window of SOURCE against one baseline; keep, report and alert.

    Windows: --by KEY (one per hive partition value) or --every LEN --time-column COL.
    Windows already in the --history table are read back, not checked again (unless
    --recompute). The exit code is the worst level over the windows checked in this run.
    """
    from skyfabric.drift.monitor import monitor

    names = _split(columns, "every column of the baseline")
    if (by is None) == (every is None):
        raise _usage("give --by KEY (hive partitions) or --every LEN with --time-column COL")
    if every is not None and not time_column:
        raise _usage(f"--every {every} needs --time-column NAME, the column holding each row's time")
    if (baseline is None) == (model is None):
        raise _usage("give --baseline URL, or --model NAME with --version V")
    if model is not None and not version:
        raise _usage("--model needs --version (the model version whose baseline to use)")
    if alert_webhook_env is not None and not alert_webhook_env.strip():
        raise _usage("--alert-webhook-env is empty; fix: name the variable, e.g. DRIFT_WEBHOOK")
    with _errors():
        fab = fabric(ctx)
        inputs = [("--baseline", baseline)] if baseline else []
        _check_outputs(
            fab,
            [("--report", report, "trend.html"), ("--json-out", json_out, "monitor.json")],
            inputs=inputs,
            sources=[source],
        )
        if alert_webhook_env:
            from skyfabric.drift.alerts import AlertError, webhook_url

            try:
                webhook_url(alert_webhook_env)  # unset: refuse before the scan, not after
            except AlertError as exc:
                raise _usage(str(exc)) from None
        base = baseline
        if model is not None:
            from skyfabric.drift.models import load_model_baseline

            _, base = load_model_baseline(fab, model, version, registry=registry)  # type: ignore[arg-type]

        def on_window(w: Any) -> None:
            err_console.print(
                f"  {w.window}: {w.rows:,} rows, {w.status}", highlight=False, markup=False
            )

        result = monitor(
            source,
            base,  # type: ignore[arg-type]
            by=by,
            every=every,
            time_column=time_column,
            fabric=fab,
            history=None if no_history else history,
            history_location=history_location,
            recompute=recompute,
            columns=names,
            on_window=on_window,
        )
    failed = _write(result, fab, json_out=json_out, report=report)
    alerting = result.exceeds(fail_on.value)
    if alert_webhook_env and alerting:
        from skyfabric.drift.alerts import alert_payload, post_alert
        from skyfabric.errors import FabricError

        payload = alert_payload(result, alerting, fail_on.value, report_link or report)
        try:
            post_alert(alert_webhook_env, payload)
            err_console.print(
                f"alert posted to the webhook in {alert_webhook_env}", highlight=False, markup=False
            )
        except FabricError as exc:
            print_error(exc)
            failed.append("--alert-webhook-env")
            _forget_unalerted(fab, result, alerting)
    if as_json:
        print_json(result.to_dict())
    else:
        out_console().print(_trend_table(result))
        if result.skipped:
            console.print(
                f"from history ({result.history}): {', '.join(result.skipped)}",
                highlight=False, markup=False, soft_wrap=True,
            )
        for label, option, url in (("report", "--report", report), ("json", "--json-out", json_out)):
            if url and option not in failed:
                console.print(f"{label}: {url}", highlight=False, markup=False, soft_wrap=True)
    worst = result.worst_status
    code = EXIT_OK
    if fail_on is not FailOn.never:
        if worst == "significant":
            code = EXIT_SIGNIFICANT
        elif worst == "moderate" and fail_on is FailOn.moderate:
            code = EXIT_MODERATE
    if failed:
        code = EXIT_ERROR
    if not as_json:
        err_console.print(
            f"{len(result.checked)} window(s) checked, {len(result.skipped)} from history; "
            f"worst drift level: {worst} (exit {code})",
            highlight=False,
        )
    raise typer.Exit(code)


def _write(result: Any, fab: Any, *, json_out: str | None, report: str | None) -> list[str]:
    """Write ``--json-out`` then ``--report``; one failing does not lose the other."""
    from skyfabric.drift.file_io import write_text
    from skyfabric.drift.trend_report import write_trend_html
    from skyfabric.errors import FabricError

    failed = []
    for option, url in (("--json-out", json_out), ("--report", report)):
        if not url:
            continue
        try:
            if option == "--json-out":
                write_text(url, result.to_json(), fabric=fab, example="monitor.json")
            else:
                write_trend_html(result, url, fab)
        except (FabricError, OSError) as exc:
            print_error(f"{option}: {exc}")
            failed.append(option)
    return failed


def _forget_unalerted(fab: Any, result: Any, alerting: list[Any]) -> None:
    """A failed alert must be sent again: the windows it was about leave the history, so
    the next run checks them again (and alerts, or exits non-zero) instead of reading them
    back as done (found by a new user: the next run exited 0 and never alerted)."""
    if not result.history:
        return
    from skyfabric.drift.history import forget, open_history

    labels = [w.window for w in alerting]
    forget(open_history(fab, result.history), labels, result.source, result.baseline_url,
           result.windowing)
    err_console.print(
        f"the {len(labels)} window(s) the alert was about are not kept in the history "
        f"{result.history}: the next run checks them and alerts again",
        highlight=False, markup=False,
    )

