"""The mover on the real servers: moves across every pair of kinds, in-place class changes,
byte budget, dry run, failures that keep the source."""

from __future__ import annotations

from pathlib import Path

import pytest
from placement_data import later, md5, seed

from skyfabric.placement.classes import read_class

pytestmark = pytest.mark.xdist_group("servers")


def _rule(target: str = "b", **extra: object) -> dict:
    return {
        "name": "cold",
        "match": "fabric://a/t/**",
        "older_than": "30d",
        "target": target,
        **extra,
    }


def test_move_across_kinds(pair_configs: tuple[dict, dict], make_placement) -> None:
    src, dst = pair_configs
    fab, placement = make_placement({"a": src, "b": dst}, [_rule()])
    data = seed(fab, "a", "t", 3)
    assert placement.plan().moves == []  # nothing is 30 days old yet
    plan = placement.plan(now=later())
    assert {m.src for m in plan.moves} == {f"fabric://a/{k}" for k in data}
    result = placement.apply(plan, workers=2)
    assert result.ok and len(result.done) == 3 and result.bytes_moved == plan.bytes
    for key, blob in data.items():
        assert not fab.fs.exists(f"fabric://a/{key}")
        assert md5(fab.fs.cat_file(f"fabric://b/{key}")) == md5(blob)
        assert placement.locate(f"fabric://a/{key}") == f"fabric://b/{key}"
    assert placement.status()["counts"] == {"done": 3}
    log = placement.log()
    assert {(r["src"], r["md5"]) for r in log} == {
        (f"fabric://a/{k}", md5(v)) for k, v in data.items()
    }
    assert all(r["who"] and r["bytes"] > 0 and r["time"] for r in log)
    again = placement.apply(plan)  # the same plan again: every move is already done
    assert again.ok and again.done == [] and placement.plan(now=later()).moves == []


CLASSES = {"s3": "STANDARD_IA", "minio": "GLACIER_IR", "gcs": "COLDLINE", "azure": "Cool"}


@pytest.mark.parametrize(
    "kind",
    [
        "s3",
        "minio",
        pytest.param(
            "gcs",
            marks=pytest.mark.xfail(
                reason="fake-gcs-server's objects.rewrite ignores storageClass in the request "
                "body (the object stays STANDARD); real GCS honours it",
                strict=True,
            ),
        ),
        "azure",
    ],
)
def test_in_place_class_change(kind: str, make_bucket, make_placement) -> None:
    target = CLASSES[kind]
    rule = {"name": "ia", "match": "fabric://a/t/**", "older_than": "30d", "storage_class": target}
    fab, placement = make_placement({"a": make_bucket(kind)}, [rule])
    data = seed(fab, "a", "t", 2)
    plan = placement.plan(now=later())
    assert [m.action for m in plan.moves] == ["class", "class"]
    assert all(m.dst_class == target and m.src == m.dst for m in plan.moves)
    result = placement.apply(plan)
    assert result.ok, result.failed
    store = fab.store("a")
    for key, blob in data.items():
        assert read_class(store, store.native_path(key)) == target
        assert md5(fab.fs.cat_file(f"fabric://a/{key}")) == md5(blob)
    assert placement.plan(now=later()).moves == []  # already in the target class


def test_budget_and_dry_run(make_bucket, make_placement) -> None:
    fab, placement = make_placement(
        {"a": make_bucket("local"), "b": make_bucket("local")}, [_rule()]
    )
    seed(fab, "a", "t", 5, size=1000)
    plan = placement.plan(now=later())
    dry = placement.apply(plan, dry_run=True, max_bytes=2500)
    assert dry.dry_run and len(dry.done) == 2 and len(dry.deferred) == 3
    assert len(fab.ls("fabric://a/t")) == 5 and not fab.fs.exists("fabric://b/t")
    first = placement.apply(plan, max_bytes=2500)
    assert len(first.done) == 2 and len(first.deferred) == 3 and first.bytes_moved <= 2500
    rest = placement.apply(placement.plan(now=later()))
    assert len(rest.done) == 3
    assert len(fab.ls("fabric://b/t")) == 5


def test_failed_copy_keeps_the_source(make_bucket, make_placement, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the target store's directory should be")
    stores = {"a": make_bucket("local"), "b": {"kind": "local", "path": str(blocker)}}
    fab, placement = make_placement(stores, [_rule()])
    data = seed(fab, "a", "t", 1)
    result = placement.apply(placement.plan(now=later()))
    assert not result.ok
    ((move_id, error),) = result.failed.items()
    assert "TransferError" in error or "Error" in error
    assert all(fab.fs.cat_file(f"fabric://a/{k}") == v for k, v in data.items())
    status = placement.status()
    assert status["counts"] == {"failed": 1} and status["failed"][0]["id"] == move_id
    assert status["in_flight"] == []


def test_never_overwrites_a_different_object_at_the_target(make_bucket, make_placement) -> None:
    fab, placement = make_placement(
        {"a": make_bucket("minio"), "b": make_bucket("local")}, [_rule()]
    )
    data = seed(fab, "a", "t", 2)
    same, other = sorted(data)
    fab.fs.pipe_file(f"fabric://b/{same}", data[same])  # identical: the move just finishes
    fab.fs.pipe_file(f"fabric://b/{other}", b"somebody else's object")
    result = placement.apply(placement.plan(now=later()))
    assert len(result.done) == 1 and len(result.failed) == 1
    assert "already holds a different object" in next(iter(result.failed.values()))
    assert not fab.fs.exists(f"fabric://a/{same}")
    assert fab.fs.cat_file(f"fabric://b/{same}") == data[same]
    assert fab.fs.cat_file(f"fabric://a/{other}") == data[other]
    assert fab.fs.cat_file(f"fabric://b/{other}") == b"somebody else's object"
    again = placement.apply(placement.plan(now=later()))  # still refused, still both kept
    assert len(again.failed) == 1 and fab.fs.cat_file(f"fabric://a/{other}") == data[other]


def test_source_changed_after_copy_is_kept(make_bucket, make_placement, monkeypatch) -> None:
    fab, placement = make_placement({"a": make_bucket("s3"), "b": make_bucket("gcs")}, [_rule()])
    (key,) = seed(fab, "a", "t", 1)
    from skyfabric.placement import mover as mover_module

    real = mover_module.copy_object

    def copy_then_writer_updates(fs, src, dst, **kw):
        out = real(fs, src, dst, **kw)
        fs.pipe_file(src, b"a newer version written during the move")
        return out

    monkeypatch.setattr(mover_module, "copy_object", copy_then_writer_updates)
    result = placement.apply(placement.plan(now=later()))
    assert "changed after it was copied" in next(iter(result.failed.values()))
    assert fab.fs.cat_file(f"fabric://a/{key}") == b"a newer version written during the move"
    monkeypatch.setattr(mover_module, "copy_object", real)
    rerun = placement.apply(placement.plan(now=later()))  # copies the new version, then deletes
    assert rerun.ok and len(rerun.recovered) == 1
    assert not fab.fs.exists(f"fabric://a/{key}")
    assert fab.fs.cat_file(f"fabric://b/{key}") == b"a newer version written during the move"


def test_object_rewritten_after_a_class_change_is_changed_again(
    make_bucket, make_placement
) -> None:
    """Found by a new user: the move id ignored the object's version, so the journal's
    `done` hid every later change of an object rewritten at the same key."""
    rule = {
        "name": "ia",
        "match": "fabric://a/m/**",
        "older_than": "30d",
        "storage_class": "STANDARD_IA",
    }
    fab, placement = make_placement({"a": make_bucket("s3")}, [rule])
    fab.fs.pipe_file("fabric://a/m/model.bin", b"v1")
    assert placement.apply(placement.plan(now=later())).ok
    fab.fs.pipe_file("fabric://a/m/model.bin", b"v2 rewritten")  # STANDARD again
    plan = placement.plan(now=later())
    assert len(plan.moves) == 1
    result = placement.apply(plan)
    assert result.ok and len(result.done) == 1
    store = fab.store("a")
    assert read_class(store, store.native_path("m/model.bin")) == "STANDARD_IA"


def test_dry_run_counts_what_recovery_would_finish(make_bucket, make_placement) -> None:
    fab, placement = make_placement(
        {"a": make_bucket("local"), "b": make_bucket("local")}, [_rule()]
    )
    seed(fab, "a", "t", 2)
    plan = placement.plan(now=later())
    placement.journal.record(plan.moves[0].id, "intent", move=plan.moves[0].to_dict())
    dry = placement.apply(plan, dry_run=True)
    assert dry.recovered == [plan.moves[0].id] and dry.done == [plan.moves[1].id]
    real = placement.apply(plan)
    assert real.recovered == dry.recovered and real.done == dry.done


def test_unreachable_store_is_one_clear_error(make_bucket, make_placement) -> None:
    from skyfabric.errors import StoreUnreachableError

    dead = {**make_bucket("minio"), "endpoint": "http://127.0.0.1:9"}
    _fab, placement = make_placement({"a": dead, "b": make_bucket("local")}, [_rule()])
    with pytest.raises(StoreUnreachableError, match=r"cannot list store 'a'.*fix: check"):
        placement.plan()
