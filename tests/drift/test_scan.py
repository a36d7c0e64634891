"""The bounded scan of local parquet (`skyfabric.drift._scan`) and the kernel set-up before it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from skyfabric.drift import Histogram, check, fit_baseline
from skyfabric.drift._scan import _prefetch, scan_batches
from skyfabric.drift.histogram import load_kernels

RNG = np.random.default_rng(3)


def _sorted(t: pa.Table) -> pa.Table:
    """Rows in a canonical order (dictionary columns decoded: they cannot be sort keys)."""
    t = t.combine_chunks()
    for i, f in enumerate(t.schema):
        if pa.types.is_dictionary(f.type):
            t = t.set_column(i, f.name, pc.cast(t[f.name], f.type.value_type))
    return t.sort_by([(name, "ascending") for name in t.column_names])


@pytest.fixture(scope="module")
def hive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two hive partitions, several row groups per file, one file without column ``y``."""
    root = tmp_path_factory.mktemp("hive")
    for month in (1, 2):
        d = root / f"month={month}"
        d.mkdir()
        for k in range(2):
            n = 5_000
            cols = {
                "x": pa.array(RNG.normal(size=n), mask=RNG.random(n) < 0.1),
                "c": pa.array(RNG.choice(["a", "b", "c"], n)).dictionary_encode(),
            }
            if (month, k) != (2, 1):
                cols["y"] = pa.array(RNG.integers(0, 9, n))
            pq.write_table(pa.table(cols), d / f"part-{k}.parquet", row_group_size=1_200)
    return root


def test_row_group_scan_gives_the_rows_of_the_dataset_scan(hive: Path) -> None:
    ds = pads.dataset(
        hive,
        format="parquet",
        partitioning="hive",
        schema=pa.schema(
            [
                ("x", pa.float64()),
                ("c", pa.dictionary(pa.int32(), pa.string())),
                ("y", pa.int64()),
                ("month", pa.int32()),
            ]
        ),
    )
    cols = ["x", "y", "c", "month"]
    for data in (ds, ds.filter(pc.field("month") == 2), ds.filter(pc.field("x") > 0.5)):
        ours = list(scan_batches(data, cols, batch_size=1_000))
        assert ours and all(b.num_rows <= 1_000 for b in ours)
        theirs = data.to_table(columns=cols)
        assert _sorted(pa.Table.from_batches(ours)).equals(_sorted(theirs))
    assert pa.Table.from_batches(list(scan_batches(ds, cols, 1_000)))["y"].null_count == 5_000


def test_counts_identical_to_the_pyarrow_scanner(hive: Path) -> None:
    data = pads.dataset(hive, format="parquet", partitioning="hive")
    base = fit_baseline(data, ["x", "c", "month"])
    ours = check(base, data)
    whole = check(base, data.to_table())  # in memory: Table batches, no dataset scan
    for col in ("x", "c", "month"):
        assert ours[col].current == whole[col].current


def _counting(n: int, produced: list[int]) -> Iterator[pa.RecordBatch]:
    for i in range(n):
        produced.append(i)
        yield pa.record_batch({"i": [i]})


def test_prefetch_stays_a_bounded_number_of_batches_ahead() -> None:
    produced: list[int] = []
    it = _prefetch(_counting(100, produced), depth=3)
    first = next(it)
    time.sleep(0.3)  # a stalled consumer: the producer must stop, not read on
    # queued (3) + the one the producer holds waiting for room (1) + the one consumed (1)
    assert len(produced) <= 5
    rest = [b["i"][0].as_py() for b in it]
    assert [first["i"][0].as_py(), *rest] == list(range(100))


def test_prefetch_reraises_read_errors_and_stops_when_abandoned() -> None:
    def failing() -> Iterator[pa.RecordBatch]:
        yield pa.record_batch({"i": [0]})
        raise OSError("corrupt footer")

    with pytest.raises(OSError, match="corrupt footer"):
        list(_prefetch(failing(), depth=2))
    produced: list[int] = []
    before = threading.active_count()
    it = _prefetch(_counting(1_000, produced), depth=2)
    next(it)
    it.close()  # joins the producer thread
    assert threading.active_count() == before
    assert len(produced) < 1_000


@pytest.mark.parametrize(
    "t",
    [
        pa.float64(),
        pa.float32(),
        pa.int8(),
        pa.uint64(),
        pa.timestamp("us"),
        pa.date32(),
        pa.duration("ms"),
        pa.bool_(),
        pa.string(),
        pa.large_string(),
        pa.dictionary(pa.int16(), pa.string()),
        pa.dictionary(pa.int8(), pa.float64()),
        pa.decimal128(10, 2),
        pa.float16(),
        pa.null(),
        pa.list_(pa.int8()),
    ],
)
def test_load_kernels_takes_any_schema(t: pa.DataType) -> None:
    """Synthetic values of each type, counted into numeric and categorical bins alike; a type
    the bins cannot take is left for the scan to report, never raised here."""
    templates = {
        "a": Histogram.numeric([-np.inf, 0.0, 1.0, np.inf]),
        "b": Histogram.categorical(["x", "0"]),
    }
    load_kernels(templates, pa.schema([("a", t), ("b", t), ("other", pa.int8())]))


def test_a_fresh_check_does_not_import_scipy_linalg(tmp_path: Path) -> None:
    """numba's BLAS probe is answered without loading scipy.linalg (~0.2 s of a cold check),
    with the answer numba itself would have found."""
    code = (
        "import sys, importlib.util, pyarrow as pa\n"
        "from skyfabric.drift import check, fit_baseline\n"
        "t = pa.table({'x': [1.0, 2.0, None] * 100, 'c': ['a', 'b', 'c'] * 100})\n"
        "check(fit_baseline(t), t)\n"
        "import numba.np.arraymath as am\n"
        "print('scipy.linalg' in sys.modules, am._HAVE_BLAS,"
        " importlib.util.find_spec('scipy') is not None)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    loaded, have_blas, scipy_installed = out.stdout.split()
    assert loaded == "False"
    assert have_blas == scipy_installed
    if importlib.util.find_spec("scipy") is not None:  # BLAS still works for numba users
        code = (
            "import skyfabric.drift.kernels, numba, numpy as np\n"
            "f = numba.njit(lambda a: np.dot(a, a))\nprint(f(np.arange(3.0)))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
        )
        assert out.stdout.strip() == "5.0"


def test_parallel_readers_keep_the_dataset_order(hive: Path, monkeypatch) -> None:
    """With several readers, row groups still come out in order (sketches see the same
    sequence on every run), and nothing is lost or repeated."""
    import skyfabric.drift._scan as scan

    ds = pads.dataset(hive, format="parquet", partitioning="hive")
    one = pa.Table.from_batches(list(scan_batches(ds, ["x", "y", "month"], 1_000)))
    for readers in (2, 3):
        monkeypatch.setattr(scan, "READERS", readers)
        many = pa.Table.from_batches(list(scan_batches(ds, ["x", "y", "month"], 1_000, depth=1)))
        assert many.equals(one)


def test_abandoned_scans_stop_every_reader(hive: Path, monkeypatch) -> None:
    import gc

    import skyfabric.drift._scan as scan

    monkeypatch.setattr(scan, "READERS", 3)
    ds = pads.dataset(hive, format="parquet", partitioning="hive")
    before = threading.active_count()
    it = scan_batches(ds, ["x"], 500, depth=1)
    next(it)  # three readers started; only the first one consumed
    it.close()
    assert threading.active_count() == before
    it = scan_batches(ds, ["x"], 500, depth=1)
    next(it)
    del it  # dropped without close()
    gc.collect()
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert threading.active_count() == before


def test_the_benchmark_peer_runs_the_scan_without_skyfabric() -> None:
    """bench_drift.py's "same" peer loads _scan.py alone: pyarrow only, no skyfabric, no
    numba, so its time and memory are pyarrow's own."""
    bench = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_drift.py"
    code = (
        "import runpy, sys\n"
        f"ns = runpy.run_path({str(bench)!r}, run_name='bench')\n"
        "scan = ns['_load_scan_module']()\n"
        "assert callable(scan.scan_batches)\n"
        "print(sorted(m for m in ('skyfabric', 'numba') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
