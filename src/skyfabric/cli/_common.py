"""What every CLI command shares: the loaded Fabric, output helpers, error-to-exit-code."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from skyfabric.errors import FabricError, redact

console = Console()
err_console = Console(stderr=True)


def out_console() -> Console:
    """Where tables go: stdout at the terminal's width, or, when stdout is a pipe or a log
    file (a scheduler's), 4000 columns wide, so that rows come out whole instead of cut
    at rich's default of 80 columns."""
    return console if console.is_terminal else Console(file=sys.stdout, width=4000)

T = TypeVar("T")

# Exit codes (documented in docs/cli.md): 0 success, 1 failed objects / drift over threshold,
# 2 usage or configuration error (typer's own code for bad arguments).
EXIT_FAILED = 1
EXIT_USAGE = 2


def fabric(ctx: typer.Context) -> Any:
    """The Fabric for this invocation, built once from the global ``--config``."""
    from skyfabric.fabric import connect

    state = ctx.ensure_object(dict)
    if "fabric" not in state:
        state["fabric"] = connect(state.get("config"))
    return state["fabric"]


def print_error(exc: BaseException | str) -> None:
    """One ``error: ...`` line on stderr: redacted, never wrapped, never read as rich markup
    (a message such as "add [stores.x] to skyfabric.toml" or a column ``x[/b]`` must print
    its brackets, and a trailing backslash must print once)."""
    err_console.print(Text.assemble(("error:", "bold red"), " ", redact(str(exc))), soft_wrap=True)


def print_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout (for scripts; no colour, no wrapping)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def fabric_errors(also: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Turn an error into one line on stderr and an exit code: a `FabricError` about the
    input (a ValueError/KeyError) exits 2, any other `FabricError`, an ``OSError`` or one of
    ``also`` exits 1."""
    try:
        yield
    except FabricError as exc:
        print_error(exc)
        code = EXIT_USAGE if isinstance(exc, ValueError | KeyError) else EXIT_FAILED
        raise typer.Exit(code) from None
    except (OSError, *also) as exc:
        print_error(exc)
        raise typer.Exit(EXIT_FAILED) from None


def guarded(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator form of `fabric_errors` for command functions."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        with fabric_errors():
            return fn(*args, **kwargs)

    return wrapper
