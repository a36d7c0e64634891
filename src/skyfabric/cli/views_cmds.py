"""``skyfabric views render|apply|trino-catalogs``.

Exit codes: 0 success; 1 the engine refused a statement or a store/file could not be read;
2 the view or the configuration is invalid (unknown source or column, ambiguous name, bad
option): nothing was sent.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from skyfabric.cli._common import console, err_console, fabric, fabric_errors, print_json

__all__ = ["register"]

_CODES = "Exit codes: 0 success; 1 engine or I/O error; 2 invalid view or configuration."

views_app = typer.Typer(
    name="views",
    help="Trino federated views: render them, apply them (Trino or local DuckDB), write catalogs.",
    no_args_is_help=True,
)


class Engine(StrEnum):
    trino = "trino"
    duckdb = "duckdb"


_errors = fabric_errors


FileArg = Annotated[Path, typer.Argument(help="View file: .toml, .yaml or .py (see docs/views.md).",
                                         exists=True, dir_okay=False)]


def _views(ctx: typer.Context, path: Path) -> list[Any]:
    from skyfabric.views.files import load_views

    return load_views(path, fabric(ctx))


@views_app.command("render", epilog=_CODES)
def render_cmd(
    ctx: typer.Context,
    file: FileArg,
    engine: Annotated[Engine, typer.Option(help="trino: CREATE OR REPLACE VIEW; duckdb: the local query.")] = Engine.trino,
    all_statements: Annotated[bool, typer.Option("--all", help="Every Trino statement: Hive tables for parquet sources, nested views, the view.")] = False,
    strict: Annotated[bool, typer.Option(help="Also check each statement with Trino's own grammar (trino-query-parser).")] = False,
    pretty: Annotated[bool, typer.Option(help="Indent the SQL.")] = True,
) -> None:
    """Print the SQL of the view(s) in FILE; nothing is sent anywhere."""
    from skyfabric.views.render import check_trino_sql

    with _errors():
        fab = fabric(ctx)
        for view in _views(ctx, file):
            if engine is Engine.duckdb:
                statements = [view.to_duckdb_sql(fab)]
            elif all_statements:
                statements = view.trino_statements(fab)
            else:
                statements = [view.to_trino(fab, pretty=pretty)]
            for sql in statements:
                if strict and engine is Engine.trino:
                    check_trino_sql(sql, strict=True)
                typer.echo(sql + ";\n")


@views_app.command("apply", epilog=_CODES)
def apply_cmd(
    ctx: typer.Context,
    file: FileArg,
    engine: Annotated[Engine, typer.Option(help="duckdb: run locally over the stores; trino: create on the cluster (TRINO_HOST, ...).")] = Engine.duckdb,
    limit: Annotated[int, typer.Option(help="Rows to print per view (duckdb).", min=0)] = 20,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create the view(s) in FILE on an engine; with duckdb, print their first rows."""
    from skyfabric.views.service import ViewService

    with _errors():
        service = ViewService(fabric(ctx))
        report: list[dict[str, Any]] = []
        session = service.session() if engine is Engine.duckdb else None
        for view in _views(ctx, file):
            result = service.apply(view, engine=engine.value, connection=session)
            entry: dict[str, Any] = {"view": ".".join(view.trino_name(service.fabric)),
                                     "engine": engine.value, "statements": result.statements}
            if result.local is not None:
                rows = result.local.relation.limit(limit).to_arrow_table()
                entry["rows"] = rows.to_pylist()
                if not json_out:
                    _print_rows(entry["view"], rows)
            elif not json_out:
                console.print(f"applied {entry['view']} to Trino ({len(result.statements)} statements)")
            report.append(entry)
        if json_out:
            print_json(report)


def _print_rows(title: str, table: Any) -> None:
    from rich.table import Table

    out = Table(title=title)
    for name in table.column_names:
        out.add_column(name)
    for row in table.to_pylist():
        out.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(out)


@views_app.command("trino-catalogs", epilog=_CODES)
def catalogs_cmd(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Directory to write <catalog>.properties into.")],
    trino_version: Annotated[int, typer.Option("--trino-version", help="Trino release the property names are for.")] = 0,
    hive: Annotated[bool, typer.Option(help="Also write <store>_hive.properties for parquet datasets.")] = True,
) -> None:
    """Write one Trino catalog file per object store (secrets as ${ENV:...} references)."""
    from skyfabric.views.catalogs import DEFAULT_TRINO_VERSION, trino_catalogs

    with _errors():
        files = trino_catalogs(fabric(ctx).config, version=trino_version or DEFAULT_TRINO_VERSION, hive=hive)
        for path in files.write(out):
            console.print(f"wrote {path}", highlight=False)
        for note in files.notes:
            err_console.print(f"note: {escape(note)}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the ``views`` command group to the root app."""
    app.add_typer(views_app, name="views")
