"""``skyfabric stores|ls|cat|cp|sync|rm`` through typer's CliRunner and one real subprocess.

Local and memory stores only (plus an S3 store on a closed port, which is never reached), so
these tests need no emulator and no conftest.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from rich.console import Console
from rich.filesize import decimal
from typer.testing import CliRunner, Result

from skyfabric.cli import app, storage_cmds
from skyfabric.storage import transfer

ACCESS = "AKIA-SKYFABRIC-TEST-ACCESS-7f3e"
SECRET = "s3cr3t-SKYFABRIC-TEST-do-not-print-91c2"
PAYLOAD = bytes(range(256)) * 40 + b"\x00\xff\xfe not utf-8 \xc3\x28"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_config(path: Path, extra: str = "") -> Path:
    memory_root = f"clitest-{uuid.uuid4().hex[:8]}"
    path.write_text(
        f'[stores.a]\nkind = "local"\npath = "{(path.parent / "a").as_posix()}"\ntier = "hot"\n\n'
        f'[stores.b]\nkind = "local"\npath = "{(path.parent / "b").as_posix()}"\n\n'
        f'[stores.m]\nkind = "memory"\nroot = "{memory_root}"\n{extra}',
        encoding="utf-8",
    )
    return path


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYFABRIC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SKYFABRIC_CONFIG", raising=False)
    monkeypatch.setattr(transfer, "BACKOFF", 0.0)  # failing copies retry without sleeping


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "a" / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "a" / "dir" / "x.txt").write_bytes(b"hello\n")
    (tmp_path / "a" / "dir" / "x.txt.1").write_bytes(b"sibling\n")
    (tmp_path / "a" / "dir" / "sub" / "y.bin").write_bytes(PAYLOAD)
    return _write_config(tmp_path / "skyfabric.toml")


def run(config: Path, *args: str) -> Result:
    result = CliRunner().invoke(app, ["--config", str(config), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


def test_help_lists_every_storage_command() -> None:
    out = CliRunner().invoke(app, ["--help"]).stdout
    for name in ("stores", "ls", "cat", "cp", "sync", "rm"):
        assert name in out


def test_stores_table_and_json(config: Path) -> None:
    result = run(config, "stores")
    assert result.exit_code == 0, result.stderr
    for text in ("a", "b", "m", "local", "memory", "hot", "yes"):
        assert text in result.stdout
    data = json.loads(run(config, "stores", "--json").stdout)
    assert data["config"] == str(config)
    assert {s["name"]: s["reachable"] for s in data["stores"]} == {"a": True, "b": True, "m": True}


def test_stores_shows_unreachable_s3_with_reason_and_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYF_TEST_ACCESS", ACCESS)
    monkeypatch.setenv("SKYF_TEST_SECRET", SECRET)
    port = _closed_port()
    dead = (
        f'\n[stores.dead]\nkind = "s3"\nbucket = "dead-bucket"\n'
        f'endpoint = "http://127.0.0.1:{port}"\nregion = "us-east-1"\n'
        'access_key_env = "SKYF_TEST_ACCESS"\nsecret_key_env = "SKYF_TEST_SECRET"\n'
        f'\n[stores.userinfo]\nkind = "s3"\nbucket = "other-bucket"\n'
        f'endpoint = "http://minio:{SECRET}@127.0.0.1:{port}"\n'
    )
    cfg = _write_config(tmp_path / "skyfabric.toml", dead)
    table = run(cfg, "stores", "--timeout", "3")
    as_json = run(cfg, "stores", "--json", "--timeout", "3")
    assert table.exit_code == 0 and as_json.exit_code == 0
    row = next(line for line in table.stdout.splitlines() if "dead" in line)
    assert f"no: cannot connect to 127.0.0.1:{port}" in row
    stores = {s["name"]: s for s in json.loads(as_json.stdout)["stores"]}
    assert stores["dead"]["reachable"] is False
    assert "cannot connect" in stores["dead"]["reason"]
    assert stores["dead"]["credentials"] == "env $SKYF_TEST_ACCESS, $SKYF_TEST_SECRET"
    assert stores["userinfo"]["endpoint"] == f"http://***@127.0.0.1:{port}"
    assert stores["a"]["reachable"] is True
    for result in (table, as_json):
        everything = result.stdout + result.stderr
        assert SECRET not in everything and ACCESS not in everything


def test_ls_stores_prefix_object_long_and_json(config: Path) -> None:
    assert run(config, "ls").stdout.split() == ["fabric://a/", "fabric://b/", "fabric://m/"]
    listing = run(config, "ls", "fabric://a/dir").stdout.split()
    assert sorted(listing) == ["fabric://a/dir/sub/", "fabric://a/dir/x.txt", "fabric://a/dir/x.txt.1"]
    # an object's URL lists only that object, never its name-prefixed sibling
    assert run(config, "ls", "fabric://a/dir/x.txt").stdout.split() == ["fabric://a/dir/x.txt"]
    long = run(config, "ls", "-l", "fabric://a/dir/sub").stdout
    assert "file" in long and decimal(len(PAYLOAD)) in long and "fabric://a/dir/sub/y.bin" in long
    rows = json.loads(run(config, "ls", "--json", "fabric://a/dir/sub").stdout)
    assert rows == [{"url": "fabric://a/dir/sub/y.bin", "type": "file", "size": len(PAYLOAD),
                     "modified": rows[0]["modified"]}]
    assert rows[0]["modified"].endswith("+00:00")


def test_ls_errors_have_exit_codes(config: Path) -> None:
    unknown = run(config, "ls", "fabric://nope/x")
    assert unknown.exit_code == 2
    assert "unknown store 'nope'" in unknown.stderr and "[stores.nope]" in unknown.stderr
    missing = run(config, "ls", "fabric://a/missing")
    assert missing.exit_code == 1 and "no object or prefix at fabric://a/missing" in missing.stderr
    assert run(config, "ls", "a/dir").exit_code == 2  # a plain path is not a fabric URL


def test_cat_is_binary_safe_and_streams_in_chunks(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage_cmds, "CAT_CHUNK", 1000)  # PAYLOAD spans 11 reads
    result = run(config, "cat", "fabric://a/dir/sub/y.bin")
    assert result.exit_code == 0
    assert result.stdout_bytes == PAYLOAD
    assert run(config, "cat", "fabric://a/nope").exit_code == 1
    assert run(config, "cat", "fabric://a/dir").exit_code == 2


def test_cp_between_stores_object_and_recursive(config: Path, tmp_path: Path) -> None:
    one = run(config, "cp", "fabric://a/dir/sub/y.bin", "fabric://m/one/y.bin")
    assert one.exit_code == 0, one.stderr
    assert "copied 1" in one.stdout
    assert run(config, "cat", "fabric://m/one/y.bin").stdout_bytes == PAYLOAD
    into = run(config, "cp", "fabric://a/dir/x.txt", "fabric://b/into/")  # trailing /: keep name
    assert into.exit_code == 0 and (tmp_path / "b" / "into" / "x.txt").read_bytes() == b"hello\n"
    rec = run(config, "cp", "-r", "--json", "--workers", "2", "fabric://a/dir", "fabric://b/tree")
    assert rec.exit_code == 0, rec.stderr
    data = json.loads(rec.stdout)
    assert data["ok"] is True and data["counts"] == {"copied": 3}
    assert {o["dst"] for o in data["objects"]} == {
        "fabric://b/tree/x.txt", "fabric://b/tree/x.txt.1", "fabric://b/tree/sub/y.bin"}
    assert all(o["md5"] for o in data["objects"])
    assert (tmp_path / "b" / "tree" / "sub" / "y.bin").read_bytes() == PAYLOAD
    names = [p.name for p in (tmp_path / "b").rglob("*")]
    assert not [n for n in names if n.startswith(transfer.PARTIAL_MARKER)]


def test_cp_upload_and_download_plain_local_paths(config: Path, tmp_path: Path) -> None:
    src = tmp_path / "outside" / "report.bin"
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)
    up = run(config, "cp", "--json", str(src), "fabric://m/up/report.bin")
    assert up.exit_code == 0, up.stderr
    assert json.loads(up.stdout)["objects"][0]["src"] == src.as_posix()  # shown as typed
    assert run(config, "cat", "fabric://m/up/report.bin").stdout_bytes == PAYLOAD
    down = tmp_path / "down"
    down.mkdir()
    assert run(config, "cp", "fabric://m/up/report.bin", str(down)).exit_code == 0  # into a dir
    assert (down / "report.bin").read_bytes() == PAYLOAD
    tree = tmp_path / "tree-copy"
    assert run(config, "cp", "-r", "fabric://a/dir", str(tree)).exit_code == 0
    assert (tree / "sub" / "y.bin").read_bytes() == PAYLOAD
    assert run(config, "cp", "-r", str(tree), "fabric://m/tree").exit_code == 0
    assert run(config, "cat", "fabric://m/tree/x.txt").stdout_bytes == b"hello\n"


def test_cp_missing_source_and_usage_errors(config: Path, tmp_path: Path) -> None:
    missing = run(config, "cp", "fabric://a/dir/nope.bin", "fabric://b/nope.bin")
    assert missing.exit_code == 1 and "fabric://a/dir/nope.bin" in missing.stderr
    assert "no object" in missing.stderr
    assert not (tmp_path / "b" / "nope.bin").exists()
    local = run(config, "cp", str(tmp_path / "nope.bin"), "fabric://b/x")
    assert local.exit_code == 1 and "no such local file" in local.stderr
    assert run(config, "cp", "fabric://nope/x", "fabric://b/x").exit_code == 2
    prefix = run(config, "cp", "fabric://a/dir", "fabric://b/x")
    assert prefix.exit_code == 2 and "recursive" in prefix.stderr
    assert run(config, "cp", str(tmp_path / "a"), "fabric://b/x").exit_code == 2


def test_cp_exits_1_and_names_each_failed_object(config: Path, tmp_path: Path) -> None:
    # A directory on local disk where the object x.txt must go: that one object fails.
    (tmp_path / "b" / "t" / "x.txt").mkdir(parents=True)
    result = run(config, "cp", "-r", "--json", "fabric://a/dir", "fabric://b/t")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["counts"] == {"copied": 2, "failed": 1}
    failed = [o for o in data["objects"] if o["status"] == "failed"]
    assert failed[0]["dst"] == "fabric://b/t/x.txt" and failed[0]["error"]
    assert "failed: fabric://a/dir/x.txt -> fabric://b/t/x.txt" in result.stderr
    human = run(config, "cp", "-r", "fabric://a/dir", "fabric://b/t")
    assert human.exit_code == 1 and "failed 1" in human.stdout


def test_sync_dry_run_copy_rerun_delete_checksum(config: Path, tmp_path: Path) -> None:
    dry = run(config, "sync", "--dry-run", "fabric://a/dir", "fabric://b/mirror")
    assert dry.exit_code == 0
    assert "would copy fabric://a/dir/x.txt -> fabric://b/mirror/x.txt" in dry.stdout
    assert not (tmp_path / "b" / "mirror").exists()
    first = json.loads(run(config, "sync", "--json", "fabric://a/dir", "fabric://b/mirror").stdout)
    assert first["counts"] == {"copied": 3}
    again = json.loads(run(config, "sync", "--json", "fabric://a/dir", "fabric://b/mirror").stdout)
    assert again["counts"] == {"skipped": 3}
    (tmp_path / "b" / "mirror" / "extra.txt").write_bytes(b"not in the source")
    (tmp_path / "b" / "mirror" / "x.txt").write_bytes(b"HELLO\n")  # same size, other bytes
    plan = run(config, "sync", "--dry-run", "--delete", "--checksum", "--json",
               "fabric://a/dir", "fabric://b/mirror")
    statuses = {o["dst"]: o["status"] for o in json.loads(plan.stdout)["objects"]}
    assert statuses["fabric://b/mirror/x.txt"] == "would_copy"
    assert statuses["fabric://b/mirror/extra.txt"] == "would_delete"
    done = run(config, "sync", "--delete", "--checksum", "fabric://a/dir", "fabric://b/mirror")
    assert done.exit_code == 0 and "deleted 1" in done.stdout
    assert (tmp_path / "b" / "mirror" / "x.txt").read_bytes() == b"hello\n"
    assert not (tmp_path / "b" / "mirror" / "extra.txt").exists()


def test_sync_local_directory_to_memory_store(config: Path, tmp_path: Path) -> None:
    result = run(config, "sync", str(tmp_path / "a" / "dir"), "fabric://m/s")
    assert result.exit_code == 0, result.stderr
    assert run(config, "cat", "fabric://m/s/sub/y.bin").stdout_bytes == PAYLOAD
    missing = run(config, "sync", str(tmp_path / "nope"), "fabric://m/s")
    assert missing.exit_code == 1


def test_rm_object_prefix_and_refusals(config: Path, tmp_path: Path) -> None:
    assert run(config, "rm", "fabric://a/dir/x.txt.1").stdout.strip() == (
        "deleted fabric://a/dir/x.txt.1")
    assert not (tmp_path / "a" / "dir" / "x.txt.1").exists()
    no_r = run(config, "rm", "fabric://a/dir")
    assert no_r.exit_code == 2 and "-r" in no_r.stderr
    assert run(config, "rm", "-r", "fabric://a").exit_code == 2  # a store root, never
    assert run(config, "rm", str(tmp_path / "a" / "dir")).exit_code == 2  # never a local path
    assert run(config, "rm", "fabric://a/dir/gone").exit_code == 1
    removed = json.loads(run(config, "rm", "-r", "--json", "fabric://a/dir").stdout)
    assert removed["ok"] is True and removed["count"] == 2
    assert sorted(removed["deleted"]) == ["fabric://a/dir/sub/y.bin", "fabric://a/dir/x.txt"]
    assert not (tmp_path / "a" / "dir").exists()


def test_invalid_config_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[stores.x]\nkind = "local"\npath = "/tmp"\ncolour = "blue"\n')
    result = run(bad, "ls")
    assert result.exit_code == 2
    assert "colour: unknown key" in result.stderr and str(bad) in result.stderr


def test_progress_is_off_without_tty_and_thread_safe_with_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with storage_cmds._progress("cp", True, lambda: None) as progress:
        assert progress is None  # pytest's stdout is not a terminal

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdout", Tty())
    screen = io.StringIO()
    monkeypatch.setattr(storage_cmds, "err_console", Console(file=screen, force_terminal=True))
    with storage_cmds._progress("cp", False, lambda: None) as progress:
        assert progress is None  # --json
    with storage_cmds._progress("cp x", True, lambda: 8000) as progress:
        assert progress is not None
        threads = [threading.Thread(target=lambda: [progress(1) for _ in range(1000)])
                   for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert "cp x" in screen.getvalue()


def test_real_subprocess_python_dash_m(config: Path, tmp_path: Path) -> None:
    env = {**os.environ, "SKYFABRIC_DATA_DIR": str(tmp_path / "data")}

    def sub(*args: str) -> subprocess.CompletedProcess[bytes]:
        cmd = [sys.executable, "-m", "skyfabric", "--config", str(config), *args]
        return subprocess.run(cmd, capture_output=True, env=env, timeout=120, check=False)

    copied = sub("cp", "-r", "--json", "fabric://a/dir", "fabric://b/sub-copy")
    assert copied.returncode == 0, copied.stderr
    assert json.loads(copied.stdout)["counts"] == {"copied": 3}
    assert copied.stderr == b""  # no progress bar when stdout is a pipe
    assert sub("cat", "fabric://b/sub-copy/sub/y.bin").stdout == PAYLOAD
    stores = json.loads(sub("stores", "--json").stdout)
    assert [s["name"] for s in stores["stores"]] == ["a", "b", "m"]
    failed = sub("cp", "fabric://a/dir/none", "fabric://b/none")
    assert failed.returncode == 1 and b"no object or prefix at fabric://a/dir/none" in failed.stderr


def test_unknown_store_beside_a_local_path_lists_only_configured_stores(
    config: Path, tmp_path: Path
) -> None:
    local = tmp_path / "up.txt"
    local.write_bytes(b"x")
    result = run(config, "cp", str(local), "fabric://nope/up.txt")
    assert result.exit_code == 2, result.output
    assert "unknown store 'nope'" in result.stderr and "local-src" not in result.stderr
