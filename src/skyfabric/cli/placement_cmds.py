"""``skyfabric placement plan|apply|status|log``.

Exit codes: 0 success; 1 a move failed (the journal and ``placement status`` say which);
2 invalid rules or configuration, or a plan refused for residency: nothing moved.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import typer

from skyfabric.cli._common import EXIT_FAILED, console, fabric, fabric_errors, print_json

__all__ = ["register"]

_CODES = (
    "Exit codes: 0 success; 1 a move failed (apply) or a store could not be reached; "
    "2 invalid rules/configuration or residency refusal."
)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNIT = {"": 1, "B": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}

placement_app = typer.Typer(
    name="placement",
    help="Hot/cold placement: plan moves and class changes with their cost, apply them safely.",
    no_args_is_help=True,
)


def parse_size(text: str) -> int:
    """``"10GB"`` -> 10**10, ``"1GiB"`` -> 2**30, ``"512"`` -> 512 bytes."""
    found = _SIZE.match(text)
    if not found:
        raise typer.BadParameter(f"{text!r} is not a size; write e.g. 500MB, 10GiB or 1048576")
    unit = (found.group(2) or "").upper()
    base = unit[:1] if unit not in ("", "B") else unit
    factor = _UNIT[base] if "I" not in unit else 2 ** (10 * "BKMGT".index(base))
    return int(float(found.group(1)) * factor)


def _as_of(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO date/time or POSIX seconds") from None


def _placement(ctx: typer.Context) -> Any:
    from skyfabric.placement import Placement

    return Placement(fabric(ctx))


AsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="Measure ages from this ISO date/time (default: now)."),
]


@placement_app.command("plan", epilog=_CODES)
def plan_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    limit: Annotated[int, typer.Option(help="Rows shown in the table (0: all).")] = 50,
    as_of: AsOf = None,
) -> None:
    """Show what would move or change class, the bytes, and monthly cost before and after."""
    with fabric_errors():
        plan = _placement(ctx).plan(now=_as_of(as_of))
        if as_json:
            print_json(plan.to_dict())
        else:
            console.print(plan.to_table(limit or None))


@placement_app.command("apply", epilog=_CODES)
def apply_cmd(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would run; change nothing.")
    ] = False,
    max_bytes: Annotated[
        str | None, typer.Option("--max-bytes", help="Byte budget for this run, e.g. 50GB.")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Moves run concurrently.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    as_of: AsOf = None,
) -> None:
    """Finish unfinished moves, then copy, verify, journal, switch and delete (see docs)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    budget = parse_size(max_bytes) if max_bytes is not None else None
    with fabric_errors():
        placement = _placement(ctx)
        plan = placement.plan(now=_as_of(as_of))
        if dry_run:
            result = placement.apply(plan, max_bytes=budget, dry_run=True)
        else:
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=console,
                disable=as_json,
                transient=True,
            ) as bar:
                total = min(plan.bytes, budget) if budget is not None else plan.bytes
                task = bar.add_task("placement", total=total)
                result = placement.apply(
                    plan, max_bytes=budget, workers=workers, progress=lambda n: bar.advance(task, n)
                )
    summary = result.to_dict()
    if as_json:
        print_json(summary)
    else:
        verb = "would apply" if dry_run else "applied"
        typer.echo(
            f"{verb} {summary['done']} moves ({summary['bytes_moved']} bytes); "
            f"recovered {summary['recovered']}, deferred {summary['deferred']} (budget), "
            f"failed {len(summary['failed'])}"
        )
        for move_id, error in summary["failed"].items():
            typer.echo(f"  failed {move_id}: {error}")
        if summary["foreign"]:
            typer.echo(
                f"left {summary['foreign']} unfinished moves of stores this configuration does "
                "not name untouched (another configuration's; its own apply finishes them)"
            )
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)


@placement_app.command("status", epilog=_CODES)
def status_cmd(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Show at most N moves of each list (0: all).")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Journal summary: moves in flight, done and failed."""
    with fabric_errors():
        status = _placement(ctx).status()
    if as_json:
        print_json(status)
        return
    counts = ", ".join(f"{k} {v}" for k, v in sorted(status["counts"].items())) or "no moves yet"
    typer.echo(f"journal {status['state_dir']}: {counts}")
    lines = {
        "in_flight": [
            f"  in flight [{i['state']}] {i['src']} -> {i['dst']}" for i in status["in_flight"]
        ],
        "failed": [
            f"  failed{' (retried by the next apply)' if i['retried'] else ''} {i['src']}: "
            f"{i['error']}"
            for i in status["failed"]
        ],
    }
    for shown in lines.values():
        for line in shown[: limit or None]:
            typer.echo(line)
        if limit and len(shown) > limit:
            typer.echo(f"  ... {len(shown) - limit} more (--limit 0 shows all, --json lists all)")


@placement_app.command("log", epilog=_CODES)
def log_cmd(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Last N records (0: all).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print as a JSON array.")] = False,
) -> None:
    """The audit log: who moved what, from, to, bytes, checksum, when."""
    with fabric_errors():
        records = _placement(ctx).log(limit or None)
    if as_json:
        print_json(records)
        return
    for rec in records:
        when = datetime.fromtimestamp(rec["time"]).isoformat(timespec="seconds")
        target = rec["dst"] if rec["action"] != "class" else rec["dst_class"]
        typer.echo(
            f"{when} {rec['who']} {rec['action']} {rec['src']} -> {target} "
            f"{rec['bytes']} B md5={rec['md5']}"
        )


def register(app: typer.Typer) -> None:
    """Add the ``placement`` command group to the main app."""
    app.add_typer(placement_app)
