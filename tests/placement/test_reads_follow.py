"""Reads through ``fabric://`` follow moved objects (the placement location index), on the
real servers: fsspec calls, pandas and pyarrow, chains of moves, a fresh process that never
imports placement, a pickled filesystem. Writes and listings do not redirect."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from placement_data import DAY, later

import skyfabric
from skyfabric.errors import ObjectNotFoundError

pytestmark = pytest.mark.xdist_group("servers")

FRAME = pd.DataFrame({"id": [1, 2, 3], "city": ["Oslo", "Lima", None]})
PAIRS = [
    ("s3", "gcs"),
    ("minio", "azure"),
    ("gcs", "s3"),
    ("azure", "local"),
    ("local", "minio"),
    ("memory", "local"),
]


def _config(stores: dict[str, dict], state: Path, rules: list[dict]) -> dict[str, Any]:
    return {"stores": stores, "placement": {"state_dir": str(state), "rules": rules}}


def _cold_rule(src: str = "hot", dst: str = "cold", name: str = "cold") -> dict[str, Any]:
    return {"name": name, "match": f"fabric://{src}/t/**", "older_than": "30d", "target": dst}


def _parquet_bytes(frame: pd.DataFrame = FRAME) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf)
    return buf.getvalue()


def _move_all(fab: skyfabric.Fabric, now: float) -> None:
    placement = fab.placement
    plan = placement.plan(now=now)
    assert plan.moves, "nothing to move"
    result = placement.apply(plan)
    assert result.ok, result.failed


@pytest.mark.parametrize("src_kind,dst_kind", PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_reads_follow_a_move(src_kind: str, dst_kind: str, make_bucket, tmp_path: Path) -> None:
    config = _config(
        {"hot": make_bucket(src_kind), "cold": make_bucket(dst_kind)}, tmp_path, [_cold_rule()]
    )
    fab = skyfabric.connect(config)
    fs = fab.fs
    table = _parquet_bytes()
    fs.pipe_file("fabric://hot/t/a.parquet", table)
    fs.pipe_file("fabric://hot/t/b.bin", b"0123456789")
    _move_all(fab, later())
    assert sorted(fs.ls("fabric://cold/t", detail=False)) == ["cold/t/a.parquet", "cold/t/b.bin"]
    assert not fs.find("fabric://hot/t")  # listings show moved objects where they are now

    old = "fabric://hot/t/b.bin"
    with fs.open(old, "rb") as f:
        assert f.read() == b"0123456789"
    with fs.open(old, "r") as f:  # text mode opens "rb" underneath
        assert f.read() == "0123456789"
    assert fs.cat_file(old) == b"0123456789"
    assert fs.cat_file(old, start=2, end=5) == b"234"
    assert fs.cat(old) == b"0123456789"
    assert fs.exists(old) and fs.isfile(old) and not fs.isdir(old)
    assert fs.size(old) == 10
    info = fs.info(old)
    assert info["name"] == "hot/t/b.bin" and info["size"] == 10
    assert info["moved_to"] == "fabric://cold/t/b.bin" and info["store"] == "cold"
    assert fs.moved(old) == "fabric://cold/t/b.bin" and fs.moved("fabric://cold/t/b.bin") is None
    local = tmp_path / "b.bin"
    fs.get_file(old, str(local))
    assert local.read_bytes() == b"0123456789"
    fs.cp_file(old, "fabric://hot/t/copy.bin")  # the source followed, the copy where asked
    fs.cp_file(old, "fabric://cold/t/copy.bin")
    assert fs.cat_file("fabric://hot/t/copy.bin") == fs.cat_file("fabric://cold/t/copy.bin")
    assert "moved_to" not in fs.info("fabric://hot/t/copy.bin")

    # pandas and pyarrow, through fsspec, at the old URL
    back = pd.read_parquet("fabric://hot/t/a.parquet", storage_options={"config": config})
    pd.testing.assert_frame_equal(back, FRAME)
    assert pq.read_table("hot/t/a.parquet", filesystem=fs).num_rows == 3

    # many at once: moved, never moved and missing together, under each on_error
    fs.pipe_file("fabric://hot/t/c.bin", b"c")
    many = ["fabric://hot/t/b.bin", "fabric://hot/t/c.bin", "fabric://hot/t/none.bin"]
    got = fs.cat(many, on_error="return")
    assert got["hot/t/b.bin"] == b"0123456789" and got["hot/t/c.bin"] == b"c"
    assert isinstance(got["hot/t/none.bin"], FileNotFoundError)
    assert fs.cat(many, on_error="omit") == {"hot/t/b.bin": b"0123456789", "hot/t/c.bin": b"c"}
    with pytest.raises(FileNotFoundError, match=r"hot/t/none\.bin"):
        fs.cat(many)
    with pytest.raises(ObjectNotFoundError):
        fs.cat_file("fabric://hot/t/none.bin")
    assert not fs.exists("fabric://hot/t/none.bin")


def test_writes_never_redirect(make_bucket, tmp_path: Path) -> None:
    config = _config(
        {"hot": make_bucket("s3"), "cold": make_bucket("gcs")}, tmp_path, [_cold_rule()]
    )
    fab = skyfabric.connect(config)
    fs = fab.fs
    fs.pipe_file("fabric://hot/t/a.bin", b"old")
    _move_all(fab, later())
    with fs.open("fabric://hot/t/a.bin", "wb") as f:
        f.write(b"new")  # a new object at the old URL, in the hot store
    assert fs.cat_file("fabric://hot/t/a.bin") == b"new"  # found there: no redirect
    assert fs.cat_file("fabric://cold/t/a.bin") == b"old"
    assert "moved_to" not in fs.info("fabric://hot/t/a.bin")
    fs.rm_file("fabric://hot/t/a.bin")  # deletes never follow either
    assert fs.cat_file("fabric://cold/t/a.bin") == b"old"
    assert fs.cat_file("fabric://hot/t/a.bin") == b"old"  # and reads follow again


def test_reads_follow_a_chain_of_moves(make_bucket, tmp_path: Path) -> None:
    stores = {"hot": make_bucket("minio"), "warm": make_bucket("azure"), "ice": make_bucket("s3")}
    rules = [
        _cold_rule("hot", "warm", "warm"),
        {"name": "ice", "match": "fabric://warm/t/**", "older_than": "60d", "target": "ice"},
    ]
    fab = skyfabric.connect(_config(stores, tmp_path, rules))
    fab.fs.pipe_file("fabric://hot/t/a.parquet", _parquet_bytes())
    _move_all(fab, later())  # hot -> warm
    _move_all(fab, later() + 30 * DAY)  # warm -> ice
    assert fab.fs.find("fabric://ice/t") and not fab.fs.find("fabric://warm/t")
    assert fab.fs.info("fabric://hot/t/a.parquet")["moved_to"] == "fabric://ice/t/a.parquet"
    assert fab.fs.info("fabric://warm/t/a.parquet")["moved_to"] == "fabric://ice/t/a.parquet"
    back = pd.read_parquet(
        "fabric://hot/t/a.parquet", storage_options={"config": _config(stores, tmp_path, rules)}
    )
    pd.testing.assert_frame_equal(back, FRAME)


def test_moved_object_deleted_at_its_new_place(make_bucket, tmp_path: Path) -> None:
    config = _config(
        {"hot": make_bucket("local"), "cold": make_bucket("minio")}, tmp_path, [_cold_rule()]
    )
    fab = skyfabric.connect(config)
    fab.fs.pipe_file("fabric://hot/t/a.bin", b"a")
    _move_all(fab, later())
    fab.fs.rm_file("fabric://cold/t/a.bin")
    with pytest.raises(ObjectNotFoundError, match=r"moved to fabric://cold/t/a\.bin"):
        fab.fs.cat_file("fabric://hot/t/a.bin")
    with pytest.raises(ObjectNotFoundError, match="moved to"):
        fab.fs.open("fabric://hot/t/a.bin")
    assert not fab.fs.exists("fabric://hot/t/a.bin")


def test_index_of_another_state_dir_is_not_followed(make_bucket, tmp_path: Path) -> None:
    stores = {"hot": make_bucket("local"), "cold": make_bucket("local")}
    fab = skyfabric.connect(_config(stores, tmp_path / "one", [_cold_rule()]))
    fab.fs.pipe_file("fabric://hot/t/a.bin", b"a")
    _move_all(fab, later())
    other = skyfabric.connect(_config(stores, tmp_path / "two", [_cold_rule()]))
    with pytest.raises(ObjectNotFoundError):
        other.fs.cat_file("fabric://hot/t/a.bin")


CHILD = textwrap.dedent(
    """
    import json, pickle, sys
    import fsspec
    import pandas as pd
    out = {}
    if sys.argv[1] == "pickle":
        fs = pickle.loads(sys.stdin.buffer.read())
        out["bytes"] = fs.cat_file("fabric://hot/t/b.bin").decode()
    else:  # a fresh process: the configuration from $SKYFABRIC_CONFIG, nothing else
        out["rows"] = len(pd.read_parquet("fabric://hot/t/a.parquet"))
        with fsspec.open("fabric://hot/t/b.bin", "rb") as f:
            out["bytes"] = f.read().decode()
    out["placement_imported"] = any(m.startswith("skyfabric.placement") for m in sys.modules)
    print(json.dumps(out))
    """
)


def _child(mode: str, config_file: Path | None = None, stdin: bytes = b"") -> dict[str, Any]:
    env = dict(os.environ)
    if config_file is not None:
        env["SKYFABRIC_CONFIG"] = str(config_file)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def _toml(config: dict[str, Any]) -> str:
    lines = []
    for name, store in config["stores"].items():
        lines.append(f"[stores.{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in store.items()]
    lines += ["[placement]", f"state_dir = {json.dumps(config['placement']['state_dir'])}"]
    for rule in config["placement"]["rules"]:
        lines.append("[[placement.rules]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in rule.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def moved_pair(make_bucket, tmp_path: Path) -> tuple[skyfabric.Fabric, Path]:
    config = _config(
        {"hot": make_bucket("s3"), "cold": make_bucket("gcs")}, tmp_path / "state", [_cold_rule()]
    )
    config_file = tmp_path / "skyfabric.toml"
    config_file.write_text(_toml(config))
    fab = skyfabric.connect(config_file)
    fab.fs.pipe_file("fabric://hot/t/a.parquet", _parquet_bytes())
    fab.fs.pipe_file("fabric://hot/t/b.bin", b"bee")
    _move_all(fab, later())
    return fab, config_file


def test_fresh_process_reads_moved_objects(moved_pair: tuple[skyfabric.Fabric, Path]) -> None:
    _, config_file = moved_pair
    got = _child("fresh", config_file)
    assert got == {"rows": 3, "bytes": "bee", "placement_imported": False}


def test_pickled_filesystem_reads_moved_objects(
    moved_pair: tuple[skyfabric.Fabric, Path],
) -> None:
    fab, _ = moved_pair
    got = _child("pickle", stdin=pickle.dumps(fab.fs))
    assert got == {"bytes": "bee", "placement_imported": False}


def test_dask_reads_moved_objects(moved_pair: tuple[skyfabric.Fabric, Path]) -> None:
    dd = pytest.importorskip("dask.dataframe")
    _, config_file = moved_pair
    df = dd.read_parquet("fabric://hot/t/a.parquet", storage_options={"config": str(config_file)})
    # processes: each worker unpickles the filesystem and follows the index itself
    assert int(df["id"].sum().compute(scheduler="processes", num_workers=2)) == 6
