"""Scanning parquet on an object store: pyarrow's scanner vs the bounded row-group scan.

Usage::

    python benchmarks/bench_remote_scan.py [--stores s3,gcs] [--files 4] [--rows 2000000]
                                           [--repeat 3] [--pause 1.0] [--readers 1,2,3]

Starts the emulators on loopback (``tests/servers.py``: moto for S3, fake-gcs-server for
GCS), uploads ``--files`` parquet files written by ``bench_drift.make_file`` (8 columns: 6
float64 with nulls, 1 int64, 1 dictionary string; row groups of 256 Ki rows, ~110 MB per 2 M
rows), and reads them through a ``fabric://`` URL (``PyFileSystem(FSSpecHandler(s3fs or
gcsfs))``, as every drift check on a store does), in batches of 128 Ki rows. Sides:

- ``scanner``: ``Dataset.to_batches`` with `skyfabric.drift._scan.scan_options` (two files,
  four batches ahead, pre-buffering): what the drift scan did for object stores before.
- ``bounded``: `skyfabric.drift._scan.scan_batches` (row group by row group, at most
  ``REMOTE_READERS`` row groups being read and ``QUEUE_DEPTH`` batches queued per reader);
  ``--readers`` tries several ``REMOTE_READERS``.
- ``file-scanner``: the Dask engine's task before (``engine.count_file``): each file opened
  as its own dataset and read with ``to_batches(use_threads=False)``, one after the other.
- ``file-bounded``: the same files, each read with ``scan_batches`` (``count_file`` now).
- ``check-scanner`` / ``check``: a whole drift check (``skyfabric.drift.check``, local
  engine, a baseline of 10 bins per column fitted on 200,000 other rows), reading with the
  ``scanner`` side's scan / with ``scan_batches``. ``floor`` includes numba's set-up.

Each side runs with a fast consumer (counts rows) and a slow one (sleeps ``--pause`` seconds
at its first batch, then counts), every run in a fresh process whose peak RSS (``VmHWM``)
is its own. ``floor`` is the process after imports and opening the dataset, before the scan.
Best time and median peak RSS of ``--repeat`` interleaved runs; ``server CPU`` is the CPU time
the emulator spent serving a run (median); ``/before`` is a side's fast-consumer time over
that of the side it replaces. Tests never assert on these numbers.

The emulators are not object stores: moto answers every range request by copying the whole
object (so time grows with the number of requests times the object's size), and both share
the 2 CPUs with the reader. Read the ratios between sides of one store, not the speeds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from bench_drift import BATCH_SIZE, COLUMNS, make_file, peak_rss_mb  # noqa: E402

from servers import (  # noqa: E402
    FakeGCSServer,
    MotoServer,
    Server,
    isolate_environment,
    make_store_config,
    start_all,
    stop_all,
)

PREFIX = "drift/"
REF = Path(tempfile.gettempdir()) / f"skyfabric-bench-remote-ref-{os.getpid()}.parquet"
SIDES = ("scanner", "bounded", "file-scanner", "file-bounded", "check-scanner", "check")
#: side -> the side it replaces, whose fast-consumer time it is compared with
BEFORE = {"bounded": "scanner", "file-bounded": "file-scanner", "check": "check-scanner"}


class _Servers:
    """The attributes `servers.make_store_config` reads, for the servers started here."""

    def __init__(self, s3: Server | None, gcs: Server | None) -> None:
        self.s3 = s3
        self.gcs = gcs


def child(args: argparse.Namespace) -> None:
    """One side in this fresh process; prints seconds, rows and peak RSS (MiB) as JSON."""
    isolate_environment()
    import pyarrow.dataset as pads

    import skyfabric
    import skyfabric.drift._scan as scan

    if args.readers:
        scan.REMOTE_READERS = args.readers
    fab = skyfabric.connect({"stores": {"bench": json.loads(args.store_config)}})
    url = f"fabric://bench/{PREFIX}"
    data = fab.dataset(url)
    assert isinstance(data, pads.FileSystemDataset)
    per_file = [
        pads.dataset(f, filesystem=data.filesystem, format="parquet", schema=data.schema)
        for f in data.files
    ]
    if args.child.startswith("check"):
        import pyarrow.parquet as pq

        import skyfabric.drift.sources as sources
        from skyfabric.drift import check, fit_baseline
        from skyfabric.drift.histogram import load_kernels

        if args.child == "check-scanner":

            def scanner(d: Any, columns: list[str], batch_size: int) -> Any:
                opts = scan.scan_options(d)
                return d.to_batches(columns=columns, batch_size=batch_size, **opts)

            sources.scan_batches = scanner  # type: ignore[assignment]
        base = fit_baseline(pq.read_table(args.ref), COLUMNS, bins=10)
        load_kernels(base.templates(), data.schema)  # numba's set-up, before the clock
        floor = peak_rss_mb()
        t = time.perf_counter()
        rows = check(base, url, fabric=fab, batch_size=BATCH_SIZE).rows
        seconds = time.perf_counter() - t
        _report(seconds, rows, floor)
    floor = peak_rss_mb()

    def batches() -> Any:
        if args.child == "scanner":
            return data.to_batches(
                columns=COLUMNS, batch_size=BATCH_SIZE, use_threads=True, **scan.scan_options(data)
            )
        if args.child == "bounded":
            return scan.scan_batches(data, COLUMNS, BATCH_SIZE)
        if args.child == "file-scanner":
            return (
                b
                for d in per_file
                for b in d.to_batches(columns=COLUMNS, batch_size=BATCH_SIZE, use_threads=False)
            )
        return (b for d in per_file for b in scan.scan_batches(d, COLUMNS, BATCH_SIZE))

    t = time.perf_counter()
    rows = 0
    for i, batch in enumerate(batches()):
        if i == 0 and args.pause:
            time.sleep(args.pause)
        rows += batch.num_rows
    _report(time.perf_counter() - t, rows, floor)


def _report(seconds: float, rows: int, floor: float) -> None:
    print(json.dumps({"seconds": seconds, "rows": rows, "rss": peak_rss_mb(), "floor": floor}))
    sys.stdout.flush()
    # pyarrow's threads that called into fsspec can abort interpreter shutdown ("terminate
    # called without an active exception", apache/arrow#39162, #34314), seen after the
    # scanner sides: the measurement is printed, so leave without the shutdown
    os._exit(0)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (s), from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_child(
    side: str, store: dict[str, Any], pause: float, readers: int, server: Server
) -> dict[str, Any]:
    """Run one side in a fresh process; adds ``server_cpu``, the emulator's CPU seconds."""
    assert server.proc is not None
    before = _cpu_seconds(server.proc.pid)
    cmd = [sys.executable, __file__, "--child", side, "--store-config", json.dumps(store)]
    cmd += ["--pause", str(pause), "--readers", str(readers), "--ref", str(REF)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{side} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["server_cpu"] = _cpu_seconds(server.proc.pid) - before
    return result


def bench_store(kind: str, store: dict[str, Any], server: Server, args: argparse.Namespace) -> None:
    import skyfabric

    fab = skyfabric.connect({"stores": {"bench": store}})
    total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.files):
            path = Path(tmp) / f"part-{i:04d}.parquet"
            make_file(path, i, args.rows)
            total += path.stat().st_size
            fab.fs.put_file(str(path), f"fabric://bench/{PREFIX}{path.name}")
    print(
        f"\n== {kind} emulator: {args.files} files, {total / 2**20:.0f} MiB, "
        f"{args.files * args.rows:,} rows; best time / median peak RSS of {args.repeat} runs"
    )
    readers = [int(r) for r in args.readers.split(",") if r] or [0]
    sides = [(s, r) for s in args.sides.split(",") for r in (readers if s in BEFORE else [0])]
    runs: dict[tuple[str, int, float], list[dict[str, Any]]] = {}
    for _ in range(args.repeat):  # interleaved: load from elsewhere hits every side
        for side, r in sides:
            for pause in (args.pause, 0.0):
                if side.startswith("check") and pause:
                    continue  # a check's consumer is the check itself
                runs.setdefault((side, r, pause), []).append(
                    run_child(side, store, pause, r, server)
                )
    fast = {k[0]: min(d["seconds"] for d in v) for k, v in runs.items() if k[1:] == (0, 0.0)}
    print(
        f"{'side':<18}{'consumer':<10}{'time s':>8}{'/before':>9}{'peak RSS MB':>13}"
        f"{'floor MB':>10}{'server CPU s':>14}"
    )
    for (side, r, pause), rs in runs.items():
        name = f"{side} r={r}" if r else side
        kind_ = f"pause {pause:g}s" if pause else "fast"
        best = min(d["seconds"] for d in rs)
        ref = fast.get(BEFORE.get(side, ""))
        ratio = f"{best / ref:8.2f}x" if ref and not pause else f"{'':9}"
        each = ", ".join(f"{d['rss']:.0f}" for d in rs)
        print(
            f"{name:<18}{kind_:<10}{best:8.2f}{ratio}"
            f"{statistics.median(d['rss'] for d in rs):13.0f}"
            f"{statistics.median(d['floor'] for d in rs):10.0f}"
            f"{statistics.median(d['server_cpu'] for d in rs):14.2f}   (RSS of the runs: {each})"
        )


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--stores", default="s3,gcs", help="emulators to use: s3, gcs")
    p.add_argument("--files", type=int, default=4)
    p.add_argument("--rows", type=int, default=2_000_000, help="rows per file")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--pause", type=float, default=1.0, help="slow consumer's pause (s)")
    p.add_argument("--readers", default="", help="REMOTE_READERS values to try, e.g. 1,2,3")
    p.add_argument("--sides", default=",".join(SIDES))
    p.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    p.add_argument("--store-config", help=argparse.SUPPRESS)
    p.add_argument("--ref", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        args.readers = int(args.readers or 0)
        child(args)
        return
    isolate_environment()
    import pyarrow as pa

    print(f"python {sys.version.split()[0]}, pyarrow {pa.__version__}, {os.cpu_count()} CPUs")
    kinds = [k for k in args.stores.split(",") if k]
    log_dir = Path(tempfile.mkdtemp(prefix="skyfabric-bench-servers-"))
    servers = _Servers(
        MotoServer(log_dir, label="moto-s3") if "s3" in kinds else None,
        FakeGCSServer(log_dir) if "gcs" in kinds else None,
    )
    started = [s for s in (servers.s3, servers.gcs) if s is not None]
    start_all(started)
    make_file(REF, 1_000, 200_000)
    try:
        for kind in kinds:
            store = make_store_config(kind, servers, local_root=log_dir)  # type: ignore[arg-type]
            server = servers.s3 if kind == "s3" else servers.gcs
            assert server is not None
            bench_store(kind, store, server, args)
    finally:
        stop_all(started)
        REF.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
