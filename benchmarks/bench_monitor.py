"""Monitoring-loop benchmarks: ``drift monitor`` and ``Capture`` vs their peers, one run, ratios.

Usage::

    python benchmarks/bench_monitor.py [--size-gb 1.0] [--dir DIR] [--keep]
                                       [--calls 1000000] [--skip-monitor] [--skip-capture]

1. **Monitor.** Synthetic parquet of ``--size-gb`` on disk, hive-partitioned into 12 months
   (``month=1/`` .. ``month=12/``; 6 float64 columns with nulls, 1 int64, 1 dictionary
   string, 1 timestamp ``ts``, unsorted within a month). A baseline is fitted on months 1-3.
   Timed, each side its own process (interpreter and imports included):

   - ``skyfabric drift monitor DIR --by month`` (one process, 12 windows) vs 12 separate
     ``skyfabric drift check`` processes, one per partition (target: >= 3x faster);
   - in this process, warm: ``drift.monitor(by="month")`` vs one pyarrow read of the whole
     source (the same columns, the same batch size; target <= 1.3x);
   - the design choice for time windows: ``drift.monitor(every="1mo", time_column="ts")``
     (one scan, each batch split by window) vs one ``drift.check`` per window over
     ``dataset.filter(ts in window)`` (a filtered scan per window).

2. **Capture.** ``--calls`` single-row ``Capture.log({...})`` calls (5 fields) in a loop vs
   the same loop calling a no-op: amortised cost per row (target < 5 us, writes of the
   background thread included: the clock stops after ``close()``), p99 of the added latency
   per call (target < 1 ms), and peak RSS of a process capturing with two buffer settings
   vs one that does not capture (memory bounded by the buffer setting, not by the calls).

Wall times depend on the machine and its load (the machine's load average is printed);
tests never assert on them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

FLOATS = [f"f{i}" for i in range(6)]
COLUMNS = [*FLOATS, "i0", "cat"]
BATCH = 131_072
CATS = np.array([f"carrier_{i:02d}" for i in range(20)])


def peak_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def write_data(root: Path, size_gb: float) -> int:
    """12 month partitions of about ``size_gb / 12`` GB each; returns rows written."""
    rng = np.random.default_rng(1)
    bytes_per_row = 65  # on disk after compression, measured (~0.88 GB at 74)
    rows_per_month = int(size_gb * 1e9 / 12 / bytes_per_row)
    chunk = 1_000_000
    total = 0
    for month in range(1, 13):
        folder = root / f"month={month}"
        folder.mkdir(parents=True, exist_ok=True)
        start = np.datetime64(f"2026-{month:02d}-01T00:00:00", "s").astype(np.int64)
        end = np.datetime64(f"2026-{month + 1:02d}-01T00:00:00" if month < 12 else "2027-01-01T00:00:00", "s").astype(np.int64)
        with pq.ParquetWriter(folder / "part-0.parquet", schema=_schema()) as w:
            left = rows_per_month
            while left:
                n = min(chunk, left)
                shift = 0.03 * month
                cols = {}
                for i, name in enumerate(FLOATS):
                    v = rng.normal(shift * (i + 1), 1.0, n)
                    mask = rng.random(n) < 0.02
                    cols[name] = pa.array(v, mask=mask)
                cols["i0"] = pa.array(rng.integers(0, 1000, n))
                idx = rng.integers(0, len(CATS), n).astype(np.int32)
                cols["cat"] = pa.DictionaryArray.from_arrays(pa.array(idx), pa.array(CATS))
                ts = rng.integers(start, end, n).astype("datetime64[s]")
                cols["ts"] = pa.array(ts.astype("datetime64[us]"))
                w.write_table(pa.table(cols, schema=_schema()), row_group_size=256_000)
                left -= n
                total += n
    return total


def _schema() -> pa.Schema:
    return pa.schema(
        [*(pa.field(f, pa.float64()) for f in FLOATS), pa.field("i0", pa.int64()),
         pa.field("cat", pa.dictionary(pa.int32(), pa.string())), pa.field("ts", pa.timestamp("us"))]
    )


def cli(*args: str) -> float:
    """Wall time of one ``python -m skyfabric ...`` process (s)."""
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "skyfabric", *args], capture_output=True, text=True)
    if out.returncode not in (0, 3, 4):
        raise SystemExit(f"skyfabric {' '.join(args)} failed ({out.returncode}): {out.stderr[-2000:]}")
    return time.perf_counter() - t


def _processes(data: Path, base_url: str, root: Path, repeat: int) -> None:
    mon = min(cli("drift", "monitor", str(data), "--baseline", base_url, "--by", "month",
                  "--no-history", "--fail-on", "never", "--json-out", str(root / "m.json"))
              for _ in range(repeat))
    checks = min(sum(cli("drift", "check", "--baseline", base_url, f"{data}/month={m}/",
                         "--fail-on", "never") for m in range(1, 13)) for _ in range(repeat))
    print(f"monitor, 1 process, 12 windows: {mon:7.2f} s")
    print(f"drift check, 12 processes:      {checks:7.2f} s")
    print(f"  ratio (12 checks / monitor): {checks / mon:.2f}x   (target >= 3x)")


def bench_monitor(root: Path, size_gb: float, repeat: int, skip_processes: bool = False) -> None:
    from skyfabric import drift

    data = root / "source"
    if not data.exists():
        t = time.perf_counter()
        rows = write_data(data, size_gb)
        print(f"wrote {rows:,} rows in {time.perf_counter() - t:.0f} s")
    on_disk = sum(p.stat().st_size for p in data.rglob("*.parquet")) / 1e9
    print(f"source: {data} ({on_disk:.2f} GB on disk, 12 partitions)")
    base_url = str(root / "baseline.json")
    base = drift.fit_baseline(f"{data}/month=[1-3]/", COLUMNS)
    drift.save_baseline(base, base_url)

    # 1a. one monitor process vs 12 check processes
    if not skip_processes:
        _processes(data, base_url, root, repeat)

    # 1b. in process, warm: monitor vs one pyarrow read of the whole source
    drift.monitor(str(data), base, by="month", history=None)  # numba's set-up, page cache

    def pyarrow_read() -> None:
        ds = pads.dataset(str(data), partitioning="hive")
        for _ in ds.to_batches(columns=COLUMNS, batch_size=BATCH):
            pass

    def best(fn) -> float:
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    t_mon = best(lambda: drift.monitor(str(data), base, by="month", history=None))
    t_read = best(pyarrow_read)
    print(f"monitor in process (warm):      {t_mon:7.2f} s")
    print(f"pyarrow read of the source:     {t_read:7.2f} s")
    print(f"  ratio (monitor / read): {t_mon / t_read:.2f}x   (target <= 1.3x)")

    # 1c. time windows (weekly: 53 windows, several per monthly file): one scan split by
    # window vs a filtered scan per window (row-group statistics prune what they can)
    one = drift.monitor(str(data), base, every="1w", time_column="ts", history=None).windows

    def one_scan() -> list:
        return drift.monitor(str(data), base, every="1w", time_column="ts", history=None).windows

    def scan_per_window() -> list:
        ds = pads.dataset(str(data), partitioning="hive")
        out = []
        for w in one:
            lo = pa.scalar(w.start.replace(tzinfo=None), pa.timestamp("us"))
            hi = pa.scalar(w.end.replace(tzinfo=None), pa.timestamp("us"))
            out.append(drift.check(base, ds.filter((pads.field("ts") >= lo) & (pads.field("ts") < hi))))
        return out

    t_one = best(one_scan)
    t_per = best(scan_per_window)
    rows_per = sum(r.rows for r in scan_per_window())
    print(f"{len(one)} weekly windows, one scan:      {t_one:7.2f} s ({sum(w.rows for w in one):,} rows)")
    print(f"{len(one)} weekly windows, scan per window: {t_per:7.2f} s ({rows_per:,} rows)")
    print(f"  ratio (per window / one scan): {t_per / t_one:.2f}x   (the monitor does one scan)")


CAPTURE_CHILD = """
import json, sys, time
from skyfabric.capture import Capture
calls, max_rows, url = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
row = {"user": 1, "amount": 2.5, "plan": "pro", "ok": True, "score": 0.25}
def status():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) / 1024 for l in fh if l.startswith("VmHWM:"))
if max_rows:
    cap = Capture(url, max_rows=max_rows, max_age=3600)
    for i in range(calls):
        row["user"] = i
        cap.log(dict(row))
    cap.close()
else:
    for i in range(calls):
        row["user"] = i
        dict(row)
print(json.dumps({"peak_mb": status()}))
"""


def bench_capture(root: Path, calls: int) -> None:
    from skyfabric.capture import Capture

    def noop(row: dict) -> None:
        pass

    rows = [{"user": i, "amount": i * 0.5, "plan": "pro", "ok": True, "score": 0.25}
            for i in range(calls)]
    clock = time.perf_counter_ns
    lat_none = np.empty(calls, dtype=np.int64)
    t = time.perf_counter()
    for i, r in enumerate(rows):
        a = clock()
        noop(r)
        lat_none[i] = clock() - a
    t_none = time.perf_counter() - t

    cap = Capture(str(root / "capture"), max_rows=50_000, max_age=3600)
    lat_log = np.empty(calls, dtype=np.int64)
    log = cap.log
    t = time.perf_counter()
    for i, r in enumerate(rows):
        a = clock()
        log(r)
        lat_log[i] = clock() - a
    cap.close()
    t_log = time.perf_counter() - t
    assert cap.rows_written == calls
    per_row = (t_log - t_none) / calls * 1e6
    p99 = (np.percentile(lat_log, 99) - np.percentile(lat_none, 99)) / 1e3
    # the peer: a hand-written buffer, list.append per call, one pa.Table.from_pylist and
    # pq.write_table at the end (no sampling, no thread, no partitions, unbounded memory)
    t = time.perf_counter()
    kept = []
    lat_naive = np.empty(calls, dtype=np.int64)
    for i, r in enumerate(rows):  # timed per call as the other two loops are
        a = clock()
        kept.append(r)
        lat_naive[i] = clock() - a
    pq.write_table(pa.Table.from_pylist(kept), str(root / "naive.parquet"))
    t_naive = time.perf_counter() - t
    del kept
    print(f"capture: {calls:,} single-row log() calls, {len(cap.files)} files written")
    print(f"  hand-written list + from_pylist + write_table: {t_naive:6.2f} s; "
          f"Capture / it: {t_log / t_naive:.2f}x")
    print(f"  loop without logging: {t_none:6.2f} s; with Capture.log + close: {t_log:6.2f} s")
    print(f"  amortised cost per logged row: {per_row:.2f} us   (target < 5 us)")
    print(f"  p99 added latency per call: {p99:.1f} us = {p99 / 1e3:.3f} ms   (target < 1 ms); "
          f"p50 {np.percentile(lat_log, 50) / 1e3:.1f} us, max {lat_log.max() / 1e6:.1f} ms")

    peaks = {}
    for max_rows in (0, 10_000, 100_000):
        url = str(root / f"capture-mem-{max_rows}")
        out = subprocess.run([sys.executable, "-c", CAPTURE_CHILD, str(calls), str(max_rows), url],
                             capture_output=True, text=True, check=True)
        peaks[max_rows] = json.loads(out.stdout.strip().splitlines()[-1])["peak_mb"]
    print(f"  peak RSS: no capture {peaks[0]:.0f} MB; max_rows=10,000: {peaks[10_000]:.0f} MB; "
          f"max_rows=100,000: {peaks[100_000]:.0f} MB (bounded by the buffer, not the "
          f"{calls:,} calls)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-gb", type=float, default=1.0)
    p.add_argument("--dir", help="data directory (default: a temp dir, removed unless --keep)")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--calls", type=int, default=1_000_000)
    p.add_argument("--skip-monitor", action="store_true")
    p.add_argument("--skip-capture", action="store_true")
    p.add_argument("--skip-processes", action="store_true", help="skip the 12-process comparison")
    args = p.parse_args()
    root = Path(args.dir or tempfile.mkdtemp(prefix="skyfabric-bench-monitor-"))
    root.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SKYFABRIC_DATA_DIR", str(root / "state"))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    try:
        if not args.skip_monitor:
            bench_monitor(root, args.size_gb, args.repeat, args.skip_processes)
        if not args.skip_capture:
            bench_capture(root, args.calls)
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
