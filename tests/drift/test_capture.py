"""``skyfabric.capture.Capture``: sampled, buffered, time-partitioned parquet on real stores."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import skyfabric
from skyfabric.capture import Capture
from skyfabric.drift.sources import open_source
from skyfabric.errors import CaptureError

NAME = re.compile(r"dt=\d{4}-\d{2}-\d{2}/hour=\d{2}/part-\d{8}T\d{6}-.+-\d+-[0-9a-f]{6}-\d{6}\.parquet$")


def read(url: str, fab: Any = None) -> pa.Table:
    return open_source(url, fabric=fab).data.to_table()


@pytest.fixture
def local(make_bucket: Callable[..., dict]) -> Any:
    return skyfabric.connect({"stores": {"lake": make_bucket("local")}})


@pytest.mark.parametrize("kind", ["local", "s3", "azure", "gcs"])
def test_rows_land_partitioned_by_hour_on_every_store(kind: str, make_bucket) -> None:
    fab = skyfabric.connect({"stores": {"lake": make_bucket(kind)}})
    url = "fabric://lake/capture/model-a"
    with Capture(url, fabric=fab) as cap:
        cap.log({"x": 1.5, "plan": "pro"})
        cap.log([{"x": 2.5, "plan": "free"}, {"x": 3.5, "plan": "pro"}])
        cap.log(pd.DataFrame({"x": [4.5], "plan": ["team"]}))
        cap.log(pa.table({"x": [5.5], "plan": ["pro"]}).to_batches()[0])
    assert len(cap.files) == 1 and NAME.search(cap.files[0]), cap.files
    now = datetime.now(UTC)
    assert f"dt={now:%Y-%m-%d}" in cap.files[0]
    data = read(url + "/", fab)
    assert sorted(data["x"].to_pylist()) == [1.5, 2.5, 3.5, 4.5, 5.5]
    assert data.schema.field("captured_at").type == pa.timestamp("us", tz="UTC")
    assert set(data.schema.names) >= {"dt", "hour"}


def test_a_day_partition_and_a_local_folder(tmp_path: Path) -> None:
    with Capture(str(tmp_path / "cap"), partition="day", time_column=None) as cap:
        cap.log({"x": 1})
    (written,) = cap.files
    assert re.search(r"/dt=\d{4}-\d{2}-\d{2}/part-[^/]+\.parquet$", written)
    assert pq.read_table(written).column_names == ["x"]


def test_sampling_keeps_about_the_rate(local) -> None:
    with Capture("fabric://lake/s", sample_rate=0.25, seed=3, fabric=local) as cap:
        kept = sum(cap.log({"i": i}) for i in range(4000))
        kept += cap.log([{"i": i} for i in range(4000)])
        kept += cap.log(pa.table({"i": list(range(4000))}))
    assert 0.2 * 12000 < kept < 0.3 * 12000
    assert cap.rows_written == kept == read("fabric://lake/s/", local).num_rows


def test_flushes_on_size_and_on_age(local) -> None:
    cap = Capture("fabric://lake/size", max_rows=100, fabric=local)
    for i in range(250):
        cap.log({"i": i})
    deadline = time.monotonic() + 30
    while len(cap.files) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(cap.files) == 2 and cap.rows_written == 200  # 50 still buffered
    cap.close()
    assert cap.rows_written == 250 and len(cap.files) == 3

    aged = Capture("fabric://lake/age", max_age=0.3, fabric=local)
    aged.log({"i": 1})
    deadline = time.monotonic() + 30
    while not aged.files and time.monotonic() < deadline:  # nobody calls flush
        time.sleep(0.05)
    assert aged.rows_written == 1
    aged.close()


def test_many_threads_each_row_written_once(local) -> None:
    cap = Capture("fabric://lake/threads", max_rows=700, fabric=local)

    def work(t: int) -> None:
        for i in range(3000):
            cap.log({"t": t, "i": i})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    cap.close()
    data = read("fabric://lake/threads/", local)
    pairs = set(zip(data["t"].to_pylist(), data["i"].to_pylist(), strict=True))
    assert data.num_rows == len(pairs) == 12000


CHILD = """
import os, sys
import skyfabric
from skyfabric.capture import Capture
fab = skyfabric.connect({{"stores": {{"lake": {store!r}}}}})
cap = Capture("fabric://lake/procs", max_rows=300, fabric=fab)
for i in range({rows}):
    cap.log({{"pid": os.getpid(), "i": i}})
{end}
"""


def _child(store: dict, rows: int, end: str) -> subprocess.Popen:
    code = textwrap.dedent(CHILD.format(store=store, rows=rows, end=end))
    return subprocess.Popen([sys.executable, "-c", code])


def test_processes_write_their_own_files_and_a_crash_loses_at_most_the_buffers(
    make_bucket,
) -> None:
    store = make_bucket("local")
    fab = skyfabric.connect({"stores": {"lake": store}})
    ok = [_child(store, 1000, "cap.close()") for _ in range(2)]
    ok.append(_child(store, 500, "# no close(): a normal exit flushes"))
    # dies without closing: only the rows of unwritten buffers may be lost
    crashed = _child(store, 1000, "cap.flush(); [cap.log({'pid': 0, 'i': -1}) for _ in range(250)]; os._exit(3)")
    assert [p.wait(120) for p in ok] == [0, 0, 0] and crashed.wait(120) == 3
    names = [p.rsplit("/", 1)[1] for p in fab.fs.find("fabric://lake/procs")]
    assert names and all(n.startswith("part-") and n.endswith(".parquet") for n in names)
    assert len(set(names)) == len(names)
    data = read("fabric://lake/procs/", fab)  # every file whole: readable
    by_pid = data.group_by("pid").aggregate([("i", "count")]).to_pylist()
    counts = sorted(r["i_count"] for r in by_pid if r["pid"] != 0)
    assert counts == [500, 1000, 1000, 1000]
    assert data.num_rows <= 3500 + 250


def test_new_columns_and_widening_across_flushes(local) -> None:
    with Capture("fabric://lake/evolve", fabric=local) as cap:
        cap.log({"n": 1, "s": "a"})
        cap.flush()
        cap.log({"n": 2.5, "s": "b", "extra": True})
        cap.flush()
        cap.log(pa.table({"n": pa.array([3], pa.int32()), "s": ["c"]}))
    data = read("fabric://lake/evolve/", local).sort_by("captured_at")
    assert data["n"].to_pylist() == [1.0, 2.5, 3.0]
    assert data["extra"].to_pylist() == [None, True, None]
    assert len(cap.files) == 3


def test_a_type_that_cannot_widen_is_refused_clearly(local) -> None:
    cap = Capture("fabric://lake/refuse", fabric=local)
    cap.log(pd.DataFrame({"n": [1, 2]}))
    with pytest.raises(CaptureError, match=r"'n' was int64, now .*string.*nothing of this call"):
        cap.log(pd.DataFrame({"n": ["x"]}))
    cap.log({"n": 3})
    cap.log({"n": "four"})
    with pytest.raises(CaptureError, match=r"1 row\(s\) with column 'n' = str .*refused"):
        cap.flush()
    cap.close()
    assert sorted(read("fabric://lake/refuse/", local)["n"].to_pylist()) == [1, 2, 3]
    with pytest.raises(CaptureError, match="closed"):
        cap.log({"n": 5})
    with pytest.raises(CaptureError, match="takes a dict"):
        Capture("fabric://lake/x", fabric=local).log("n=1")
    with pytest.raises(CaptureError, match="captured_at"):
        Capture("fabric://lake/x", fabric=local).log(pa.table({"captured_at": [1]}))
    with pytest.raises(CaptureError, match="'hour', the name of a partition folder"):
        Capture("fabric://lake/x", fabric=local).log(pd.DataFrame({"hour": [5]}))
    with Capture("fabric://lake/day", partition="day", fabric=local) as day:
        day.log(pd.DataFrame({"hour": [5]}))
    assert read("fabric://lake/day/", local)["hour"].to_pylist() == [5]
    with pytest.raises(CaptureError, match="sample_rate"):
        Capture("fabric://lake/x", sample_rate=0, fabric=local)


def test_a_buffer_of_only_refused_rows_says_why(local) -> None:
    """Found by a new user: when every row of a buffer had a type that cannot widen, the
    writer failed with an IndexError (told as 'check the store') instead of the refusal."""
    cap = Capture("fabric://lake/only-bad", fabric=local)
    cap.log({"n": 1})
    cap.flush()
    cap.log({"n": "oops"})
    with pytest.raises(CaptureError, match=r"1 row\(s\) with column 'n' = str .*refused"):
        cap.flush()
    cap.log({"n": 2})
    cap.close()
    assert sorted(read("fabric://lake/only-bad/", local)["n"].to_pylist()) == [1, 2]


def test_captured_rows_are_monitored_by_their_capture_time(local) -> None:
    from skyfabric import drift

    rows = [{"x": float(i % 10), "site": "oslo" if i % 3 else "lima"} for i in range(3000)]
    base = drift.fit_baseline(pa.Table.from_pylist(rows), ["x", "site"])
    with Capture("fabric://lake/live", fabric=local) as cap:
        for row in rows:
            cap.log(row)
    res = drift.monitor("fabric://lake/live/", base, every="1h", time_column="captured_at",
                        fabric=local, history=None)
    assert sum(w.rows for w in res.windows) == 3000
    assert all(w.status == "stable" for w in res.windows)
    by_dt = drift.monitor("fabric://lake/live/", base, by="dt", fabric=local, history=None)
    assert sum(w.rows for w in by_dt.windows) == 3000
