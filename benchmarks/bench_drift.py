"""Drift benchmarks: skyfabric vs its peers, in one run, printing ratios.

Usage::

    python benchmarks/bench_drift.py [--values 10000000] [--size-gb 1.0] [--dir DIR]
                                     [--repeat 3] [--skip-e2e] [--skip-evidently] [--keep]

1. **Histogram kernel** on ``--values`` float64 values (default 10M, standard normal) with 10
   quantile bins: skyfabric ``histogram()`` vs ``numpy.histogram(values, bins=edges)``
   (target >= 3x faster), vs ``boost_histogram`` with a ``Variable`` axis (target >= 8x), vs
   ``values.sum()``, the memory-bandwidth floor (target: within 4x). Best of several runs.
2. **End to end**: synthetic parquet of ``--size-gb`` on disk (6 float64 columns with nulls,
   1 int64, 1 dictionary string) written to a temp dir; a drift check over it vs pyarrow only
   reading the same columns with the same batch size (target <= 1.25x), two ways: with
   pyarrow's default readahead, and with the scan the check itself does. Each run is a fresh
   subprocess, so its peak RSS (``VmHWM``, which includes the interpreter and libraries) is
   its own; the check runs both cold (numba's one-time set-up included) and warm; at half and
   full size to show memory stays flat (target <= 400 MB).
3. **evidently** (if installed): its ``DataDriftPreset(method="psi")`` vs skyfabric
   ``fit_baseline`` + ``check`` on the same in-memory columns (target >= 20x).

Wall times are machine-dependent; tests never assert on them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

FLOATS = [f"f{i}" for i in range(6)]
COLUMNS = [*FLOATS, "i0", "cat"]
ROWS_PER_FILE = 2_000_000
BATCH_SIZE = 131_072  # skyfabric's DEFAULT_BATCH_SIZE, passed to both sides explicitly
CATS = np.array([f"carrier_{i:02d}" for i in range(20)])


def best(fn: Callable[[], Any], repeat: int) -> float:
    """Best wall time of ``repeat`` calls (s)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (MiB).

    Linux: ``VmHWM`` of /proc/self/status, which starts afresh at ``exec``; ``ru_maxrss``
    does not (a child forked from a big parent inherits the parent's peak).
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- 1. kernel ---------------------------------------------------------------------------------


def row(label: str, secs: float, note: str = "") -> None:
    print(f"{label:<26}{secs * 1e3:8.1f} ms   {note}")


def bench_kernel(n: int) -> None:
    from skyfabric.drift import Baseline, histogram

    rng = np.random.default_rng(42)
    values = rng.standard_normal(n)
    arr = pa.array(values)
    base = Baseline.fit(pa.table({"x": values[: min(n, 1_000_000)]}), ["x"], bins=10)
    template = base.templates()["x"]
    finite = np.asarray(template.edges[1:-1], dtype=np.float64)
    edges = np.concatenate([[values.min()], finite, [values.max()]])
    histogram(arr, template)  # compile / warm up
    t_sky = best(lambda: histogram(arr, template), 15)
    t_np = best(lambda: np.histogram(values, bins=edges), 3)
    t_sum = best(values.sum, 15)
    print(f"\n== histogram of {n:,} float64 values, 10 quantile bins (best of runs)")
    row("skyfabric histogram", t_sky)
    row("numpy.histogram", t_np, f"skyfabric is {t_np / t_sky:5.1f}x faster  (target >= 3x)")
    try:
        import boost_histogram as bh

        def boost() -> None:
            h = bh.Histogram(bh.axis.Variable(edges))
            h.fill(values)

        t_bh = best(boost, 3)
        row(
            "boost_histogram Variable",
            t_bh,
            f"skyfabric is {t_bh / t_sky:5.1f}x faster  (target >= 8x)",
        )
    except ImportError:
        print("boost_histogram          not installed (pip install boost-histogram): skipped")
    row(
        "values.sum() (floor)",
        t_sum,
        f"skyfabric takes {t_sky / t_sum:5.1f}x the floor  (target within 4x)",
    )
    h = histogram(arr, template)
    np_counts = np.histogram(values, bins=edges)[0]
    same = np.array_equal(h.counts[1:-1], np_counts[1:-1])
    print(f"counts agree with numpy on interior bins: {same}")


# -- 2. end to end -------------------------------------------------------------------------------


def make_file(path: Path, seed: int, rows: int) -> None:
    """One ~100 MB parquet file of synthetic feature columns (1% nulls in the floats)."""
    rng = np.random.default_rng(seed)
    cols: dict[str, pa.Array] = {}
    for i, name in enumerate(FLOATS):
        v = rng.standard_normal(rows) * (i + 1) + i if i % 2 == 0 else rng.lognormal(0, 1, rows)
        mask = rng.random(rows) < 0.01
        cols[name] = pa.array(v, mask=mask)
    cols["i0"] = pa.array(rng.integers(0, 1_000, rows))
    idx = np.minimum(rng.geometric(0.2, rows) - 1, len(CATS) - 1).astype(np.int32)
    cols["cat"] = pa.DictionaryArray.from_arrays(pa.array(idx), pa.array(CATS))
    pq.write_table(pa.table(cols), path, row_group_size=256 * 1024, compression="snappy")


def make_data(root: Path, size_gb: float) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    total = 0
    t = time.perf_counter()
    while total < size_gb * 2**30:
        path = root / f"part-{len(files):04d}.parquet"
        if not path.exists():
            make_file(path, len(files), ROWS_PER_FILE)
        files.append(path)
        total += path.stat().st_size
    took = time.perf_counter() - t
    print(f"data: {len(files)} files, {total / 2**30:.2f} GiB in {root} ({took:.0f} s)")
    return files


def _load_scan_module() -> Any:
    """``skyfabric/drift/_scan.py`` loaded on its own: pyarrow only, no skyfabric, no numba.

    The "same scan" peer runs the very code the check reads with, without paying (in time
    or RSS) for anything else skyfabric imports.
    """
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "src" / "skyfabric" / "drift" / "_scan.py"
    if not path.exists():  # an installed skyfabric: find the file without importing it
        spec = importlib.util.find_spec("skyfabric")
        assert spec is not None and spec.origin is not None
        path = Path(spec.origin).parent / "drift" / "_scan.py"
    spec = importlib.util.spec_from_file_location("skyfabric_bench_scan", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def child(args: argparse.Namespace) -> None:
    """Run one side in this (fresh) process; print its time and peak RSS as JSON.

    Every import happens before the clock starts, on both sides; ``import_s`` reports the
    check's own imports (skyfabric.drift with numba) for the record.
    """
    files = sorted(Path(args.dir).glob("part-*.parquet"))[: args.files]
    out: dict[str, Any] = {}
    if args.child in ("read", "read-same"):
        scan = _load_scan_module() if args.child == "read-same" else None
        cpu = time.process_time()
        t = time.perf_counter()
        ds = _dataset(files)
        if scan is not None:  # the scan skyfabric's check does (sources.py -> _scan.py)
            batches = scan.scan_batches(ds, COLUMNS, BATCH_SIZE)
        else:  # pyarrow's defaults
            batches = ds.to_batches(columns=COLUMNS, batch_size=BATCH_SIZE, use_threads=True)
        rows = 0
        for batch in batches:
            rows += batch.num_rows
        out["seconds"] = time.perf_counter() - t
        out["cpu_s"] = time.process_time() - cpu
    else:
        t = time.perf_counter()
        # check() reads its [drift] defaults through skyfabric.config (pydantic): imported
        # here, like every other import, not inside the clock
        import skyfabric.config  # noqa: F401
        from skyfabric.drift import check, load_baseline

        out["import_s"] = time.perf_counter() - t
        base = load_baseline(str(Path(args.dir) / "baseline.json"))
        if args.child == "check-warm":
            # every once-per-process cost of a check (numba's set-up, the kernels from its
            # on-disk cache, the config) paid by a check of no rows with the files' schema,
            # so that the timed part is the steady-state scan and count; no data is read, so
            # pyarrow's memory pool stays as cold as the other sides'
            check(base, pq.read_schema(files[0]).empty_table())
            out["floor_rss_mb"] = peak_rss_mb()
        cpu = time.process_time()
        t = time.perf_counter()
        result = check(base, _dataset(files), batch_size=BATCH_SIZE)
        out["seconds"] = time.perf_counter() - t
        out["cpu_s"] = time.process_time() - cpu
        rows = result.rows
    out.update(rows=rows, peak_rss_mb=peak_rss_mb())
    print(json.dumps(out))


def _dataset(files: list[Path]) -> pads.Dataset:
    return pads.dataset([str(f) for f in files], format="parquet")


def run_child(side: str, root: Path, nfiles: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", side, "--dir", str(root), "--files", str(nfiles)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


SIDES = ("read", "read-same", "check", "check-warm")


def bench_e2e(root: Path, size_gb: float, repeat: int) -> None:
    from skyfabric.drift import fit_baseline, save_baseline

    files = make_data(root, size_gb)
    base = fit_baseline(pq.read_table(files[0], columns=COLUMNS), COLUMNS, bins=10)
    save_baseline(base, str(root / "baseline.json"))
    print(
        f"\n== drift check vs pyarrow only reading columns {','.join(COLUMNS)} in batches of "
        f"{BATCH_SIZE:,} rows;\n   every run in its own fresh process, imports before the clock; "
        f"best of {repeat} (runs interleaved)"
    )
    print(
        "   read = pyarrow dataset scan with pyarrow's defaults (readahead 4 files, 16 batches)\n"
        "   same = pyarrow doing the scan the check does (skyfabric/drift/_scan.py loaded alone:\n"
        "          local parquet row group by row group, memory-mapped, two at once, 2 batches\n"
        "          queued each)\n"
        "   cold = drift check in a fresh process, incl. numba's one-time set-up and kernel load\n"
        "   warm = drift check after a first check of no rows (numba's set-up, kernel load,\n"
        "          config: steady state)\n"
        "   RSS  = peak VmHWM of the process (interpreter and libraries included); floor = the\n"
        "          warm process after imports + kernel load, before the scan"
    )
    print(
        f"{'size':>8} {'rows':>11} {'read':>6} {'same':>6} {'cold':>6} {'warm':>6}"
        f" {'cold/read':>9} {'cold/same':>9} {'warm/read':>9} {'warm/same':>9}"
        "  peak RSS MB: read same cold warm(floor)"
    )
    half = max(1, len(files) // 2)
    for nfiles in sorted({half, len(files)}):
        gb = sum(f.stat().st_size for f in files[:nfiles]) / 2**30
        run_child("read", root, nfiles)  # warm the page cache
        runs: dict[str, list[dict[str, Any]]] = {s: [] for s in SIDES}
        for _ in range(repeat):  # interleaved, so that load from elsewhere hits every side
            for side in SIDES:
                runs[side].append(run_child(side, root, nfiles))
        r, rs, c, w = (min(runs[s], key=lambda d: d["seconds"]) for s in SIDES)
        rss = {s: min(d["peak_rss_mb"] for d in runs[s]) for s in SIDES}
        rss_max = {s: max(d["peak_rss_mb"] for d in runs[s]) for s in SIDES}
        print(
            f"{gb:5.2f}GiB {c['rows']:11,} {r['seconds']:5.2f}s {rs['seconds']:5.2f}s"
            f" {c['seconds']:5.2f}s {w['seconds']:5.2f}s"
            f" {c['seconds'] / r['seconds']:8.2f}x {c['seconds'] / rs['seconds']:8.2f}x"
            f" {w['seconds'] / r['seconds']:8.2f}x {w['seconds'] / rs['seconds']:8.2f}x"
            f"  {rss['read']:6.0f} {rss['read-same']:4.0f} {rss['check']:4.0f}"
            f" {rss['check-warm']:4.0f}({w['floor_rss_mb']:.0f})"
        )
        print(
            f"{'':>21}highest peak RSS of the {repeat} runs: read {rss_max['read']:.0f}, same "
            f"{rss_max['read-same']:.0f}, cold {rss_max['check']:.0f}, warm "
            f"{rss_max['check-warm']:.0f} MB; skyfabric.drift import {c['import_s']:.2f} s"
        )
        cpu = {s: sorted(d["cpu_s"] for d in runs[s])[len(runs[s]) // 2] for s in SIDES}
        print(
            f"{'':>21}CPU seconds (median, all threads): read {cpu['read']:.2f}, same "
            f"{cpu['read-same']:.2f}, cold {cpu['check']:.2f}, warm {cpu['check-warm']:.2f}; "
            f"warm/same {cpu['check-warm'] / cpu['read-same']:.2f}x: the check's extra work"
            f"\n{'':>21}(counting), which no overlap can hide once pyarrow keeps all "
            f"{os.cpu_count()} CPUs decoding"
        )
    print(
        "targets: check <= 1.25x the pyarrow read; check peak RSS <= 400 MB and flat as the "
        "data doubles"
    )


# -- 3. evidently ---------------------------------------------------------------------------------


def _import_evidently() -> Any:
    try:
        import pandas.core.dtypes.common as pdc

        if not hasattr(pdc, "infer_dtype_from_object"):
            # evidently 0.7 imports a pandas helper removed in pandas 3; give it back.
            pdc.infer_dtype_from_object = lambda dtype: np.dtype(dtype).type  # type: ignore[attr-defined]
            print("note: shimmed pandas.core.dtypes.common.infer_dtype_from_object for evidently")
        import evidently
        from evidently import Report
        from evidently.presets import DataDriftPreset
    except ImportError as exc:
        print(f"evidently not importable ({exc}); skipped. pip install evidently to compare")
        return None
    return evidently, Report, DataDriftPreset


def bench_evidently(root: Path, rows: int) -> None:
    mods = _import_evidently()
    if mods is None:
        return
    evidently, Report, DataDriftPreset = mods
    from skyfabric.drift import check, fit_baseline

    files = sorted(root.glob("part-*.parquet"))
    ref_t = pq.read_table(files[0], columns=COLUMNS).slice(0, rows)
    cur_t = pq.read_table(files[1 if len(files) > 1 else 0], columns=COLUMNS).slice(0, rows)
    ref_df = ref_t.to_pandas()
    cur_df = cur_t.to_pandas()
    ref_df["cat"] = ref_df["cat"].astype(str)
    cur_df["cat"] = cur_df["cat"].astype(str)

    def ev() -> Any:
        report = Report([DataDriftPreset(method="psi")])
        return report.run(current_data=cur_df, reference_data=ref_df)

    def sky() -> Any:
        return check(fit_baseline(ref_t, COLUMNS, bins=10), cur_t)

    sky()
    t_sky = best(sky, 3)
    t_ev = best(ev, 1)
    print(f"\n== PSI on {rows:,} vs {rows:,} rows, {len(COLUMNS)} columns, in memory")
    print(f"evidently {evidently.__version__} DataDriftPreset(psi) {t_ev:8.2f} s")
    print(
        f"skyfabric fit_baseline + check      {t_sky:8.2f} s   "
        f"skyfabric is {t_ev / t_sky:5.1f}x faster  (target >= 20x)"
    )


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--values", type=int, default=10_000_000, help="values for the kernel benchmark")
    p.add_argument("--size-gb", type=float, default=1.0, help="parquet size for end to end (GB)")
    p.add_argument(
        "--evidently-rows", type=int, default=1_000_000, help="rows per side for evidently"
    )
    p.add_argument("--dir", help="data directory (default: a temp dir, removed unless --keep)")
    p.add_argument("--keep", action="store_true", help="keep the generated data")
    p.add_argument("--skip-e2e", action="store_true")
    p.add_argument("--skip-evidently", action="store_true")
    p.add_argument("--repeat", type=int, default=3, help="end-to-end runs per side (best kept)")
    p.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    p.add_argument("--files", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, pyarrow {pa.__version__}, "
        f"numpy {np.__version__}"
    )
    bench_kernel(args.values)
    if args.skip_e2e and args.skip_evidently:
        return
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="skyfabric-bench-"))
    try:
        if not args.skip_e2e:
            bench_e2e(root, args.size_gb, args.repeat)
        else:
            make_data(root, min(args.size_gb, 0.2))
        if not args.skip_evidently:
            bench_evidently(root, args.evidently_rows)
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
