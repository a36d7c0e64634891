"""The ``skyfabric`` command line: every capability reachable from the shell.

Global options come before the subcommand: ``skyfabric --config PATH stores``.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated, TextIO

import typer

from skyfabric._version import __version__

app = typer.Typer(
    name="skyfabric",
    help=(
        "One filesystem and one catalog over S3, GCS, Azure Blob and MinIO; "
        "drift, tables, views, placement."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


_show_warning = warnings.showwarning


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """skyfabric's own warnings as one ``warning: ...`` line on stderr (no source line)."""
    if not category.__module__.startswith("skyfabric"):
        _show_warning(message, category, filename, lineno, file, line)
        return
    from skyfabric.errors import redact

    print(f"warning: {redact(str(message))}", file=file or sys.stderr)


@app.callback()
def _global(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="skyfabric.toml to use (else $SKYFABRIC_CONFIG, ./skyfabric.toml, embedded default).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    ctx.ensure_object(dict)["config"] = config
    warnings.showwarning = _one_line_warning


def _register() -> None:
    # Each capability adds its commands in its own module (imported here, not at their top).
    from skyfabric.cli import (
        drift_cmds,
        engines_cmds,
        placement_cmds,
        storage_cmds,
        tables_cmds,
        views_cmds,
    )

    storage_cmds.register(app)
    drift_cmds.register(app)
    tables_cmds.register(app)
    views_cmds.register(app)
    placement_cmds.register(app)
    engines_cmds.register(app)


_register()


def main() -> None:
    """Console-script entry point."""
    app()
