"""Reads through ``fabric://`` feed ``not_accessed_for``: the access log on the real servers."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from placement_data import DAY

import skyfabric
from skyfabric.storage import placement_state
from skyfabric.storage.placement_state import flush_access

pytestmark = pytest.mark.xdist_group("servers")


def _parquet() -> bytes:
    buf = io.BytesIO()
    pd.DataFrame({"x": [1, 2]}).to_parquet(buf)
    return buf.getvalue()


def _config(stores: dict[str, dict], state: Path, rules: list[dict]) -> dict[str, Any]:
    return {"stores": stores, "placement": {"state_dir": str(state), "rules": rules}}


IDLE = {
    "name": "idle",
    "match": "fabric://hot/t/**",
    "not_accessed_for": "30d",
    "target": "cold",
}


def _logged(state: Path) -> list[dict[str, Any]]:
    flush_access()
    path = state / "access.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("kind", ["s3", "gcs", "azure"])
def test_a_read_keeps_an_object_from_not_accessed_for(
    kind: str, make_bucket, tmp_path: Path
) -> None:
    config = _config({"hot": make_bucket(kind), "cold": make_bucket("local")}, tmp_path, [IDLE])
    fab = skyfabric.connect(config)
    fab.fs.pipe_file("fabric://hot/t/a.parquet", _parquet())
    fab.fs.pipe_file("fabric://hot/t/b.bin", b"b")
    fab.fs.pipe_file("fabric://hot/t/c.bin", b"c")
    time.sleep(1.1)  # stores stamp LastModified to the second: reads come strictly later
    read_at = time.time()
    # "now" 30 days after the reads: every object was last written more than 30 days before
    now = read_at + 30 * DAY
    placement = fab.placement
    assert {m.src for m in placement.plan(now=now).moves} == {
        "fabric://hot/t/a.parquet",
        "fabric://hot/t/b.bin",
        "fabric://hot/t/c.bin",
    }
    back = pd.read_parquet("fabric://hot/t/a.parquet", storage_options={"config": config})
    assert back["x"].tolist() == [1, 2]
    with fab.fs.open("fabric://hot/t/b.bin") as f:
        assert f.read() == b"b"
    # ... which were read less than 30 days before it: only c moves
    assert [m.src for m in placement.plan(now=now).moves] == ["fabric://hot/t/c.bin"]
    urls = {r["url"] for r in _logged(tmp_path)}
    assert urls == {"fabric://hot/t/a.parquet", "fabric://hot/t/b.bin"}


def test_once_per_url_per_interval_and_only_covered_stores(make_bucket, tmp_path: Path) -> None:
    stores = {"hot": make_bucket("minio"), "cold": make_bucket("local"), "other": make_bucket("s3")}
    fab = skyfabric.connect(_config(stores, tmp_path, [IDLE]))
    fs = fab.fs
    fs.pipe({"fabric://hot/t/a.bin": b"a", "fabric://hot/u/x.bin": b"x"})
    fs.pipe_file("fabric://other/t/a.bin", b"o")
    for _ in range(5):
        fs.cat_file("fabric://hot/t/a.bin")
        fs.open("fabric://hot/t/a.bin").read()
        fs.cat(["fabric://hot/t/a.bin", "fabric://hot/u/x.bin", "fabric://other/t/a.bin"])
        fs.cat_file("fabric://hot/u/x.bin")  # same store, outside the rule's match
        fs.cat_file("fabric://other/t/a.bin")  # a store no not_accessed_for rule covers
    fs.info("fabric://hot/t/a.bin")  # metadata is not a read
    with fs.open("fabric://hot/t/new.bin", "wb") as f:  # nor is a write
        f.write(b"n")
    assert [r["url"] for r in _logged(tmp_path)] == ["fabric://hot/t/a.bin"]


def test_no_rule_no_log(make_bucket, tmp_path: Path) -> None:
    rule = {**IDLE, "not_accessed_for": None, "older_than": "30d"}
    fab = skyfabric.connect(
        _config({"hot": make_bucket("s3"), "cold": make_bucket("local")}, tmp_path, [rule])
    )
    fab.fs.pipe_file("fabric://hot/t/a.bin", b"a")
    fab.fs.cat_file("fabric://hot/t/a.bin")
    assert fab.fs._watched == {}
    flush_access()
    assert not (tmp_path / "access.jsonl").exists()


def test_reads_from_many_threads(make_bucket, tmp_path: Path) -> None:
    fab = skyfabric.connect(
        _config({"hot": make_bucket("s3"), "cold": make_bucket("local")}, tmp_path, [IDLE])
    )
    fs = fab.fs
    fs.pipe({f"fabric://hot/t/{i:03d}.bin": b"%d" % i for i in range(60)})

    def reader(offset: int) -> None:
        for i in range(60):
            fs.cat_file(f"fabric://hot/t/{(i + offset) % 60:03d}.bin")

    threads = [threading.Thread(target=reader, args=(k * 7,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    urls = [r["url"] for r in _logged(tmp_path)]
    assert sorted(urls) == [f"fabric://hot/t/{i:03d}.bin" for i in range(60)]


def test_background_flush_and_torn_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(placement_state, "FLUSH_SECONDS", 0.05)
    log = tmp_path / "state" / "access.jsonl"
    log.parent.mkdir()
    log.write_text('{"url":"fabric://hot/t/x","ti')  # a crash cut the last line short
    placement_state.record_access(log, "fabric://hot/t/late.bin")
    deadline = time.time() + 10
    while time.time() < deadline and "late.bin" not in log.read_text():
        time.sleep(0.05)  # appended by the background thread, nobody calls flush
    lines = log.read_text().splitlines()
    assert json.loads(lines[-1])["url"] == "fabric://hot/t/late.bin"


def test_read_in_a_fresh_process_is_logged_at_exit(make_bucket, tmp_path: Path) -> None:
    config = _config({"hot": make_bucket("s3"), "cold": make_bucket("local")}, tmp_path, [IDLE])
    fab = skyfabric.connect(config)
    fab.fs.pipe_file("fabric://hot/t/a.bin", b"a")
    child = (
        "import json, sys, skyfabric\n"
        "fab = skyfabric.connect(json.loads(sys.argv[1]))\n"
        "assert fab.fs.cat_file('fabric://hot/t/a.bin') == b'a'\n"
    )
    subprocess.run([sys.executable, "-c", child, json.dumps(config)], check=True, timeout=120)
    assert [r["url"] for r in _logged(tmp_path)] == ["fabric://hot/t/a.bin"]
    assert "fabric://hot/t/a.bin" in fab.placement.access.last_access()
