"""The obstore transport of cloud stores: the pin to fsspec, multipart uploads, writes that
fail midway, conditional writes, error mapping. Real servers only (moto, fake-gcs-server,
Azurite); the rest of tests/storage runs the same behaviour on every kind."""

from __future__ import annotations

import hashlib
import os
import pickle

import pytest

import skyfabric
from skyfabric.errors import (
    ObjectExistsError,
    ObjectNotFoundError,
    StoreUnreachableError,
)
from skyfabric.storage._obstore_fs import ObstoreFileSystem, obstore_addressable
from skyfabric.storage.transfer import _Digest

pytestmark = pytest.mark.xdist_group("servers")

CLOUD = ["s3", "minio", "gcs", "azure"]
# fake-gcs-server refuses obstore's XML-API writes (FINDINGS.md): a GCS store with an
# endpoint writes through gcsfs, so obstore-written objects exist on these kinds only.
OBSTORE_WRITES = ["s3", "minio", "azure"]


@pytest.fixture
def cloud(request: pytest.FixtureRequest, make_bucket) -> skyfabric.Fabric:
    """A Fabric with one fresh store ``t`` of the kind given by indirect parametrization."""
    return skyfabric.connect({"stores": {"t": make_bucket(request.param)}})


@pytest.mark.parametrize("cloud", CLOUD, indirect=True)
def test_cloud_stores_move_bytes_through_obstore(cloud) -> None:
    fab = cloud
    store = fab.store("t")
    assert store.uses_obstore and isinstance(store.io, ObstoreFileSystem)
    data = os.urandom(3 * 2**20 + 5)
    fab.fs.pipe_file("fabric://t/a/x.bin", data)
    assert fab.fs.cat_file("fabric://t/a/x.bin") == data
    assert fab.fs.cat_file("fabric://t/a/x.bin", start=10, end=20) == data[10:20]
    assert fab.fs.cat_file("fabric://t/a/x.bin", start=-7) == data[-7:]
    assert fab.fs.cat_ranges(["fabric://t/a/x.bin"] * 2, [0, 100], [5, 2**20]) == [
        data[:5], data[100 : 2**20]
    ]
    # the same object, seen through the store's fsspec client
    assert store.fs.cat_file(store.native_path("a/x.bin")) == data
    info = fab.fs.info("fabric://t/a/x.bin")
    assert info["size"] == len(data) and info["type"] == "file"


@pytest.mark.parametrize("cloud", CLOUD, indirect=True)
def test_transport_fsspec_pins_the_fsspec_client(cloud) -> None:
    fab = cloud
    cfg = dict(fab.config.stores["t"].model_dump(exclude_none=True), transport="fsspec")
    pinned = skyfabric.connect({"stores": {"t": cfg}})
    store = pinned.store("t")
    assert not store.uses_obstore and store.io is store.fs
    pinned.fs.pipe_file("fabric://t/p/x.bin", b"pinned")
    assert pinned.fs.cat_file("fabric://t/p/x.bin") == b"pinned"
    # and both transports read what the other wrote
    assert fab.fs.cat_file("fabric://t/p/x.bin") == b"pinned"
    assert pinned.ls("fabric://t/p") == ["t/p/x.bin"]


def test_transport_is_validated() -> None:
    with pytest.raises(skyfabric.errors.ConfigError, match="transport"):
        skyfabric.connect(
            {"stores": {"t": {"kind": "s3", "bucket": "abc", "transport": "boto"}}}
        )


@pytest.mark.parametrize("cloud", OBSTORE_WRITES, indirect=True)
def test_large_write_is_a_multipart_upload_with_the_expected_etag(cloud) -> None:
    fab = cloud
    data = os.urandom(20 * 2**20 + 3)
    with fab.open("fabric://t/mp/big.bin", "wb") as f:
        for i in range(0, len(data), 3 * 2**20):  # writes that do not align with parts
            f.write(data[i : i + 3 * 2**20])
    assert fab.fs.cat_file("fabric://t/mp/big.bin") == data
    if fab.store("t").kind != "azure":  # S3's multipart ETag: md5 of the parts' md5s, then -<parts>
        digest = _Digest()
        digest.update(data)
        etag = fab.fs.info("fabric://t/mp/big.bin")["ETag"].strip('"')
        assert etag == digest.multipart_etag() and etag.endswith("-3")


@pytest.mark.parametrize("cloud", OBSTORE_WRITES, indirect=True)
def test_write_failing_midway_leaves_nothing_under_the_name(cloud) -> None:
    fab = cloud
    fab.fs.pipe_file("fabric://t/w/old.bin", b"before")
    with pytest.raises(RuntimeError, match="producer failed"), fab.open(
        "fabric://t/w/new.bin", "wb"
    ) as f:
        f.write(os.urandom(12 * 2**20))  # parts already uploaded
        raise RuntimeError("producer failed")
    assert not fab.fs.exists("fabric://t/w/new.bin")
    with pytest.raises(RuntimeError), fab.open("fabric://t/w/old.bin", "wb") as f:
        f.write(b"half of the new content")
        raise RuntimeError("producer failed")
    assert fab.fs.cat_file("fabric://t/w/old.bin") == b"before"  # the old object stands
    assert fab.ls("fabric://t/w") == ["t/w/old.bin"]


@pytest.mark.parametrize("cloud", OBSTORE_WRITES, indirect=True)
def test_conditional_put_refuses_to_replace(cloud) -> None:
    fab = cloud
    fab.fs.pipe_file("fabric://t/c/once.txt", b"first", mode="create")
    with pytest.raises(ObjectExistsError, match="already exists"):
        fab.fs.pipe_file("fabric://t/c/once.txt", b"second", mode="create")
    with pytest.raises(FileExistsError):  # a builtin subclass, as fsspec users expect
        fab.fs.pipe_file("fabric://t/c/once.txt", b"second", mode="create")
    assert fab.fs.cat_file("fabric://t/c/once.txt") == b"first"


@pytest.mark.parametrize("cloud", CLOUD, indirect=True)
def test_missing_objects_map_to_object_not_found(cloud) -> None:
    fab = cloud
    io = fab.store("t").io
    native = fab.store("t").native_path("none/here.bin")
    for call in (io.info, io.cat_file, io.open):
        with pytest.raises(ObjectNotFoundError) as caught:
            call(native)
        assert isinstance(caught.value, FileNotFoundError)
    with pytest.raises(ObjectNotFoundError, match=r"fabric://t/none/here\.bin"):
        fab.fs.cat_file("fabric://t/none/here.bin")
    got = fab.fs.cat(["fabric://t/none/here.bin"], on_error="return")
    assert isinstance(got["t/none/here.bin"], ObjectNotFoundError)


def test_unreachable_endpoint_is_a_bounded_store_unreachable_error(tmp_path) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ["SF_TEST_DEAD_KEY"] = "dead-key-id"
    os.environ["SF_TEST_DEAD_SECRET"] = "dead-secret-value-1234"
    cfg = {
        "kind": "s3", "bucket": "nowhere", "endpoint": f"http://127.0.0.1:{port}",
        "access_key_env": "SF_TEST_DEAD_KEY", "secret_key_env": "SF_TEST_DEAD_SECRET",
    }  # fmt: skip
    fab = skyfabric.connect({"stores": {"t": cfg}})
    with pytest.raises(StoreUnreachableError) as caught:
        fab.fs.cat_file("fabric://t/x.bin")
    assert "dead-secret-value-1234" not in str(caught.value)
    assert "dead-secret-value-1234" not in repr(fab.store("t"))


@pytest.mark.parametrize("cloud", ["s3", "azure"], indirect=True)
def test_store_pickles_without_its_client_and_rebuilds_it(cloud) -> None:
    fab = cloud
    fab.fs.pipe_file("fabric://t/k.bin", b"k")
    assert fab.store("t").obstore is not None  # built
    again = pickle.loads(pickle.dumps(fab.fs))
    assert again.cat_file("fabric://t/k.bin") == b"k"
    assert pickle.loads(pickle.dumps(fab.store("t")))._obstore is None


@pytest.mark.parametrize("cloud", CLOUD, indirect=True)
def test_keys_obstore_cannot_address_go_through_fsspec(cloud) -> None:
    fab = cloud
    key = "odd/100%[x]~#.txt"
    assert not obstore_addressable(key)
    fab.fs.pipe_file(f"fabric://t/{key}", b"odd")
    assert fab.fs.cat_file(f"fabric://t/{key}") == b"odd"
    assert fab.store("t").fs.cat_file(fab.store("t").native_path(key)) == b"odd"
    assert f"t/{key}" in fab.fs.find("fabric://t/odd")


@pytest.mark.parametrize("cloud", ["s3", "azure", "gcs"], indirect=True)
def test_cross_store_copy_of_a_multipart_object_is_verified(cloud, make_bucket) -> None:
    fab = cloud
    cfg = {"t": fab.config.stores["t"].model_dump(exclude_none=True), "src": make_bucket("minio")}
    both = skyfabric.connect({"stores": cfg})
    data = os.urandom(17 * 2**20)
    both.fs.pipe_file("fabric://src/big.bin", data)
    result = both.copy("fabric://src/big.bin", "fabric://t/copied/big.bin")
    assert result.ok, result.to_dict()
    assert result.copied[0].md5 == hashlib.md5(data).hexdigest()
    assert both.fs.cat_file("fabric://t/copied/big.bin") == data
    assert both.ls("fabric://t/copied") == ["t/copied/big.bin"]  # no temporary left


@pytest.mark.parametrize("kind", ["s3", "azure"])
def test_storage_class_and_access_tier_are_sent_on_write(kind: str, make_bucket) -> None:
    cfg = make_bucket(kind)
    cfg.update({"storage_class": "STANDARD_IA"} if kind == "s3" else {"access_tier": "Cool"})
    fab = skyfabric.connect({"stores": {"t": cfg}})
    fab.fs.pipe_file("fabric://t/cls.bin", b"classy")
    with fab.open("fabric://t/cls-stream.bin", "wb") as f:
        f.write(b"streamed")
    store = fab.store("t")
    for key in ("cls.bin", "cls-stream.bin"):
        if kind == "s3":
            head = store.fs.call_s3("head_object", Bucket=cfg["bucket"], Key=key)
            assert head.get("StorageClass") == "STANDARD_IA"
        else:
            from azure.storage.blob import BlobServiceClient

            service = BlobServiceClient.from_connection_string(os.environ[cfg["connection_string_env"]])
            props = service.get_blob_client(cfg["container"], key).get_blob_properties()
            assert props.blob_tier == "Cool"


def test_copy_to_azure_is_one_put_whose_content_md5_azure_computed(make_bucket) -> None:
    fab = skyfabric.connect({"stores": {"src": make_bucket("s3"), "az": make_bucket("azure")}})
    data = os.urandom(9 * 2**20)  # more than one part, less than AzureStore.single_put_limit
    fab.fs.pipe_file("fabric://src/one.bin", data)
    result = fab.copy("fabric://src/one.bin", "fabric://az/one.bin")
    assert result.ok, result.to_dict()
    store = fab.store("az")
    settings = store.fs.info(store.native_path("one.bin"))["content_settings"]
    assert bytes(settings["content_md5"]).hex() == hashlib.md5(data).hexdigest()


@pytest.mark.parametrize("transport", ["obstore", "fsspec"])
def test_pyarrow_reads_through_the_stores_transport(transport: str, make_bucket) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    fab = skyfabric.connect({"stores": {"t": {**make_bucket("s3"), "transport": transport}}})
    with fab.open("fabric://t/d/x.parquet", "wb") as f:
        pq.write_table(pa.table({"a": [1, 2, 3]}), f)
    fs, path = fab.resolve("fabric://t/d/x.parquet").pyarrow_filesystem()
    assert fs.handler.fs is fab.store("t").io  # what drift checks read through
    assert isinstance(fs.handler.fs, ObstoreFileSystem) == (transport == "obstore")
    assert pq.read_table(path, filesystem=fs).column("a").to_pylist() == [1, 2, 3]
