"""Regressions from running fsspec's abstract suite against ``fabric://`` as a new user would
(issue 14), on every store kind."""

from __future__ import annotations

from pathlib import Path

import pytest

import skyfabric

pytestmark = pytest.mark.xdist_group("servers")


@pytest.fixture
def fab(fresh_store_config: dict) -> skyfabric.Fabric:
    return skyfabric.connect({"stores": {"t": fresh_store_config}})


def test_rm_recursive_on_an_object_removes_it_without_error(fab: skyfabric.Fabric) -> None:
    # Deleted the object, then raised ObjectNotFoundError looking for a prefix under it.
    fab.fs.pipe_file("fabric://t/a.txt", b"a")
    fab.fs.rm("fabric://t/a.txt", recursive=True)
    assert not fab.fs.exists("fabric://t/a.txt")


def test_rm_recursive_removes_an_object_and_the_prefix_of_the_same_name(
    fab: skyfabric.Fabric,
) -> None:
    if fab.store("t").kind in ("local", "memory"):
        pytest.skip("a file and a folder of the same name cannot both exist on disk")
    fab.fs.pipe({"fabric://t/x": b"object", "fabric://t/x/y": b"under it", "fabric://t/xz": b"z"})
    fab.fs.rm("fabric://t/x", recursive=True)
    assert fab.fs.find("fabric://t") == ["t/xz"]


def test_mv_of_one_object_with_recursive(fab: skyfabric.Fabric) -> None:
    # fsspec's generic mv is copy(recursive) + rm(recursive): it failed on the rm.
    fab.fs.pipe_file("fabric://t/a.txt", b"a")
    fab.fs.mv("fabric://t/a.txt", "fabric://t/b.txt", recursive=True)
    assert fab.fs.cat_file("fabric://t/b.txt") == b"a"
    assert not fab.fs.exists("fabric://t/a.txt")


def test_get_into_local_folders_that_do_not_exist(
    fab: skyfabric.Fabric, tmp_path: Path
) -> None:
    # s3fs/gcsfs/adlfs do not create the local parent; the local error read as
    # "no object at fabric://...".
    fab.fs.pipe({"fabric://t/src/a.txt": b"a", "fabric://t/src/sub/b.txt": b"b"})
    one = tmp_path / "new" / "x" / "a.txt"
    fab.fs.get("fabric://t/src/a.txt", str(one))
    assert one.read_bytes() == b"a"
    tree = tmp_path / "tree"
    fab.fs.get("fabric://t/src", str(tree) + "/", recursive=True)
    assert (tree / "src" / "a.txt").read_bytes() == b"a"
    assert (tree / "src" / "sub" / "b.txt").read_bytes() == b"b"


def test_get_of_a_missing_object_still_says_so(fab: skyfabric.Fabric, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no object at fabric://t/nope\.txt"):
        fab.fs.get_file("fabric://t/nope.txt", str(tmp_path / "d" / "nope.txt"))


def test_mv_of_a_tree_inside_a_store(fab: skyfabric.Fabric) -> None:
    fab.fs.pipe(
        {"fabric://t/tree/a.txt": b"a", "fabric://t/tree/sub/b.txt": b"b", "fabric://t/treex": b"x"}
    )
    fab.fs.mv("fabric://t/tree", "fabric://t/moved", recursive=True)
    assert sorted(fab.fs.find("fabric://t")) == ["t/moved/a.txt", "t/moved/sub/b.txt", "t/treex"]
    assert fab.fs.cat_file("fabric://t/moved/sub/b.txt") == b"b"


def test_open_x_on_an_existing_object_raises_in_open(fab: skyfabric.Fabric) -> None:
    # s3fs/gcsfs/adlfs only check 'x' when the upload commits; fsspec's suite expects open().
    with fab.open("fabric://t/new.txt", "xb") as f:
        f.write(b"first")
    with pytest.raises(FileExistsError, match=r"fabric://t/new\.txt exists"):
        fab.open("fabric://t/new.txt", "xb")
    assert fab.fs.cat_file("fabric://t/new.txt") == b"first"


def test_find_honours_maxdepth_on_every_kind(fab: skyfabric.Fabric) -> None:
    # adlfs's find returned objects below maxdepth.
    fab.fs.pipe({"fabric://t/d/a": b"1", "fabric://t/d/s/b": b"2", "fabric://t/d/s/n/c": b"3"})
    assert fab.fs.find("fabric://t/d", maxdepth=1) == ["t/d/a"]
    assert fab.fs.find("fabric://t/d", maxdepth=2) == ["t/d/a", "t/d/s/b"]
