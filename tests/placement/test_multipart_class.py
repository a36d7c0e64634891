"""S3 in-place class changes of objects over the single-CopyObject limit: the multipart copy
path, run on small objects against moto server by lowering the module's threshold."""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest
from placement_data import later, md5

from skyfabric.placement import StorageClassError
from skyfabric.placement.classes import part_ranges, read_class, set_class
from skyfabric.storage.kinds import _s3_classes as classes  # the S3 kind's class-change knobs

pytestmark = pytest.mark.xdist_group("servers")

MiB = 2**20


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every object takes the multipart path, in 5 MiB parts (S3's smallest but the last)."""
    monkeypatch.setattr(classes, "S3_MULTIPART_THRESHOLD", 0)
    monkeypatch.setattr(classes, "S3_PART_SIZE", 5 * MiB)


def _put(store: Any, key: str, data: bytes) -> str:
    bucket, native = store.config.bucket, store.native_path(key)
    store.fs.call_s3(
        "put_object",
        Bucket=bucket,
        Key=native.partition("/")[2],
        Body=data,
        ContentType="application/x-parquet",
        CacheControl="max-age=60",
        Metadata={"owner": "telemetry", "schema": "v3"},
        Tagging="team=ml&tier=hot",
    )
    return native


def _head(store: Any, native: str) -> dict[str, Any]:
    bucket, _, key = native.partition("/")
    return store.fs.call_s3("head_object", Bucket=bucket, Key=key)


def _uploads(store: Any) -> list[dict[str, Any]]:
    out = store.fs.call_s3("list_multipart_uploads", Bucket=store.config.bucket)
    return out.get("Uploads") or []


def test_part_ranges_cover_the_object() -> None:
    assert part_ranges(12, 5) == [(1, 0, 4), (2, 5, 9), (3, 10, 11)]
    assert part_ranges(10, 5) == [(1, 0, 4), (2, 5, 9)]
    big = 5 * 2**40  # 5 TiB, S3's largest object: parts grow so there are at most 10,000
    ranges = part_ranges(big, 512 * MiB)
    assert len(ranges) <= 10_000 and ranges[-1][2] == big - 1
    assert all(b + 1 == c for (_, _, b), (_, c, _) in itertools.pairwise(ranges))


@pytest.mark.parametrize("kind", ["s3", "minio"])
def test_multipart_class_change_keeps_bytes_metadata_and_tags(
    kind: str, small_parts: None, make_bucket, make_placement
) -> None:
    fab, _ = make_placement({"a": make_bucket(kind)}, [])
    store = fab.store("a")
    data = os.urandom(11 * MiB + 12345)  # three parts: 5 MiB, 5 MiB, 1 MiB + 12345 bytes
    native = _put(store, "big/one.parquet", data)
    before = _head(store, native)
    set_class(store, native, "STANDARD_IA", len(data))
    after = _head(store, native)
    assert read_class(store, native) == "STANDARD_IA"
    assert after["ContentLength"] == len(data)
    assert after["ETag"].strip('"').endswith("-3")  # a composite ETag: it went multipart
    assert md5(fab.fs.cat_file("fabric://a/big/one.parquet")) == md5(data)
    assert after["ContentType"] == before["ContentType"] == "application/x-parquet"
    assert after.get("CacheControl") == "max-age=60"
    assert after["Metadata"] == {"owner": "telemetry", "schema": "v3"}
    bucket, _, key = native.partition("/")
    tags = store.fs.call_s3("get_object_tagging", Bucket=bucket, Key=key)["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "ml", "tier": "hot"}
    assert _uploads(store) == []


def test_failed_part_aborts_and_keeps_the_object(
    small_parts: None, make_bucket, make_placement, monkeypatch: pytest.MonkeyPatch
) -> None:
    fab, _ = make_placement({"a": make_bucket("s3")}, [])
    store = fab.store("a")
    data = os.urandom(11 * MiB)
    native = _put(store, "big/one.parquet", data)
    before = _head(store, native)
    real = classes._upload_part_copy

    async def second_part_fails(fs: Any, **params: Any) -> dict[str, Any]:
        if params["PartNumber"] == 2:
            raise ConnectionResetError("connection reset by peer during UploadPartCopy")
        return await real(fs, **params)  # the other parts go to the server

    monkeypatch.setattr(classes, "_upload_part_copy", second_part_fails)
    with pytest.raises(StorageClassError, match="aborted, the object is unchanged"):
        set_class(store, native, "GLACIER_IR", len(data))
    assert _uploads(store) == []  # aborted on the server, no parts left billed
    after = _head(store, native)
    assert after["ETag"] == before["ETag"] and after["ContentLength"] == len(data)
    assert read_class(store, native) == "STANDARD"
    assert md5(fab.fs.cat_file("fabric://a/big/one.parquet")) == md5(data)


def test_server_refusing_the_upload_aborts_it(
    make_bucket, make_placement, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1 MiB parts are below S3's 5 MiB minimum: the server refuses CompleteMultipartUpload.
    monkeypatch.setattr(classes, "S3_MULTIPART_THRESHOLD", 0)
    monkeypatch.setattr(classes, "S3_PART_SIZE", MiB)
    fab, _ = make_placement({"a": make_bucket("minio")}, [])
    store = fab.store("a")
    data = os.urandom(3 * MiB)
    native = _put(store, "big/one.parquet", data)
    before = _head(store, native)
    with pytest.raises(StorageClassError, match="3 parts"):
        set_class(store, native, "STANDARD_IA", len(data))
    assert _uploads(store) == []
    assert _head(store, native)["ETag"] == before["ETag"]
    assert read_class(store, native) == "STANDARD"
    assert md5(fab.fs.cat_file("fabric://a/big/one.parquet")) == md5(data)


IA_BIG = {
    "name": "ia",
    "match": "fabric://a/big/**",
    "older_than": "30d",
    "storage_class": "STANDARD_IA",
}
"""The rule of the mover tests: objects under big/ older than 30 days go to STANDARD_IA."""


def test_mover_changes_class_of_a_multipart_uploaded_object(
    small_parts: None, make_bucket, make_placement
) -> None:
    """Objects over 5 GiB were themselves uploaded in parts, so they have no MD5 ETag before
    or after the change: the mover's size/MD5/class check passes and the move is audited."""
    fab, placement = make_placement({"a": make_bucket("s3")}, [IA_BIG])
    data = os.urandom(11 * MiB)
    with fab.fs.open("fabric://a/big/one.bin", "wb", block_size=5 * MiB) as f:
        f.write(data)  # s3fs uploads it in parts, as anything over 5 GiB must be
    store = fab.store("a")
    native = store.native_path("big/one.bin")
    assert "-" in _head(store, native)["ETag"]
    plan = placement.plan(now=later())
    assert [(m.action, m.dst_class) for m in plan.moves] == [("class", "STANDARD_IA")]
    result = placement.apply(plan)
    assert result.ok, result.failed
    assert read_class(store, native) == "STANDARD_IA"
    assert md5(fab.fs.cat_file("fabric://a/big/one.bin")) == md5(data)
    assert [r["dst_class"] for r in placement.log()] == ["STANDARD_IA"]
    assert placement.plan(now=later()).moves == []


def test_mover_changes_class_of_a_single_put_object_over_the_threshold(
    small_parts: None, make_bucket, make_placement
) -> None:
    """An object with an MD5 ETag that goes multipart (only possible with the threshold
    lowered below 5 GiB) ends with a composite ETag: the mover compares MD5s only where both
    sides publish one, and the size."""
    fab, placement = make_placement({"a": make_bucket("s3")}, [IA_BIG])
    data = os.urandom(6 * MiB)
    fab.fs.pipe_file("fabric://a/big/one.bin", data)
    result = placement.apply(placement.plan(now=later()))
    assert result.ok, result.failed
    store = fab.store("a")
    assert read_class(store, store.native_path("big/one.bin")) == "STANDARD_IA"
    assert md5(fab.fs.cat_file("fabric://a/big/one.bin")) == md5(data)


def test_single_copy_keeps_the_kms_key(make_bucket, make_placement) -> None:
    fab, _ = make_placement({"a": make_bucket("s3")}, [])
    store = fab.store("a")
    native = store.native_path("k/enc.bin")
    bucket, _, key = native.partition("/")
    store.fs.call_s3(
        "put_object",
        Bucket=bucket,
        Key=key,
        Body=b"secret rows",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId="arn:aws:kms:us-east-1:123456789012:key/team-ml",
    )
    set_class(store, native, "STANDARD_IA", 11)
    head = _head(store, native)
    assert head["StorageClass"] == "STANDARD_IA"
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith("key/team-ml")
