"""Journal durability details, the one-mover lock, and the public surface."""

from __future__ import annotations

from pathlib import Path

import pytest

import skyfabric.placement
from skyfabric.placement import PlacementError
from skyfabric.placement.journal import Journal, LocationIndex, mover_lock


def test_torn_last_line_is_ignored_and_not_glued_to_the_next(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.record("m1", "intent", move={"src": "a"})
    with journal.path.open("a") as f:
        f.write('{"id": "m1", "state": "cop')  # the process died mid-write
    assert journal.moves()["m1"]["state"] == "intent"
    journal.record("m1", "copied", md5="abc")
    assert journal.moves()["m1"] == {**journal.moves()["m1"], "state": "copied", "md5": "abc"}
    assert journal.unfinished().keys() == {"m1"}
    journal.record("m1", "done")
    assert journal.unfinished() == {}


def test_failed_after_copy_counts_as_unfinished(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    journal.record("a", "intent", move={})
    journal.record("a", "failed", error="copy failed")
    journal.record("b", "intent", move={})
    journal.record("b", "copied", md5="x")
    journal.record("b", "failed", error="delete failed")
    assert journal.unfinished().keys() == {"b"}


def test_locate_follows_chains(tmp_path: Path) -> None:
    index = LocationIndex(tmp_path / "l.jsonl")
    index.add("fabric://a/x", "fabric://b/x")
    index.add("fabric://b/x", "fabric://c/x")
    assert index.locate("fabric://a/x") == "fabric://c/x"
    assert index.locate("fabric://z/y") == "fabric://z/y"


def test_one_mover_at_a_time(tmp_path: Path) -> None:
    held = mover_lock(tmp_path)
    held.__enter__()
    try:
        with pytest.raises(PlacementError, match="another placement apply"), mover_lock(tmp_path):
            pass
    finally:
        held.__exit__(None, None, None)
    with mover_lock(tmp_path):  # released again
        pass


def test_public_surface() -> None:
    assert set(skyfabric.placement.__all__) == {
        "CRASH_ENV",
        "ApplyResult",
        "Move",
        "MoveError",
        "Placement",
        "PlacementError",
        "PlacementSettings",
        "Plan",
        "Price",
        "PriceOverride",
        "PriceTable",
        "ResidencyError",
        "ResidencySpec",
        "Rule",
        "RuleError",
        "StorageClassError",
    }
    assert all(hasattr(skyfabric.placement, name) for name in skyfabric.placement.__all__)
