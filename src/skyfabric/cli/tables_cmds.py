"""``skyfabric tables [show|create|append|history|compact|expire|gc]``: the table layer from the shell.

``skyfabric tables`` alone lists everything in the lake: Iceberg tables and plain parquet/CSV
datasets across all stores (``--store`` for one). ``create --from`` and ``append`` read
parquet or CSV from a ``fabric://`` URL (file, prefix or glob) or a local path.

Exit codes: 0 success; 1 the operation failed (store unreachable, commit conflict, ...);
2 usage error (bad option, unknown table/store/snapshot, schema that does not fit).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, NoReturn

import typer
from rich.filesize import decimal
from rich.table import Table as RichTable
from rich.text import Text

from skyfabric.cli._common import (
    EXIT_FAILED,
    EXIT_USAGE,
    console,
    err_console,
    fabric,
    out_console,
    print_json,
)
from skyfabric.errors import FabricError, redact

__all__ = ["register"]

_CODES = ("Exit codes: 0 success; 1 the operation failed (store unreachable, commit conflict); "
          "2 usage error (unknown table or store, bad option, schema that does not fit).")
_Json = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
_Name = Annotated[str, typer.Argument(help="Table name, namespace.table.")]

app = typer.Typer(name="tables", help="Iceberg tables and every dataset in the lake.",
                  invoke_without_command=True, no_args_is_help=False, epilog=_CODES)



def _fail(message: str, code: int) -> NoReturn:
    err_console.print(Text("error: ", style="bold red") + Text(redact(message)), soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """FabricError about the input (ValueError, KeyError, LookupError) -> 2; other errors -> 1."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.BadParameter):
        raise
    except FabricError as exc:
        _fail(str(exc), EXIT_USAGE if isinstance(exc, ValueError | LookupError) else EXIT_FAILED)
    except (ValueError, LookupError) as exc:
        _fail(f"{type(exc).__name__}: {exc}", EXIT_USAGE)
    except Exception as exc:
        _fail(f"{type(exc).__name__}: {exc}", EXIT_FAILED)


def _fab(ctx: typer.Context) -> Any:
    """The invocation's Fabric, with the table layer."""
    from skyfabric.tables._fabric_api import TablesMixin, connect

    fab = fabric(ctx)
    if not isinstance(fab, TablesMixin):
        fab = connect(fab.config)
        ctx.ensure_object(dict)["fabric"] = fab
    return fab


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


def _source(fab: Any, url: str) -> Any:
    """A pyarrow dataset over a fabric URL or a local path (parquet, or CSV by suffix)."""
    if url.startswith("fabric://"):
        return fab.dataset(url)
    from pathlib import Path

    import pyarrow.dataset as pads

    path = Path(url).expanduser()
    if not path.exists():
        raise typer.BadParameter(f"no such file or directory: {url}")
    fmt = "csv" if str(path).lower().endswith((".csv", ".csv.gz")) else "parquet"
    return pads.dataset(str(path), format=fmt, partitioning="hive")


@app.callback()
def list_cmd(
    ctx: typer.Context,
    store: Annotated[str | None, typer.Option("--store", "-s", help="Only this store.")] = None,
    as_json: _Json = False,
) -> None:
    """List Iceberg tables and plain parquet/CSV datasets across all stores."""
    if ctx.invoked_subcommand is not None:
        return
    with _errors():
        entries = _fab(ctx).datasets(store)
    if as_json:
        print_json([e.__dict__ for e in entries])
        return
    table = RichTable(title="datasets", title_justify="left")
    for col in ("name", "kind", "store", "location", "rows", "size", "files", "modified"):
        table.add_column(col, justify="right" if col in ("rows", "size", "files") else "left")
    for e in entries:
        table.add_row(e.name, e.kind, e.store or "-", e.location,
                      "-" if e.rows is None else f"{e.rows:,}",
                      "-" if e.bytes is None else decimal(e.bytes),
                      "-" if e.files is None else str(e.files), _when(e.last_modified))
    out_console().print(table)


@app.command("show", epilog=_CODES)
def show_cmd(ctx: typer.Context, name: _Name, as_json: _Json = False) -> None:
    """Schema, partitioning, location, properties and snapshots of a table."""
    with _errors():
        t = _fab(ctx).table(name)
        schema, snaps = t.schema, t.snapshots()
        info = {"name": t.name, "location": t.location, "store": t.store,
                "partitioning": t.partitioning, "properties": t.properties,
                "identifier_fields": [schema.find_column_name(i) for i in schema.identifier_field_ids],
                "schema": [{"id": f.field_id, "name": f.name, "type": str(f.field_type),
                            "required": f.required} for f in schema.fields],
                "snapshots": [s.__dict__ for s in snaps]}
    if as_json:
        print_json(info)
        return
    out = out_console()
    out.print(Text(f"{t.name}  {t.location}  (store {t.store or '-'})", style="bold"))
    cols = RichTable(title="schema", title_justify="left")
    for col in ("id", "name", "type", "required"):
        cols.add_column(col)
    for f in info["schema"]:
        cols.add_row(str(f["id"]), f["name"], f["type"], "yes" if f["required"] else "")
    out.print(cols)
    out.print(f"partitioning: {', '.join(t.partitioning) or 'unpartitioned'}")
    if info["identifier_fields"]:
        out.print(f"key: {', '.join(info['identifier_fields'])}")
    _print_snapshots(snaps, "snapshots")


def _print_snapshots(snaps: list[Any], title: str) -> None:
    table = RichTable(title=title, title_justify="left")
    for col in ("snapshot id", "committed (UTC)", "operation", "rows", "files", "size", ""):
        table.add_column(col, justify="right" if col in ("rows", "files", "size") else "left")
    for s in snaps:
        table.add_row(str(s.snapshot_id), _when(s.timestamp), s.operation,
                      "-" if s.records is None else f"{s.records:,}",
                      "-" if s.files is None else str(s.files),
                      "-" if s.bytes is None else decimal(s.bytes), "current" if s.current else "")
    out_console().print(table)


@app.command("create", epilog=_CODES)
def create_cmd(
    ctx: typer.Context,
    name: _Name,
    source: Annotated[str, typer.Option("--from", help="Parquet/CSV: fabric:// URL or local path.")],
    partition_by: Annotated[list[str] | None, typer.Option("--partition-by", "-p",
                            help="Partition field, e.g. 'day(ts)', 'bucket(16, id)', 'site'.")] = None,
    key: Annotated[list[str] | None, typer.Option("--key", "-k", help="Key (identifier) column.")] = None,
    location: Annotated[str | None, typer.Option(help="fabric://store/path for the table's files.")] = None,
) -> None:
    """Create table NAME from parquet/CSV data (one commit: schema and rows)."""
    with _errors():
        fab = _fab(ctx)
        data = _source(fab, source).to_table()
        t = fab.create_table(name, data, partition_by=partition_by or (), key=key or (),
                             location=location)
    console.print(f"created {t.name} at {t.location}: {data.num_rows:,} rows", highlight=False)


@app.command("append", epilog=_CODES)
def append_cmd(
    ctx: typer.Context,
    name: _Name,
    source: Annotated[str, typer.Argument(help="Parquet/CSV: fabric:// URL or local path.")],
    evolve: Annotated[bool, typer.Option(help="Add new columns / widen types first.")] = False,
) -> None:
    """Append parquet/CSV rows to table NAME (streamed when the table is unpartitioned)."""
    with _errors():
        fab = _fab(ctx)
        t = fab.table(name)
        ds = _source(fab, source)
        data = ds.to_table() if t.partitioning or evolve else ds.scanner().to_reader()
        snap = t.append(data, evolve=evolve)
    rows = snap.summary.get("added-records", "?") if snap else "0"
    console.print(f"appended {rows} rows to {t.name} (snapshot {snap.snapshot_id if snap else '-'})",
                  highlight=False)


@app.command("history", epilog=_CODES)
def history_cmd(ctx: typer.Context, name: _Name, as_json: _Json = False) -> None:
    """Snapshots of table NAME in the order they became current."""
    with _errors():
        snaps = _fab(ctx).table(name).history()
    if as_json:
        print_json([s.__dict__ for s in snaps])
        return
    _print_snapshots(snaps, f"history of {name}")


@app.command("compact", epilog=_CODES)
def compact_cmd(
    ctx: typer.Context,
    name: _Name,
    target_file_size: Annotated[str | None, typer.Option(
        "--target-file-size", help="Bytes per output file, e.g. 128MiB (default: the table's "
        "write.target-file-size-bytes, else 512MiB).")] = None,
    where: Annotated[str | None, typer.Option(
        "--where", help="Only files that may hold rows matching this filter, e.g. \"day >= '2026-11-01'\".")] = None,
    min_input_files: Annotated[int, typer.Option(
        "--min-input-files", min=1, help="Small files a partition needs before it is rewritten.")] = 2,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List only; change nothing.")] = False,
    as_json: _Json = False,
) -> None:
    """Rewrite small files of NAME per partition, and files of earlier partition specs, into
    target-sized files of the current spec (one replace snapshot; time travel keeps working)."""
    with _errors():
        result = _fab(ctx).table(name).compact(target_file_size, where=where, dry_run=dry_run,
                                               min_input_files=min_input_files)
    if as_json:
        print_json({**result.__dict__, "groups": [g.__dict__ for g in result.groups]})
        return
    if not result.groups:
        console.print(f"{name}: nothing to compact ({result.files_before} data file(s), target "
                      f"{decimal(result.target_file_size)})", highlight=False)
        return
    earlier = sum(len(g.files) for g in result.groups if g.earlier_spec)
    if dry_run:
        console.print(f"{name}: would rewrite {len(result.rewritten_files)} file(s) "
                      f"({decimal(result.rewritten_bytes)}) in {len(result.groups)} partition(s) "
                      f"into about {result.estimated_files} file(s); {earlier} of an earlier "
                      "partition spec", highlight=False)
    else:
        console.print(f"{name}: rewrote {len(result.rewritten_files)} file(s) "
                      f"({decimal(result.rewritten_bytes)}) in {len(result.groups)} partition(s) "
                      f"into {len(result.added_files)} ({decimal(result.added_bytes)}); data files "
                      f"{result.files_before} -> {result.files_after}; snapshot "
                      f"{result.snapshot_id}. Replaced files stay for time travel until "
                      f"`skyfabric tables expire {name}`", highlight=False)
    for group in result.groups:
        where_text = ", ".join(f"{k}={v}" for k, v in group.partition.items()) or "unpartitioned"
        out_console().print(Text(f"{where_text}: {len(group.files)} file(s), "
                                 f"{decimal(group.bytes)} ({group.reason})"))


@app.command("expire", epilog=_CODES)
def expire_cmd(
    ctx: typer.Context,
    name: _Name,
    older_than: Annotated[str, typer.Option("--older-than", help="Age, e.g. 7d, 12h.")] = "7d",
    retain_last: Annotated[int, typer.Option(min=1, help="Newest snapshots always kept.")] = 1,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List only; change nothing.")] = False,
    as_json: _Json = False,
) -> None:
    """Expire old snapshots of NAME and delete the files only they referenced."""
    with _errors():
        result = _fab(ctx).table(name).expire_snapshots(older_than, retain_last=retain_last,
                                                       dry_run=dry_run)
    if as_json:
        print_json(result.__dict__)
        return
    verb = "would expire" if dry_run else "expired"
    console.print(f"{verb} {len(result.snapshot_ids)} snapshot(s) of {name}; "
                  f"{'would delete' if dry_run else 'deleted'} {len(result.files)} file(s), "
                  f"{decimal(result.bytes)}", highlight=False)
    for url in result.files:
        out_console().print(Text(url))


@app.command("gc", epilog=_CODES)
def gc_cmd(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="One table (default: every table).")] = None,
    older_than: Annotated[str, typer.Option("--older-than",
                          help="Grace period: younger orphans may be commits in flight.")] = "1d",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List only; change nothing.")] = False,
    as_json: _Json = False,
) -> None:
    """Delete orphan files (referenced by no snapshot) under table locations."""
    results: dict[str, Any] = {}
    with _errors():
        fab = _fab(ctx)
        if name:
            results[name] = fab.table(name).gc(older_than, dry_run=dry_run)
        for table_name in [] if name else fab.tables():
            # every table: one that cannot be loaded is skipped with a warning, not the end
            table = fab._table_service.table_or_skip(table_name, "gc")
            if table is not None:
                results[table_name] = table.gc(older_than, dry_run=dry_run)
    if as_json:
        print_json({k: v.__dict__ for k, v in results.items()})
        return
    verb = "would delete" if dry_run else "deleted"
    for table_name, result in results.items():
        console.print(f"{table_name}: {verb} {len(result.files)} orphan file(s), "
                      f"{decimal(result.bytes)}; {len(result.skipped_recent)} younger than "
                      f"{older_than} kept", highlight=False)
        for url in result.files:
            out_console().print(Text(url))


@app.command("drop", epilog=_CODES)
def drop_cmd(
    ctx: typer.Context,
    name: _Name,
    purge: Annotated[bool, typer.Option(
        "--purge", help="Also delete the table's files (its own folders only).")] = False,
) -> None:
    """Remove a table from the catalog (its files stay unless --purge).

    Without --purge the table is not loaded, so an entry whose store is gone can be removed.
    """
    with _errors():
        fab = _fab(ctx)
        service = fab._table_service
        from skyfabric.tables._catalog import split_name

        listed = ".".join(split_name(name)) in service.table_names()
        if purge and listed and service.load_or_skip(name, "tables drop --purge") is None:
            _fail(f"table {name!r} cannot be loaded (warned above), so which files are its own "
                  f"is unknown and none is deleted; fix: `skyfabric tables drop {name}` without "
                  "--purge removes the entry and keeps the files", EXIT_FAILED)
        fab.drop_table(name, purge=purge)
    console.print(f"dropped {name}" + (" and its files" if purge else " (files kept)"))


def register(root: typer.Typer) -> None:
    """Add the ``tables`` command group to the root app."""
    root.add_typer(app, name="tables")
