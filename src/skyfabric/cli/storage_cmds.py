"""``skyfabric stores | ls | cat | cp | sync | rm``: the storage layer from the shell.

``cp`` and ``sync`` take ``fabric://`` URLs or plain local paths on either side. A local path
becomes an ad-hoc ``local`` store for the one command, so uploads and downloads go through the
same verified transfer as store-to-store copies (temporary name, size + MD5, retries).
``ls``, ``cat`` and ``rm`` take ``fabric://`` URLs only, so ``rm`` never touches local files.

Exit codes: 0 success; 1 an object failed, or a store or object could not be reached;
2 usage or configuration error (bad option, unknown store, invalid ``skyfabric.toml``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.filesize import decimal
from rich.table import Table
from rich.text import Text

from skyfabric.cli._common import (
    EXIT_FAILED,
    EXIT_USAGE,
    err_console,
    fabric,
    out_console,
    print_json,
)
from skyfabric.config import LocalStoreConfig
from skyfabric.errors import FabricError, ObjectNotFoundError, redact
from skyfabric.storage import transfer
from skyfabric.storage.filesystem import FabricFileSystem
from skyfabric.storage.paths import parse

__all__ = ["register"]

PREFIX = "fabric://"  # == skyfabric.storage.paths.PREFIX
CAT_CHUNK = 8 * 2**20  # bytes per read when streaming `cat` to stdout
PROBE_TIMEOUT = 5.0  # seconds `stores` waits for a store before calling it unreachable
_CODES = ("Exit codes: 0 success; 1 an object failed, or a store or object could not be "
          "reached; 2 usage or configuration error.")

def _fabric_url(url: str) -> str:
    if not url.startswith(PREFIX):
        raise typer.BadParameter(f"expected a fabric:// URL, got {url!r}; fix: write "
                                 "fabric://<store>/<path> (local files: use cp or sync)")
    return url


_Json = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
_Workers = Annotated[int, typer.Option("--workers", "-w", min=1, help="Objects copied at once.")]
_Url = Annotated[str, typer.Argument(callback=_fabric_url, help="fabric://<store>/<path>")]
_Recursive = Annotated[bool, typer.Option("--recursive", "-r", help="Every object under a prefix.")]


def _usage(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One unwrapped plain-text line on stderr (a `[` is never markup), then exit ``code``."""
    err_console.print(Text("error: ", style="bold red") + Text(redact(message)), soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def _errors(rewrite: Callable[[str], str] = str) -> Iterator[None]:
    """FabricError -> exit 2 when about the input (ValueError/KeyError), else 1; others -> 1."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.TyperException, typer.BadParameter):
        raise
    except FabricError as exc:
        bad_input = isinstance(exc, ValueError | KeyError)
        _usage(rewrite(str(exc)), EXIT_USAGE if bad_input else EXIT_FAILED)
    except Exception as exc:  # OSError, botocore, ...: one line, never a traceback
        _usage(rewrite(f"{type(exc).__name__}: {exc}"), EXIT_FAILED)



def _modified(info: dict[str, Any]) -> str | None:
    """Last-modified time in UTC, ISO 8601, from whichever key the store's client fills in."""
    keys = ("LastModified", "last_modified", "updated", "mtime", "created")
    value = next((info[k] for k in keys if info.get(k)), None)
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return None if value is None else str(value)


def _describe(store: Any) -> dict[str, Any]:
    """A store's settings for display: names of credential env vars, never their values."""
    cfg = store.config
    location = store.location_label()
    named = [f"${var}" for key, var in cfg if key.endswith("_env") and var]
    if named:
        creds = "env " + ", ".join(named)
    elif getattr(cfg, "profile", None) or getattr(cfg, "anonymous", False):
        creds = f"profile {cfg.profile}" if getattr(cfg, "profile", None) else "anonymous"
    else:
        creds = store.default_credentials
    endpoint = re.sub(r"//[^/]*@", "//***@", getattr(cfg, "endpoint", None) or "") or None
    return {"name": store.name, "kind": cfg.kind, "location": location, "endpoint": endpoint,
            "prefix": cfg.prefix or None, "region": cfg.region, "tier": cfg.tier,
            "storage_class": store.configured_class,
            "credentials": creds}


def _probe(store: Any, timeout: float) -> tuple[bool, str]:
    """One cheap call against the store: ``(reachable, why not or a note)``."""
    cfg = store.config
    try:
        if endpoint := getattr(cfg, "endpoint", None):  # fail fast, before the SDK's retries
            url = urllib.parse.urlsplit(endpoint)
            host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
            try:
                socket.create_connection((host, port), timeout=timeout).close()
            except OSError as exc:
                return False, f"cannot connect to {host}:{port}: {exc.strerror or exc}"
        try:
            store.fs.ls(store.root, detail=False)
            return True, ""
        except FileNotFoundError:
            if store.hierarchical:
                return True, "empty (the root is created on first write)"
            bucket = store.root.split("/", 1)[0]
            if cfg.prefix and store.fs.exists(bucket):
                return True, f"prefix {cfg.prefix!r} is empty"
            return False, f"{store.bucket_word} {bucket!r} does not exist or these credentials cannot see it"
    except Exception as exc:
        text = str(exc) if isinstance(exc, FabricError) else f"{type(exc).__name__}: {exc}"
        text = " ".join(text.split())
        return False, redact(text if len(text) <= 240 else text[:237] + "...")


def _probe_all(stores: list[Any], timeout: float) -> dict[str, tuple[bool, str]]:
    """Probe all stores at once in daemon threads (an executor would be joined at exit, so a
    hung endpoint would hold the command long past ``timeout``)."""
    results: dict[str, tuple[bool, str]] = {}
    logging.getLogger("azure").setLevel(logging.ERROR)  # else one warning per failed credential
    threads = [threading.Thread(target=lambda s=s: results.setdefault(s.name, _probe(s, timeout)),
                                daemon=True) for s in stores]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    late = (False, f"no answer within {timeout:g} s")
    return {s.name: results.get(s.name, late) for s in stores}


def stores_cmd(
    ctx: typer.Context,
    as_json: _Json = False,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per store.")] = PROBE_TIMEOUT,
    create: Annotated[list[str] | None, typer.Option(
        "--create", metavar="NAME", help="Create the bucket / container / directory store NAME "
        "names (repeatable); one that exists is left as it is.")] = None,
) -> None:
    """List the configured stores and whether each one answers (probed in parallel), and
    where this configuration keeps its local state (catalog, placement journal).

    With --create NAME: create what store NAME names instead (S3/MinIO bucket in the store's
    region, GCS bucket in its project/location with its storage class, Azure container,
    local directory), then exit."""
    if create:
        return _create_buckets(ctx, create, as_json)
    with _errors():
        fab = fabric(ctx)
        rows = [_describe(s) for s in fab.stores.values()]
        probes = _probe_all(list(fab.stores.values()), timeout)
    for row in rows:
        row["reachable"], row["reason"] = probes[row["name"]][0], probes[row["name"]][1] or None
    state = _state(fab.config)
    if as_json:
        print_json({"config": fab.config.source, **state, "stores": rows})
        return
    table = Table(title=f"stores ({fab.config.source})", title_justify="left")
    for col in ("name", "kind", "bucket / container / path", "prefix", "region", "tier"):
        table.add_column(col)
    table.add_column("reachable")
    for row in rows:
        where = row["location"] + (f" @ {row['endpoint']}" if row["endpoint"] else "")
        ok = Text("yes", style="green") if row["reachable"] else Text("no", style="bold red")
        ok.append(f": {row['reason']}" if row["reason"] else "", style="default")
        cells = (row["name"], row["kind"], where, row["prefix"], row["region"], row["tier"])
        table.add_row(*(Text(str(v or "-")) for v in cells), ok)
    out_console().print(table)
    for label, value in state.items():
        out_console().print(Text(f"{label.replace('_', ' ')}: {value}"), soft_wrap=True)


def _create_buckets(ctx: typer.Context, names: list[str], as_json: bool) -> None:
    """``stores --create``: one line (or JSON object) per store, in the order given."""
    done = []
    with _errors():
        fab = fabric(ctx)
        for name in names:
            fab.store(name)  # every name checked before anything is created
        for name in names:
            result = fab.create_bucket(name)
            done.append(result)
            if not as_json:
                out_console().print(Text(result.message), soft_wrap=True)
    if as_json:
        print_json([{**vars(r), "message": r.message} for r in done])


def _state(config: Any) -> dict[str, str]:
    """Where the configuration keeps its local state (redacted: a catalog URI may hold a
    password)."""
    from skyfabric.errors import redact

    return {
        "state_dir": str(config.state_path),
        "catalog": redact(config.catalog_uri or "-"),
        "placement_state_dir": str(config.placement_state_path),
    }


def ls_cmd(
    ctx: typer.Context,
    url: _Url = PREFIX,
    long: Annotated[bool, typer.Option("--long", "-l", help="Type, size, modified time.")] = False,
    as_json: _Json = False,
) -> None:
    """List objects and prefixes under URL (an object: just it; fabric:// alone: the stores)."""
    with _errors():
        entries = fabric(ctx).fs.ls(url, detail=True)
    rows = [{"url": PREFIX + e["name"] + ("/" if e["type"] == "directory" else ""),
             "type": e["type"], "size": int(e.get("size") or 0) if e["type"] == "file" else 0,
             "modified": _modified(e)} for e in entries]
    if as_json:
        return print_json(rows)
    for row in rows:  # one entry per line, so the output stays grep-able
        size = decimal(row["size"]) if row["type"] == "file" else "-"
        line = f"{row['type']:<9} {size:>10}  {row['modified'] or '-':<25}  " if long else ""
        typer.echo(line + row["url"])


def cat_cmd(ctx: typer.Context, url: _Url) -> None:
    """Write the object's bytes to stdout, streamed in chunks (binary safe)."""
    out = typer.get_binary_stream("stdout")
    with _errors():
        try:
            with fabric(ctx).fs.open(url, "rb", block_size=CAT_CHUNK, cache_type="none") as f:
                while chunk := f.read(CAT_CHUNK):
                    out.write(chunk)
            out.flush()
        except IsADirectoryError:
            _usage(f"{url} is a prefix, not an object; fix: skyfabric ls {url}")
        except BrokenPipeError:  # `skyfabric cat ... | head`: stop quietly (Python docs' recipe)
            with contextlib.suppress(OSError, ValueError, AttributeError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(EXIT_FAILED) from None


def rm_cmd(
    ctx: typer.Context,
    url: _Url,
    recursive: _Recursive = False,
    as_json: _Json = False,
) -> None:
    """Remove an object, or with -r every object under a prefix."""
    with _errors():
        fs = fabric(ctx).fs
        info = fs.info(url)
        if info["type"] == "directory":
            if not recursive:
                _usage(f"{url} is a prefix; fix: pass -r to remove everything under it")
            removed = [PREFIX + name for name in fs.find(url)]
            fs.rm(url, recursive=True)
        else:
            removed = [PREFIX + info["name"]]
            fs.rm_file(url)
    if as_json:
        return print_json({"ok": True, "deleted": removed, "count": len(removed)})
    for name in removed:
        typer.echo(f"deleted {name}")


class _Sides:
    """Plain local paths as ad-hoc ``local`` stores, and their URLs mapped back for display."""

    def __init__(self) -> None:
        self.fab: Any = None
        self.roots: dict[str, Path] = {}

    def url(self, arg: str, *, role: str, tree: bool) -> str:
        """The fabric URL for ``arg``; ``tree``: the path is a prefix (cp -r, sync)."""
        if arg.startswith(PREFIX):
            # Checked against the configured stores, before any ad-hoc one joins them (an
            # unknown-store error must not offer "local-src" as a store to use).
            self.fab.fs.store(parse(arg).store)
            return arg
        path = Path(arg).expanduser().absolute()
        as_dir = tree or arg.endswith(("/", os.sep)) or path.is_dir()
        if role == "src":
            if not path.exists():
                raise ObjectNotFoundError(f"no such local file or directory: {arg}")
            if path.is_dir() and not tree:
                _usage(f"{arg} is a directory; fix: pass -r to copy everything under it")
            as_dir = path.is_dir()
        root = path if as_dir else path.parent
        if root == Path(root.anchor):
            _usage(f"{arg}: a filesystem root cannot be a side of a transfer; fix: name a folder")
        name = next(n for i in range(99) if (n := f"local-{role}{i or ''}") not in self.fab.stores)
        self.roots[name] = root
        if not as_dir:
            return f"{PREFIX}{name}/{path.name}"
        return f"{PREFIX}{name}" if tree else f"{PREFIX}{name}/"  # trailing /: keep src's name

    def fs(self) -> Any:
        if not self.roots:
            return self.fab.fs
        extra = {n: LocalStoreConfig(kind="local", path=r) for n, r in self.roots.items()}
        config = self.fab.config.model_copy(update={"stores": {**self.fab.config.stores, **extra}})
        return FabricFileSystem(config=config, skip_instance_cache=True)

    def show(self, text: str) -> str:
        """Rewrite ad-hoc fabric URLs in ``text`` back to the local paths."""
        for name, root in self.roots.items():
            text = text.replace(f"{PREFIX}{name}/", f"{root.as_posix()}/")
            text = text.replace(f"{PREFIX}{name}", root.as_posix())
        return text


@contextlib.contextmanager
def _progress(label: str, enabled: bool, total: Callable[[], int | None]) -> Iterator[Any]:
    """A bytes progress bar on stderr, fed from worker threads; only when stdout is a TTY."""
    if not (enabled and sys.stdout.isatty() and err_console.is_terminal):
        yield None
        return
    from rich import progress as rp

    lock = threading.Lock()
    with rp.Progress(rp.TextColumn("{task.description}"), rp.BarColumn(), rp.DownloadColumn(),
                     rp.TransferSpeedColumn(), rp.TimeElapsedColumn(), console=err_console,
                     transient=True) as bar:
        task = bar.add_task(label, total=total())

        def advance(nbytes: int) -> None:
            with lock:
                bar.advance(task, nbytes)

        yield advance


def _report(result: Any, sides: _Sides, as_json: bool) -> None:
    """Print failures on stderr, then JSON or a summary on stdout; exit 1 if any failed."""
    data = result.to_dict()
    for obj in data["objects"]:
        for key in ("src", "dst", "error"):
            obj[key] = sides.show(obj[key]) if obj[key] else obj[key]
        if obj["status"] == "failed":
            line = Text(f"{obj['src']} -> {obj['dst']}: {obj['error']}")
            err_console.print(Text("failed: ", style="bold red") + line, soft_wrap=True)
    if as_json:
        print_json(data)
    else:
        out = out_console()
        for obj in data["objects"]:
            if obj["status"] in ("would_copy", "would_delete"):
                what = f"{obj['src']} -> {obj['dst']}" if obj["src"] else obj["dst"]
                out.print(Text(f"{obj['status'].replace('_', ' ')} {what} "
                               f"({decimal(obj['bytes'])})"), soft_wrap=True)
        counts = data["counts"]
        parts = [f"copied {counts.get('copied', 0)} ({decimal(data['bytes_copied'])})"]
        parts += [f"{status.replace('_', ' ')} {n}" for status, n in sorted(counts.items())
                  if status != "copied"]
        out.print(Text(", ".join(parts), style="green" if data["ok"] else "bold red"))
    if not data["ok"]:
        raise typer.Exit(EXIT_FAILED)


def _transfer(ctx: typer.Context, src: str, dst: str, *, tree: bool, as_json: bool, bar: bool,
              run: Callable[..., Any]) -> None:
    """Resolve both sides (local paths as ad-hoc stores), run with a progress bar, report."""
    sides = _Sides()
    with _errors(sides.show):
        sides.fab = fabric(ctx)
        src_url = sides.url(src, role="src", tree=tree)
        dst_url = sides.url(dst, role="dst", tree=tree)
        fs = sides.fs()

        def total() -> int | None:  # only asked when a bar is shown
            return None if tree else int(fs.info(src_url).get("size") or 0)

        with _progress(f"{ctx.command.name} {src}", bar and not as_json, total) as progress:
            result = run(fs, src_url, dst_url, progress=progress)
    _report(result, sides, as_json)


def cp_cmd(
    ctx: typer.Context,
    src: Annotated[str, typer.Argument(help="fabric:// URL or local path.")],
    dst: Annotated[str, typer.Argument(help="fabric:// URL or local path; ending in /: into it.")],
    recursive: _Recursive = False,
    as_json: _Json = False,
    workers: _Workers = 8,
) -> None:
    """Copy SRC to DST; every object is verified (size + MD5) before it counts as copied."""
    run = functools.partial(transfer.copy, recursive=recursive, workers=workers)
    _transfer(ctx, src, dst, tree=recursive, as_json=as_json, bar=True, run=run)


def sync_cmd(
    ctx: typer.Context,
    src: Annotated[str, typer.Argument(help="fabric:// prefix or local directory.")],
    dst: Annotated[str, typer.Argument(help="fabric:// prefix or local directory.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report, change nothing.")] = False,
    delete: Annotated[bool, typer.Option("--delete", help="Remove what SRC lacks.")] = False,
    checksum: Annotated[bool, typer.Option("--checksum", help="Compare MD5s.")] = False,
    as_json: _Json = False,
    workers: _Workers = 8,
) -> None:
    """Make DST hold every object under SRC, copying only what is missing or different."""
    run = functools.partial(transfer.sync, dry_run=dry_run, delete=delete, checksum=checksum,
                            workers=workers)
    _transfer(ctx, src, dst, tree=True, as_json=as_json, bar=not dry_run, run=run)


def register(app: typer.Typer) -> None:
    """Add ``stores``, ``ls``, ``cat``, ``cp``, ``sync`` and ``rm`` to the root app."""
    app.command("stores", epilog="Exit codes: 0 listed, reachable or not (with --create: "
                "created or already there); 1 a store refused or could not be reached; "
                "2 configuration error.")(stores_cmd)
    for name, cmd in (("ls", ls_cmd), ("cat", cat_cmd), ("cp", cp_cmd), ("sync", sync_cmd),
                      ("rm", rm_cmd)):
        app.command(name, epilog=_CODES)(cmd)
