"""``skyfabric engines spark``: settings for the engines past one machine that read the tables.

Exit codes: 0 success; 2 the configuration cannot be rendered (e.g. an in-memory catalog).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from skyfabric.cli._common import EXIT_USAGE, err_console, fabric, print_json
from skyfabric.errors import FabricError, redact

__all__ = ["register"]

_CODES = "Exit codes: 0 success; 2 the configuration cannot be rendered for the engine."

app = typer.Typer(name="engines", help="Configuration for Spark (and other engines) reading the "
                  "fabric's tables.", no_args_is_help=True, epilog=_CODES)


@app.command("spark", epilog=_CODES)
def spark_cmd(
    ctx: typer.Context,
    packages: Annotated[bool, typer.Option(
        help="Add spark.jars.packages (Iceberg runtime, hadoop-aws, GCS connector, "
        "hadoop-azure, JDBC driver).")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="JSON {conf, notes} on stdout.")] = False,
) -> None:
    """Print spark-defaults.conf lines for the catalog and every store (secrets as ${env.NAME})."""
    from skyfabric.tables._spark import spark_settings

    try:
        settings = spark_settings(fabric(ctx).config, packages=packages)
    except FabricError as exc:
        err_console.print(f"[bold red]error:[/] {escape(redact(str(exc)))}", soft_wrap=True)
        raise typer.Exit(EXIT_USAGE) from None
    if as_json:
        print_json({"conf": settings.conf, "notes": settings.notes})
        return
    typer.echo(settings.text(), nl=False)


def register(root: typer.Typer) -> None:
    """Add the ``engines`` command group to the root app."""
    root.add_typer(app, name="engines")
