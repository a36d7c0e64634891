"""``skyfabric drift baseline|check`` (``drift monitor`` is in `skyfabric.cli.monitor_cmd`,
with the same exit codes; ``skyfabric quickstart`` in `skyfabric.cli.quickstart_cmd`).

Exit codes of ``drift check`` (printed in its ``--help``), so a scheduler can alert:

====  ==================================================================================
0     no drift at or above the ``--fail-on`` level (always 0 with ``--fail-on never``)
1     error: unreadable source, no file at ``--baseline``, store unreachable, ...; or an
      output that could not be written or drawn after the check (the other output and
      the table still are: ``--json-out`` is written first)
2     usage: bad option, unknown column, empty ``--columns``, invalid configuration, a
      ``--baseline`` file that is not a baseline (parquet data, a drift report), an output
      (``--report``, ``--json-out``, ``--out``) that cannot be written or would replace the
      ``--baseline`` (outputs are checked before any data is read)
3     moderate drift, with ``--fail-on moderate``
4     significant drift (incl. a missing column, a changed column type or empty data), with
      ``--fail-on`` ``moderate`` or ``significant``; a ``too_small`` column counts as stable
====  ==================================================================================
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from enum import StrEnum
from typing import Annotated, Any

import typer

from skyfabric.cli._common import (
    console,
    err_console,
    fabric,
    fabric_errors,
    out_console,
    print_error,
    print_json,
)
from skyfabric.config import MAX_BINS
from skyfabric.storage.paths import GLOB_CHARS

__all__ = ["EXIT_ERROR", "EXIT_MODERATE", "EXIT_OK", "EXIT_SIGNIFICANT", "EXIT_USAGE", "register"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_MODERATE = 3
EXIT_SIGNIFICANT = 4

_EXIT_HELP = (
    "Exit codes: 0 no drift at the --fail-on level; 1 error; 2 usage; "
    "3 moderate drift (with --fail-on moderate); 4 significant drift, a missing column, "
    "a changed column type or empty data (with --fail-on moderate or significant); a "
    "too_small column counts as stable."
)

_SOURCE_HELP = (
    "fabric:// URL (parquet file, prefix, glob), local path, or table:NAMESPACE.NAME[@SNAPSHOT] "
    "(an Iceberg table of the catalog)."
)


class FailOn(StrEnum):
    moderate = "moderate"
    significant = "significant"
    never = "never"


class EngineName(StrEnum):
    local = "local"
    dask = "dask"


class Binning(StrEnum):
    quantile = "quantile"
    uniform = "uniform"


def _errors() -> AbstractContextManager[None]:
    """`fabric_errors`, with pyarrow's read errors (a corrupt parquet file) exiting 1 too."""
    import pyarrow as pa

    return fabric_errors(also=(pa.ArrowException,))


def _split(columns: str | None, every: str) -> list[str] | None:
    """The names of ``--columns a,b`` (blanks around names and empty entries dropped), or
    None when the option is left out.

    Raises:
        typer.Exit: with `EXIT_USAGE` when the option names no column (``""``, ``","``):
            it used to mean every column, silently, where the Python API refuses ``[]``.
    """
    if columns is None:
        return None
    names = [c.strip() for c in columns.split(",") if c.strip()]
    if not names:
        print_error(
            f"--columns is empty ({columns!r} names no column); fix: name the columns, e.g. "
            f"--columns x,y, or leave the option out to use {every}"
        )
        raise typer.Exit(EXIT_USAGE)
    return names


def _file_key(fab: Any, url: str) -> str:
    """One key for every spelling of one file, to tell whether two options name it.

    A local path and a ``fabric://`` URL of a ``local`` store become the absolute path with
    symlinks resolved (`os.path.realpath`), so ``b.json``, ``./b.json``, a symlink to it and
    ``fabric://lake/b.json`` when ``lake`` is rooted there are one file; another store's URL
    becomes ``fabric://<store>/<key>``. A URL that does not resolve is its own key.
    """
    from skyfabric.errors import FabricError

    if url.startswith("fabric://"):
        try:
            store, fp, native = fab.fs.route(url)
        except FabricError:
            return url
        if not store.local_disk:
            return f"fabric://{store.name}/{fp.key}"
        url = native
    return os.path.realpath(os.path.expanduser(url))


def _within_source(fab: Any, key: str, source: str) -> bool:
    """True when the output file ``key`` (`_file_key`) is the ``source`` file, lies under
    the ``source`` folder, or matches the ``source`` glob: writing it would replace data, or
    put a file that is not parquet among the data and fail the next run."""
    import fnmatch

    if source.startswith("table:"):
        return False
    src = _file_key(fab, source)
    if src.startswith("fabric://") != key.startswith("fabric://"):
        return False
    if GLOB_CHARS & set(src) and not os.path.exists(src):
        return fnmatch.fnmatchcase(key, src)
    return key == src or key.startswith(src.rstrip("/") + "/")


def _check_outputs(
    fab: Any,
    outputs: list[tuple[str, str | None, str]],
    inputs: Sequence[tuple[str, str]] = (),
    sources: Sequence[str] = (),
) -> None:
    """Exit 2 (usage) when an output option names a place no file can be written, before
    any data is read: the scan may take minutes and its result would be lost at the end.

    An empty value, two options naming the same file, an output naming one of
    ``inputs`` (``(option, URL or path)``, e.g. the ``--baseline`` it would overwrite), or
    an output within one of ``sources`` (`_within_source`) is refused too; "the same file"
    is any spelling of it (`_file_key`).
    ``outputs`` holds ``(option, URL or path or None, example file name)``; the check is
    the writers' own (`skyfabric.drift.file_io.validate_output`), so both agree, and the
    message is prefixed with the option. Nothing is created.

    Raises:
        typer.Exit: with `EXIT_USAGE`, after one ``error: --option: ...; fix: ...`` line.
        StoreUnreachableError: the store cannot be reached (not a usage error: exits 1).
    """
    from skyfabric.drift.file_io import validate_output
    from skyfabric.errors import FabricError, StoreUnreachableError

    read = {_file_key(fab, url): option for option, url in inputs}
    seen: dict[str, str] = {}
    for option, url, example in outputs:
        if url is None:
            continue
        if not url.strip():  # --report '' would silently write no report
            print_error(
                f"{option} is empty; fix: give a file, e.g. {option} {example}, or leave "
                "the option out"
            )
            raise typer.Exit(EXIT_USAGE)
        key = _file_key(fab, url)
        if key in read:  # --json-out b.json -b b.json replaced the baseline with the report
            print_error(
                f"{option} and {read[key]} both name {url!r}: writing {option} would replace "
                f"the {read[key]} file it reads; fix: write {option} to another file, e.g. "
                f"{option} {example}"
            )
            raise typer.Exit(EXIT_USAGE)
        inside = next((src for src in sources if _within_source(fab, key, src)), None)
        if inside is not None:  # --json-out data/part-0.parquet replaced the data
            print_error(
                f"{option} {url!r} is within the source {inside!r}: writing it would replace "
                "data there, or leave a file that is not parquet among the data, which fails "
                f"the next run; fix: write {option} outside the source, e.g. {option} "
                f"reports/{example}"
            )
            raise typer.Exit(EXIT_USAGE)
        if key in seen:  # the second write would replace the first
            print_error(f"{option} and {seen[key]} both name {url!r}; fix: give each its own file")
            raise typer.Exit(EXIT_USAGE)
        seen[key] = option
        try:
            validate_output(url, fabric=fab, example=example)
        except StoreUnreachableError:
            raise
        except (FabricError, OSError) as exc:
            print_error(f"{option}: {exc}")
            raise typer.Exit(EXIT_USAGE) from None


@contextmanager
def _progress(total: int | None, label: str) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on stderr when it is a terminal, else no callback."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        # the label names the data: printed as it is, never read as rich markup
        TextColumn("{task.description}", style="progress.description", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _write_outputs(result: Any, fab: Any, *, json_out: str | None, report: str | None) -> list[str]:
    """Write ``--json-out``, then ``--report``; return the options that failed.

    The scan is done and its result is in hand, so one output failing must not lose the
    other (nor the table): each failure prints one ``error: --option: ...`` line and the
    next output is still written. JSON goes first: it is plain numbers, where the HTML
    draws a plot of every column with matplotlib. A failed output leaves no file behind
    (`skyfabric.drift.file_io.write_text` writes whole or not at all).
    """
    from skyfabric.drift.report import write_html, write_json
    from skyfabric.errors import FabricError

    failed = []
    for option, url, write in (
        ("--json-out", json_out, write_json),
        ("--report", report, write_html),
    ):
        if not url:
            continue
        try:
            write(result, url, fab)
        except (FabricError, OSError) as exc:  # the store, the disk: the message says which
            print_error(f"{option}: {exc}")
            failed.append(option)
        except Exception as exc:  # drawing the plots (matplotlib): one line, no traceback
            print_error(
                f"{option}: the report could not be rendered ({type(exc).__name__}: {exc}); "
                f"nothing was written to {url!r}; the other outputs are unaffected; fix: if "
                "the message points at a matplotlib setting (matplotlibrc, e.g. text.usetex "
                "without LaTeX), change it; else report a skyfabric bug with this message"
            )
            failed.append(option)
    return failed


#: Options naming a model version whose folder holds its baseline (`skyfabric.drift.models`).
ModelOption = Annotated[
    str | None, typer.Option(help="The model whose folder holds the baseline (with --version).")
]
VersionOption = Annotated[str | None, typer.Option(help="The model version (with --model).")]
RegistryOption = Annotated[
    str | None, typer.Option(help="Model registry root (default: fabric://registry/models).")
]


def baseline_cmd(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help=_SOURCE_HELP)],
    out: Annotated[
        str | None, typer.Option("--out", "-o", help="Where to write the baseline JSON.")
    ] = None,
    model: ModelOption = None,
    version: VersionOption = None,
    registry: RegistryOption = None,
    columns: Annotated[str | None, typer.Option(help="Comma-separated columns.")] = None,
    bins: Annotated[
        int | None,
        typer.Option(
            min=2,
            max=MAX_BINS,  # the [drift] bins cap of the configuration
            help="Bins per numeric column (default: [drift] bins of the configuration, 10).",
        ),
    ] = None,
    binning: Annotated[Binning, typer.Option(help="Numeric bin edges.")] = Binning.quantile,
    top_k: Annotated[int | None, typer.Option(min=1, help="Categories kept per column.")] = None,
) -> None:
    """Fit a baseline (bin edges + reference counts) on SOURCE and save it as JSON to --out,
    or beside a model: <registry>/NAME/VERSION/baseline.json with --model and --version."""
    from skyfabric.drift.check import fit_baseline, save_baseline

    names = _split(columns, "every column of the source")
    if (out is None) == (model is None):
        print_error("give --out URL, or --model NAME with --version V (not both)")
        raise typer.Exit(EXIT_USAGE)
    if model is not None and not version:
        print_error("--model needs --version (the model version the baseline belongs to)")
        raise typer.Exit(EXIT_USAGE)
    with _errors():
        fab = fabric(ctx)
        if model is not None:
            from skyfabric.drift.models import model_dir, save_model_baseline

            target = f"{model_dir(fab, model, version, registry)}/baseline.json"  # type: ignore[arg-type]
        else:
            target = out  # type: ignore[assignment]
        _check_outputs(fab, [("--out", target, "baseline.json")], sources=[source])
        base = fit_baseline(
            source, names, fabric=fab, bins=bins, binning=binning.value, top_k=top_k
        )
        if model is not None:
            out = save_model_baseline(base, fab, model, version, registry=registry)  # type: ignore[arg-type]
        else:
            save_baseline(base, target, fab)
    from rich.table import Table
    from rich.text import Text

    from skyfabric.drift.report import cell

    # names, dtypes (timestamp[ms]) and paths are Text: printed as they are, not as markup
    table = Table(
        title=Text(f"baseline of {base.source}: {base.rows:,} rows"), title_justify="left"
    )
    for name in ("column", "dtype", "binning", "bins", "merged edges", "rank error"):
        table.add_column(name, overflow="fold")  # a long name or dtype wraps, never cut
    for name, col in base.columns.items():
        rank = "exact" if col.rank_error is None else f"{col.rank_error:.2%}"
        table.add_row(
            cell(name),
            Text(col.dtype),
            Text(col.binning),
            str(len(col.histogram.counts)),
            str(col.merged_edges),
            rank,
        )
    out_console().print(table)
    for name, why in base.skipped.items():  # columns of the source the fit left out
        console.print(Text.assemble("not fitted: ", cell(name), f": {why}"))
    console.print(Text.assemble("saved to ", (out, "bold")))


def check_cmd(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help=_SOURCE_HELP)],
    baseline: Annotated[str, typer.Option("--baseline", "-b", help="Baseline JSON URL or path.")],
    report: Annotated[str | None, typer.Option(help="Write the HTML report here.")] = None,
    json_out: Annotated[str | None, typer.Option("--json-out", help="Write the JSON here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    fail_on: Annotated[FailOn, typer.Option(help="Lowest drift level that exits non-zero.")] = (
        FailOn.significant
    ),
    engine: Annotated[EngineName, typer.Option(help="local (threads) or dask.")] = EngineName.local,
    columns: Annotated[str | None, typer.Option(help="Comma-separated subset to check.")] = None,
) -> None:
    """Check SOURCE for drift against --baseline: table, JSON, HTML report, exit code.

    Exit codes, listed below, let a scheduler alert on drift.
    """
    from skyfabric.drift.check import check, load_baseline
    from skyfabric.drift.report import render_table
    from skyfabric.drift.sources import open_source

    names = _split(columns, "every column of the baseline")
    with _errors():
        fab = fabric(ctx)
        _check_outputs(
            fab,
            [("--report", report, "report.html"), ("--json-out", json_out, "drift.json")],
            inputs=[("--baseline", baseline)],
            sources=[source],
        )
        base = load_baseline(baseline, fab)
        src = open_source(source, fabric=fab)
        total = src.count_rows() if sys.stderr.isatty() else None
        with _progress(total, f"checking {src.name}") as progress:
            result = check(
                base,
                src,
                fabric=fab,
                engine=engine.value,
                columns=names,
                progress=progress,
            )
    failed = _write_outputs(result, fab, json_out=json_out, report=report)
    if as_json:
        print_json(result.to_dict())
    else:
        out_console().print(render_table(result))
        for label, option, url in (
            ("report", "--report", report),
            ("json", "--json-out", json_out),
        ):
            if url and option not in failed:
                console.print(f"{label}: {url}", highlight=False, markup=False)
    worst = result.worst_status
    code = EXIT_OK
    if fail_on is not FailOn.never:
        if worst == "significant":
            code = EXIT_SIGNIFICANT
        elif worst == "moderate" and fail_on is FailOn.moderate:
            code = EXIT_MODERATE
    if failed:  # an output asked for is missing: that is an error, whatever the drift
        code = EXIT_ERROR
    if not as_json:
        err_console.print(f"worst drift level: {worst} (exit {code})", highlight=False)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``drift baseline``, ``drift check`` and ``quickstart`` to the root app."""
    drift_app = typer.Typer(
        name="drift", help="Streaming drift (PSI): baselines, checks and monitoring.", no_args_is_help=True
    )
    drift_app.command("baseline")(baseline_cmd)
    drift_app.command("check", epilog=_EXIT_HELP)(check_cmd)
    from skyfabric.cli.monitor_cmd import monitor_cmd  # imports this module's helpers

    drift_app.command("monitor", epilog=_EXIT_HELP)(monitor_cmd)
    app.add_typer(drift_app, name="drift")
    from skyfabric.cli.quickstart_cmd import quickstart_cmd

    app.command("quickstart")(quickstart_cmd)
