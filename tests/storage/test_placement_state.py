"""The location index lookup behind ``fabric://`` reads: chains, cycles, torn lines, and a
cache that does not re-read an unchanged index (local files only, no servers)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from skyfabric.storage import placement_state
from skyfabric.storage.placement_state import index_mapping, locate


def _add(path: Path, src: str, dst: str) -> None:
    with path.open("a") as f:
        f.write(json.dumps({"from": src, "to": dst, "time": 0}) + "\n")


def test_no_index_and_never_moved(tmp_path: Path) -> None:
    assert locate(tmp_path / "missing" / "locations.jsonl", "fabric://a/x") == "fabric://a/x"
    index = tmp_path / "locations.jsonl"
    _add(index, "fabric://a/x", "fabric://b/x")
    assert locate(index, "fabric://a/y") == "fabric://a/y"


def test_chains_cycles_and_later_moves_win(tmp_path: Path) -> None:
    index = tmp_path / "locations.jsonl"
    _add(index, "fabric://hot/x", "fabric://warm/x")
    _add(index, "fabric://warm/x", "fabric://cold/x")
    assert locate(index, "fabric://hot/x") == "fabric://cold/x"
    _add(index, "fabric://cold/x", "fabric://hot/x")  # moved back where it started
    assert locate(index, "fabric://warm/x") == "fabric://hot/x"
    assert locate(index, "fabric://hot/x") == "fabric://cold/x"  # stops before the cycle
    _add(index, "fabric://hot/x", "fabric://ice/x")  # and away again: the later line wins
    assert locate(index, "fabric://warm/x") == "fabric://ice/x"
    assert index_mapping(index)["fabric://hot/x"] == "fabric://ice/x"


def test_torn_and_half_written_lines(tmp_path: Path) -> None:
    index = tmp_path / "locations.jsonl"
    _add(index, "fabric://a/1", "fabric://b/1")
    with index.open("a") as f:
        f.write('{"from": "fabric://a/2", "to": "fab')  # being written (or cut by a crash)
    assert locate(index, "fabric://a/2") == "fabric://a/2"
    with index.open("a") as f:  # what the appender does after a torn line
        f.write("\n" + json.dumps({"from": "fabric://a/3", "to": "fabric://b/3"}) + "\n")
    assert locate(index, "fabric://a/3") == "fabric://b/3"
    assert locate(index, "fabric://a/1") == "fabric://b/1"


def test_unchanged_index_is_not_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = tmp_path / "locations.jsonl"
    for i in range(1000):
        _add(index, f"fabric://a/{i}", f"fabric://b/{i}")
    assert locate(index, "fabric://a/5") == "fabric://b/5"
    opened: list[int] = []
    real_open = Path.open

    def counting_open(self: Path, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        opened.append(1)
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", counting_open)
    for i in range(200):
        assert locate(index, f"fabric://a/miss-{i}") == f"fabric://a/miss-{i}"
    assert opened == []  # 200 misses: a stat each, no read
    _add(index, "fabric://a/new", "fabric://b/new")
    before = placement_state._indexes[str(index)].offset
    assert locate(index, "fabric://a/new") == "fabric://b/new"
    parsed = placement_state._indexes[str(index)]
    assert len(opened) == 2  # the append above, and one read of what it added
    assert parsed.offset == index.stat().st_size > before
    assert len(parsed.mapping) == 1001


def test_rewritten_index_is_parsed_again(tmp_path: Path) -> None:
    index = tmp_path / "locations.jsonl"
    _add(index, "fabric://a/x", "fabric://b/x")
    assert locate(index, "fabric://a/x") == "fabric://b/x"
    replacement = tmp_path / "new.jsonl"
    _add(replacement, "fabric://a/y", "fabric://b/y")
    os.replace(replacement, index)  # a new file (inode) under the same name
    assert locate(index, "fabric://a/x") == "fabric://a/x"
    assert locate(index, "fabric://a/y") == "fabric://b/y"
