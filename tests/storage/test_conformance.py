"""One conformance suite, run unchanged against every store kind on real servers.

Each case here has broken a peer library (s3fs, gcsfs, adlfs issues named inline).
"""

from __future__ import annotations

import hashlib
import os

import pytest

import skyfabric
from skyfabric.errors import InvalidPathError, ObjectNotFoundError

pytestmark = pytest.mark.xdist_group("servers")

# Keys that need escaping somewhere between the client and the server (s3fs #187, gcsfs #265,
# adlfs #323): a space, '#', '+', a literal '%20' and non-ASCII characters.
AWKWARD_KEYS = [
    "dir/with space.txt",
    "dir/hash#tag.txt",
    "dir/plus+sign.txt",
    "dir/literal%20pct.txt",
    "dir/ünïcødé-日本.txt",
]


@pytest.fixture
def fab(fresh_store_config: dict) -> skyfabric.Fabric:
    return skyfabric.connect({"stores": {"t": fresh_store_config}})


def test_put_ls_cat_roundtrip(fab: skyfabric.Fabric) -> None:
    fab.fs.pipe_file("fabric://t/a/b.bin", b"hello")
    assert fab.fs.cat_file("fabric://t/a/b.bin") == b"hello"
    assert fab.ls("fabric://t/a") == ["t/a/b.bin"]
    info = fab.fs.info("fabric://t/a/b.bin")
    assert info["size"] == 5 and info["type"] == "file"
    with fab.open("fabric://t/a/b.bin") as f:
        assert f.read() == b"hello"


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_awkward_keys_roundtrip(fab: skyfabric.Fabric, key: str) -> None:
    data = key.encode() * 3
    url = f"fabric://t/{key}"
    fab.fs.pipe_file(url, data)
    assert fab.fs.cat_file(url) == data
    assert f"t/{key}" in fab.ls("fabric://t/dir")
    assert f"t/{key}" in fab.fs.find("fabric://t/dir")
    assert f"t/{key}" in fab.fs.glob("fabric://t/dir/*.txt")
    with fab.open(url) as f:
        assert f.read() == data
    copied = fab.copy(url, f"fabric://t/copy/{key}")
    assert copied.ok, copied.to_dict()
    assert fab.fs.cat_file(f"fabric://t/copy/{key}") == data
    synced = fab.sync("fabric://t/dir", "fabric://t/synced")
    assert synced.ok, synced.to_dict()
    assert fab.fs.cat_file(f"fabric://t/synced/{key.split('/', 1)[1]}") == data


def test_ls_of_object_returns_only_that_object(fab: skyfabric.Fabric) -> None:
    # s3fs #250 / gcsfs #388: ls("d/x.txt") also returned "d/x.txt.1".
    fab.fs.pipe_file("fabric://t/d/x.txt", b"x")
    fab.fs.pipe_file("fabric://t/d/x.txt.1", b"y")
    assert fab.ls("fabric://t/d/x.txt") == ["t/d/x.txt"]
    assert sorted(fab.ls("fabric://t/d")) == ["t/d/x.txt", "t/d/x.txt.1"]


def test_listing_paginates_past_1000(fab: skyfabric.Fabric) -> None:
    store = fab.store("t")
    n = 1_005
    store.fs.pipe({store.native_path(f"many/{i:05d}"): b"." for i in range(n)})
    assert len(fab.ls("fabric://t/many")) == n
    assert len(fab.fs.find("fabric://t/many")) == n


def test_overwrite_with_other_size_is_seen(fab: skyfabric.Fabric) -> None:
    # s3fs #424/#492: a cached listing kept the old size after an overwrite.
    url = "fabric://t/over/x.bin"
    fab.fs.pipe_file(url, b"a" * 100)
    assert fab.fs.info(url)["size"] == 100
    assert fab.ls("fabric://t/over", detail=True)[0]["size"] == 100
    fab.fs.pipe_file(url, b"b" * 37)
    assert fab.fs.info(url)["size"] == 37
    assert fab.fs.cat_file(url) == b"b" * 37
    with fab.open(url) as f:
        assert f.read() == b"b" * 37
    assert fab.ls("fabric://t/over", detail=True)[0]["size"] == 37


def test_missing_object_and_escape_are_clear_errors(fab: skyfabric.Fabric) -> None:
    with pytest.raises(ObjectNotFoundError):
        fab.fs.cat_file("fabric://t/nope/nothing.bin")
    with pytest.raises(FileNotFoundError):
        fab.open("fabric://t/nope/nothing.bin").read()
    with pytest.raises(InvalidPathError, match=r"\.\."):
        fab.fs.cat_file("fabric://t/a/../../etc/passwd")


def test_rm_and_recursive_rm(fab: skyfabric.Fabric) -> None:
    fab.fs.pipe_file("fabric://t/r/a", b"1")
    fab.fs.pipe_file("fabric://t/r/sub/b", b"2")
    fab.fs.rm("fabric://t/r/a")
    assert not fab.fs.exists("fabric://t/r/a")
    fab.fs.rm("fabric://t/r", recursive=True)
    assert fab.fs.find("fabric://t/r") == []
    with pytest.raises(InvalidPathError):
        fab.fs.rm("fabric://t", recursive=True)


def test_sync_copies_only_what_differs(fab: skyfabric.Fabric) -> None:
    for i in range(5):
        fab.fs.pipe_file(f"fabric://t/src/{i}.bin", os.urandom(100 + i))
    first = fab.sync("fabric://t/src", "fabric://t/dst")
    assert len(first.copied) == 5 and first.ok
    again = fab.sync("fabric://t/src", "fabric://t/dst")
    assert len(again.copied) == 0 and len(again.skipped) == 5
    fab.fs.pipe_file("fabric://t/src/2.bin", b"changed size")
    fab.fs.pipe_file("fabric://t/dst/extra.bin", b"not in source")
    dry = fab.sync("fabric://t/src", "fabric://t/dst", dry_run=True, delete=True)
    assert [o.dst for o in dry.objects if o.status == "would_copy"] == ["fabric://t/dst/2.bin"]
    assert [o.dst for o in dry.objects if o.status == "would_delete"] == [
        "fabric://t/dst/extra.bin"
    ]
    assert fab.fs.exists("fabric://t/dst/extra.bin")
    third = fab.sync("fabric://t/src", "fabric://t/dst", delete=True)
    assert [o.dst for o in third.copied] == ["fabric://t/dst/2.bin"]
    assert [o.dst for o in third.deleted] == ["fabric://t/dst/extra.bin"]
    assert fab.fs.cat_file("fabric://t/dst/2.bin") == b"changed size"


# Multipart part-size boundaries: S3's minimum part is 5 MiB, and fsspec writers flush at
# their block size; objects just under, at and over the boundaries broke copies before.
SIZES = [0, 5 * 2**20 - 1, 5 * 2**20, 5 * 2**20 + 1, 10 * 2**20 + 1]


@pytest.mark.slow
def test_copy_sizes_between_kinds(pair_configs: tuple[dict, dict]) -> None:
    src_cfg, dst_cfg = pair_configs
    fab = skyfabric.connect({"stores": {"a": src_cfg, "b": dst_cfg}})
    payload = os.urandom(max(SIZES))
    for size in SIZES:
        data = payload[:size]
        fab.fs.pipe_file(f"fabric://a/sizes/{size}.bin", data)
    result = fab.copy("fabric://a/sizes", "fabric://b/copied", recursive=True, workers=4)
    assert result.ok, result.to_dict()
    assert len(result.copied) == len(SIZES)
    for size in SIZES:
        got = fab.fs.cat_file(f"fabric://b/copied/{size}.bin")
        assert len(got) == size
        assert hashlib.md5(got).digest() == hashlib.md5(payload[:size]).digest()
    for obj in result.copied:
        assert obj.md5 == hashlib.md5(payload[: obj.bytes]).hexdigest()


def test_failed_copy_leaves_nothing_under_final_name(fab: skyfabric.Fabric) -> None:
    data = os.urandom(3 * 2**20)
    fab.fs.pipe_file("fabric://t/big/obj.bin", data)
    calls = {"n": 0}

    def fail_midway(nbytes: int) -> None:
        calls["n"] += 1
        raise OSError("destination went away mid-stream")

    result = fab.sync("fabric://t/big", "fabric://t/mirror", progress=fail_midway, workers=1)
    assert not result.ok and calls["n"] >= 1
    assert not fab.fs.exists("fabric://t/mirror/obj.bin")
    leftovers = [p for p in fab.fs.find("fabric://t/mirror") if "skyfabric-partial" in p]
    assert leftovers == []
    result = fab.sync("fabric://t/big", "fabric://t/mirror")
    assert result.ok and len(result.copied) == 1
    assert fab.fs.cat_file("fabric://t/mirror/obj.bin") == data
