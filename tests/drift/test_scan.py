"""The bounded scan of parquet (`skyfabric.drift._scan`), local and on object stores (real
emulators on loopback), and the kernel set-up before it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

import skyfabric
import skyfabric.drift._scan as scan
from servers import ServerSet, make_store_config
from skyfabric.drift import Histogram, check, fit_baseline
from skyfabric.drift._scan import _prefetch, scan_batches
from skyfabric.drift.engine import count_file
from skyfabric.drift.histogram import histogram_columns, load_kernels
from skyfabric.drift.sources import open_source

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


def test_memory_mapped_and_read_files_give_the_same_batches(hive: Path, monkeypatch) -> None:
    """`LOCAL_MMAP` changes how local files are read, never what: partition values from
    the paths and a column missing from one file included."""
    ds = pads.dataset(hive, format="parquet", partitioning="hive")
    cols = ["x", "y", "c", "month"]
    mapped = pa.Table.from_batches(list(scan_batches(ds, cols, 1_000)))
    monkeypatch.setattr(scan, "LOCAL_MMAP", False)
    read = pa.Table.from_batches(list(scan_batches(ds, cols, 1_000)))
    assert mapped.equals(read) and mapped.num_rows == 20_000
    assert mapped["month"].unique().to_pylist() == [1, 2] and mapped["y"].null_count == 5_000


def test_batches_are_decoded_into_the_scan_pool(hive: Path, monkeypatch) -> None:
    """The scan decodes into jemalloc where pyarrow has it (steadier peak memory than the
    default mimalloc pool), unless ``ARROW_DEFAULT_MEMORY_POOL`` picked a pool."""
    ds = pads.dataset(hive, format="parquet", partitioning="hive")
    scan.scan_memory_pool.cache_clear()
    try:
        monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
        pool = scan.scan_memory_pool()
        if "jemalloc" not in pa.supported_memory_backends():
            assert pool is None
            return
        assert pool is not None and pool.backend_name == "jemalloc"
        before = pool.bytes_allocated(), pa.default_memory_pool().bytes_allocated()
        batches = list(scan_batches(ds, ["x", "y"], 1_000))  # the row-group scan
        assert pool.bytes_allocated() - before[0] >= sum(b.nbytes for b in batches)
        assert pa.default_memory_pool().bytes_allocated() - before[1] < 4096
        del batches
        scan.scan_memory_pool.cache_clear()
        monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "mimalloc")
        assert scan.scan_memory_pool() is None
    finally:
        scan.scan_memory_pool.cache_clear()


def test_small_row_groups_are_read_together(tmp_path: Path, monkeypatch) -> None:
    """Consecutive small row groups make one piece of at least the batch size (a scan set-up
    per ten-row group made such files several times slower); a large row group stays a
    piece of its own; rows come out complete and in order."""
    path = tmp_path / "small.parquet"
    sizes = [10] * 25 + [500] + [10] * 5
    with pq.ParquetWriter(path, pa.schema([("x", pa.int64())])) as w:
        for start, n in zip(np.cumsum([0, *sizes[:-1]]), sizes, strict=True):
            w.write_table(pa.table({"x": np.arange(start, start + n)}), row_group_size=n)
    fragment = next(pads.dataset(path, format="parquet").get_fragments())
    pieces = scan._row_group_pieces(fragment, 100)
    ids = [[rg.id for rg in p.row_groups] for p in pieces]
    assert [i for g in ids for i in g] == list(range(31))
    assert ids[:3] == [list(range(10)), list(range(10, 20)), [20, 21, 22, 23, 24, 25]]
    assert ids[3:] == [[26, 27, 28, 29, 30]]  # the tail: fewer rows than asked, no more groups
    read: list[Any] = []
    real = scan._piece_batches

    def piece_batches(piece: Any, *args: Any) -> Iterator[Any]:
        read.append(piece)
        return real(piece, *args)

    monkeypatch.setattr(scan, "_piece_batches", piece_batches)
    data = pads.dataset(path, format="parquet")
    batches = list(scan_batches(data, ["x"], 100))
    assert pa.Table.from_batches(batches)["x"].to_pylist() == list(range(sum(sizes)))
    assert len(read) == 4  # pieces scanned, not 31 row groups
    # pyarrow ends a batch at each row group: those of a piece are joined, never past 100 rows
    assert [b.num_rows for b in batches] == [100, 100, 50, 100, 100, 100, 100, 100, 50]
    no_columns = list(scan_batches(data, [], 100))  # row counts only
    assert sum(b.num_rows for b in no_columns) == sum(sizes)


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


# -- object stores ---------------------------------------------------------------------------

SERVERS = pytest.mark.xdist_group("servers")
HIVE_COLS = ["x", "y", "c", "month"]


def _scan_threads() -> int:
    return sum(t.name == "skyfabric-scan" for t in threading.enumerate())


def _upload(fab: skyfabric.Fabric, root: Path, prefix: str) -> None:
    for path in sorted(root.rglob("*.parquet")):
        fab.fs.put_file(str(path), f"fabric://remote/{prefix}/{path.relative_to(root).as_posix()}")


@pytest.fixture(scope="module", params=["s3", "gcs", "azure", "memory"])
def remote(
    request: pytest.FixtureRequest, servers: ServerSet, local_store_root: Path, hive: Path
) -> skyfabric.Fabric:
    """Store ``remote`` of each non-local kind holding ``hive/`` (4 files, 5 row groups each),
    read through ``PyFileSystem(FSSpecHandler(...))`` like every ``fabric://`` dataset."""
    cfg = make_store_config(request.param, servers, local_root=local_store_root)
    fab = skyfabric.connect({"stores": {"remote": cfg}})
    _upload(fab, hive, "hive")
    return fab


@pytest.fixture(scope="module")
def s3(servers: ServerSet, local_store_root: Path, hive: Path) -> skyfabric.Fabric:
    """The ``hive/`` files on the moto S3 server, store ``remote``."""
    cfg = make_store_config("s3", servers, local_root=local_store_root)
    fab = skyfabric.connect({"stores": {"remote": cfg}})
    _upload(fab, hive, "hive")
    return fab


@SERVERS
def test_remote_scan_gives_pyarrows_rows_in_pyarrows_order(remote: skyfabric.Fabric) -> None:
    data = remote.dataset("fabric://remote/hive/")
    assert not isinstance(data.filesystem, pafs.LocalFileSystem)  # the remote path is taken
    ours = list(scan_batches(data, HIVE_COLS, batch_size=1_000))
    assert ours and all(b.num_rows <= 1_000 for b in ours)
    # same rows, same order: a row group's values, then the next's, file after file
    assert pa.Table.from_batches(ours).equals(data.to_table(columns=HIVE_COLS))
    assert pa.Table.from_batches(ours)["y"].null_count == 5_000  # month=2/part-1 has no y
    assert _scan_threads() == 0


@SERVERS
def test_remote_scan_stops_reading_ahead_of_a_stalled_consumer(
    s3: skyfabric.Fabric, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row groups are requested a bounded number ahead of the consumer, and files' footers
    only when their row groups are due, however long the consumer stalls."""
    plans: list[Any] = []
    requested: list[int] = []
    real_get = scan._LazyRowGroups.get

    def get(self: Any, k: int) -> Any:
        piece = real_get(self, k)
        if piece is not None:
            plans.append(self)
            requested.append(k)
        return piece

    monkeypatch.setattr(scan._LazyRowGroups, "get", get)
    monkeypatch.setattr(scan, "REMOTE_READERS", 2)
    data = s3.dataset("fabric://remote/hive/")  # 20 row groups of 1,200 rows in 4 files
    it = scan_batches(data, ["x"], batch_size=1_200, depth=1)  # a batch per row group
    first = next(it)
    time.sleep(0.5)  # a stalled consumer: the readers must wait, not read on
    # per reader: one row group queued and, for the reader of row group 0 (consumed), the
    # next one held waiting for room
    assert len(requested) <= 2 * 2
    assert len({p.path for p in plans[0]._pieces}) <= 2  # footers of 1-2 of the 4 files
    rest = list(it)
    assert sorted(requested) == list(range(20))
    assert pa.Table.from_batches([first, *rest]).equals(data.to_table(columns=["x"]))


@SERVERS
def test_remote_files_read_exact_ranges_and_their_size_once(
    s3: skyfabric.Fabric, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files open without fsspec's read-ahead (pyarrow pre-buffers the ranges it needs), and
    each file's size is asked once, not at every row group."""
    data = s3.dataset("fabric://remote/hive/")
    fs = data.filesystem.handler.fs  # the store's s3fs client
    sizes: list[str] = []
    opens: list[dict[str, Any]] = []
    real_size, real_open = fs.size, fs.open

    def size(path: str) -> int:
        sizes.append(path)
        return int(real_size(path))

    def open_(path: str, mode: str = "rb", **kwargs: Any) -> Any:
        opens.append(kwargs)
        return real_open(path, mode, **kwargs)

    monkeypatch.setattr(fs, "size", size)
    monkeypatch.setattr(fs, "open", open_)
    assert sum(b.num_rows for b in scan_batches(data, ["x"], 1_000)) == 20_000
    assert sorted(sizes) == sorted(data.files)
    assert len(opens) >= 20 and all(o.get("cache_type") == "none" for o in opens)


@SERVERS
def test_filtered_remote_datasets_keep_pyarrows_scanner(s3: skyfabric.Fabric) -> None:
    data = s3.dataset("fabric://remote/hive/")
    for filtered in (data.filter(pc.field("month") == 2), data.filter(pc.field("x") > 0.5)):
        ours = pa.Table.from_batches(list(scan_batches(filtered, HIVE_COLS, 1_000)))
        assert ours.num_rows > 0
        assert _sorted(ours).equals(_sorted(filtered.to_table(columns=HIVE_COLS)))


@SERVERS
def test_remote_read_errors_reach_the_consumer_and_stop_the_readers(
    make_bucket: Any, hive: Path
) -> None:
    fab = skyfabric.connect({"stores": {"remote": make_bucket("s3")}})
    _upload(fab, hive / "month=1", "t")
    fab.fs.pipe_file("fabric://remote/t/part-2.parquet", b"not parquet at all")
    data = fab.dataset("fabric://remote/t/")
    got: list[pa.RecordBatch] = []
    with pytest.raises(pa.ArrowInvalid, match=r"part-2\.parquet"):
        for batch in scan_batches(data, ["x"], 1_000):
            got.append(batch)
    assert sum(b.num_rows for b in got) == 10_000  # the two good files came first
    assert _scan_threads() == 0
    # whichever reader meets the bad footer, every reader due a later row group gets the
    # error too, so the reader due row group 10 cannot end the scan as if it were complete
    plan = scan._LazyRowGroups(data, 1_000)  # rows per piece: one row group each
    assert plan.get(9) is not None
    for k in (11, 10, 12):
        with pytest.raises(pa.ArrowInvalid, match="magic bytes"):
            plan.get(k)
    fab.fs.rm("fabric://remote/t/part-2.parquet")
    data = fab.dataset("fabric://remote/t/")
    fab.fs.rm("fabric://remote/t/part-1.parquet")  # removed after listing
    with pytest.raises(FileNotFoundError, match=r"part-1\.parquet"):
        list(scan_batches(data, ["x"], 1_000))
    assert _scan_threads() == 0


@SERVERS
def test_dask_file_task_reads_through_the_bounded_scan(
    s3: skyfabric.Fabric, hive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import skyfabric.drift.engine as engine

    calls: list[int] = []

    def spy(data: pads.Dataset, columns: list[str], batch_size: int) -> Iterator[Any]:
        calls.append(1)
        return scan_batches(data, columns, batch_size)

    monkeypatch.setattr(engine, "scan_batches", spy)
    src = open_source("fabric://remote/hive/", fabric=s3)
    base = fit_baseline(pads.dataset(hive, format="parquet", partitioning="hive"), HIVE_COLS)
    templates = base.templates()
    cols = src.present(HIVE_COLS)
    tasks = src.file_tasks()
    parts = [count_file(s3.config, t, cols, templates, batch_size=1_000) for t in tasks]
    assert len(calls) == len(tasks) == 4
    whole = histogram_columns(src.data.to_table(columns=cols), templates)
    for col in cols:
        total = parts[0].histograms[col]
        for p in parts[1:]:
            total = total + p.histograms[col]
        assert (
            np.array_equal(total.counts, whole[col].counts) and total.missing == whole[col].missing
        )


def test_a_read_error_mid_scan_names_the_file(tmp_path: Path) -> None:
    """A file overwritten after its footer was read (a job rewriting it in place): pyarrow's
    "Couldn't deserialize thrift" named no file among the many a scan reads."""
    for name in ("a.parquet", "b.parquet"):
        pq.write_table(pa.table({"x": np.arange(10_000.0)}), tmp_path / name, row_group_size=1_000)
    it = scan_batches(pads.dataset(tmp_path, format="parquet"), ["x"], 1_000, depth=1)
    next(it)  # footers read, the readers started
    with open(tmp_path / "b.parquet", "r+b") as fh:
        fh.write(b"\0" * 4_000)
    with pytest.raises(OSError, match=r"b\.parquet: "):
        list(it)


def test_memory_maps_can_be_turned_off_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every usual spelling of false turns them off (``false``, ``no`` and ``off`` left them
    on); a value that is none of them warns instead of silently meaning "on"."""
    import warnings

    code = "import skyfabric.drift._scan as s; print(s.LOCAL_MMAP)"
    env = {**os.environ, "SKYFABRIC_LOCAL_MMAP": "off"}  # read at import
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "False", out.stderr
    cases = [(v, False) for v in ("0", "false", "FALSE", "no", "Off", " off ")]
    cases += [(v, True) for v in ("1", "true", "Yes", "on", "")]
    for value, expected in cases:
        monkeypatch.setenv("SKYFABRIC_LOCAL_MMAP", value)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert scan._env_flag("SKYFABRIC_LOCAL_MMAP", default=True) is expected, value
    monkeypatch.setenv("SKYFABRIC_LOCAL_MMAP", "disable")
    with pytest.warns(RuntimeWarning, match="'disable' is not understood, so it stays on") as w:
        assert scan._env_flag("SKYFABRIC_LOCAL_MMAP", default=True) is True
    assert "fix: set it to 0, false, no or off" in str(w[0].message)
