"""The test servers work end to end through the raw client libraries (s3fs, gcsfs, adlfs).

These tests also pin down the client kwargs that work against each emulator
(:func:`servers.native_storage_options`): writes of more than one block (S3 multipart, GCS
resumable upload, Azure staged blocks) and listings longer than one page.
"""

from __future__ import annotations

import base64
import hashlib
import os
import urllib.request

import fsspec
import pytest

from servers import (
    AZURE_CONN_ENV,
    STORE_KINDS,
    ServerSet,
    native_storage_options,
)

pytestmark = pytest.mark.xdist_group("servers")

MiB = 2**20
BIG = os.urandom(6 * MiB)  # > 5 MiB: more than one part/chunk/block with block_size=5 MiB
BLOCK = 5 * MiB  # smallest S3 part size that moto (like AWS) accepts for a non-final part

PROTOCOL = {"s3": "s3", "gcs": "gcs", "azure": "abfs", "local": "file", "memory": "memory"}


def _fs_and_root(cfg: dict) -> tuple[fsspec.AbstractFileSystem, str]:
    """A fresh (uncached) raw fsspec filesystem for a store config, and the store's root path."""
    kind = cfg["kind"]
    fs = fsspec.filesystem(
        PROTOCOL[kind], skip_instance_cache=True, **native_storage_options(kind, cfg)
    )
    root = cfg.get("bucket") or cfg.get("container") or cfg.get("path") or f"/{cfg.get('root')}"
    return fs, str(root).rstrip("/")


def _write_in_pieces(fs: fsspec.AbstractFileSystem, path: str, data: bytes) -> None:
    # 1 MiB writes into a 5 MiB block: the client flushes a first part/chunk/block at 5 MiB and
    # the rest on close, so the > 5 MiB path of every client is exercised.
    with fs.open(path, "wb", block_size=BLOCK) as f:
        for start in range(0, len(data), MiB):
            f.write(data[start : start + MiB])


def test_environment_is_isolated(servers: ServerSet) -> None:
    import gcsfs

    assert os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] == "false"
    assert gcsfs.GCSFileSystem.__name__ == "GCSFileSystem"  # not the gRPC-probing Extended one
    assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "GOOGLE_APPLICATION_CREDENTIALS"):
        assert name not in os.environ
    assert os.environ[AZURE_CONN_ENV] == servers.azure_connection_string


def test_every_server_answers_on_loopback(servers: ServerSet) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    assert len({s.port for s in servers.all}) == 4
    for server in servers.all:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.proc is not None and server.proc.poll() is None
    with opener.open(f"{servers.gcs_endpoint}/storage/v1/b") as response:
        assert response.status == 200
    with opener.open(f"{servers.s3_endpoint}/moto-api/") as response:
        assert response.status == 200


def test_store_configs_are_valid_skyfabric_config(store_configs: dict[str, dict]) -> None:
    from skyfabric.config import config_from_dict

    assert set(store_configs) == set(STORE_KINDS)
    config = config_from_dict({"stores": store_configs})
    assert {name: store.kind for name, store in config.stores.items()} == {
        "s3": "s3",
        "minio": "s3",
        "gcs": "gcs",
        "azure": "azure",
        "local": "local",
        "memory": "memory",
    }
    assert store_configs["s3"]["endpoint"] != store_configs["minio"]["endpoint"]


@pytest.mark.parametrize("kind", ["s3", "minio"])
def test_s3fs_roundtrip_and_multipart(kind: str, make_bucket) -> None:
    cfg = make_bucket(kind)
    fs, bucket = _fs_and_root(cfg)
    fs.pipe_file(f"{bucket}/dir/small.txt", b"hello")
    _write_in_pieces(fs, f"{bucket}/dir/big.bin", BIG)
    assert fs.ls(f"{bucket}/dir", detail=False) == [
        f"{bucket}/dir/big.bin",
        f"{bucket}/dir/small.txt",
    ]
    assert fs.cat_file(f"{bucket}/dir/small.txt") == b"hello"
    assert fs.cat_file(f"{bucket}/dir/big.bin") == BIG
    info = fs.info(f"{bucket}/dir/big.bin")
    assert info["size"] == len(BIG)
    assert info["ETag"].strip('"').endswith("-2")  # a real 2-part multipart upload
    with fs.open(f"{bucket}/dir/big.bin", "rb") as f:  # ranged reads
        f.seek(5 * MiB + 3)
        assert f.read(10) == BIG[5 * MiB + 3 : 5 * MiB + 13]


def test_s3_endpoints_are_separate(make_bucket) -> None:
    aws = make_bucket("s3")
    onprem = make_bucket("minio", name=aws["bucket"])  # same name, other server: no clash
    fs_aws, bucket = _fs_and_root(aws)
    fs_onprem, _ = _fs_and_root(onprem)
    fs_aws.pipe_file(f"{bucket}/only-on-aws", b"x")
    assert fs_onprem.ls(bucket, detail=False) == []


def test_gcsfs_roundtrip_and_resumable_upload(make_bucket) -> None:
    cfg = make_bucket("gcs")
    fs, bucket = _fs_and_root(cfg)
    fs.pipe_file(f"{bucket}/dir/small.txt", b"hello")
    _write_in_pieces(fs, f"{bucket}/dir/big.bin", BIG)
    assert fs.ls(f"{bucket}/dir", detail=False) == [
        f"{bucket}/dir/big.bin",
        f"{bucket}/dir/small.txt",
    ]
    assert fs.cat_file(f"{bucket}/dir/small.txt") == b"hello"
    assert fs.cat_file(f"{bucket}/dir/big.bin") == BIG
    info = fs.info(f"{bucket}/dir/big.bin")
    assert info["size"] == len(BIG)

    assert base64.b64decode(info["md5Hash"]) == hashlib.md5(BIG).digest()
    assert (
        fs.cat_file(f"{bucket}/dir/big.bin", start=5 * MiB, end=5 * MiB + 4)
        == BIG[5 * MiB : 5 * MiB + 4]
    )


def test_adlfs_roundtrip_and_staged_blocks(make_bucket) -> None:
    from azure.storage.blob import BlobServiceClient

    cfg = make_bucket("azure")
    fs, container = _fs_and_root(cfg)
    fs.pipe_file(f"{container}/dir/small.txt", b"hello")
    _write_in_pieces(fs, f"{container}/dir/big.bin", BIG)
    assert fs.ls(f"{container}/dir", detail=False) == [
        f"{container}/dir/big.bin",
        f"{container}/dir/small.txt",
    ]
    assert fs.cat_file(f"{container}/dir/small.txt") == b"hello"
    assert fs.cat_file(f"{container}/dir/big.bin") == BIG
    assert fs.info(f"{container}/dir/big.bin")["size"] == len(BIG)
    blob = BlobServiceClient.from_connection_string(os.environ[AZURE_CONN_ENV]).get_blob_client(
        container, "dir/big.bin"
    )
    committed, _ = blob.get_block_list("committed")
    assert len(committed) == 2  # written as two staged blocks, then committed


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_local_and_memory_stores(kind: str, make_bucket) -> None:
    cfg = make_bucket(kind)
    fs, root = _fs_and_root(cfg)
    fs.pipe_file(f"{root}/dir/big.bin", BIG)
    assert fs.cat_file(f"{root}/dir/big.bin") == BIG
    assert fs.ls(f"{root}/dir", detail=False) == [f"{root}/dir/big.bin"]
    _, other_root = _fs_and_root(make_bucket(kind))
    assert other_root != root


def test_fresh_store_config_is_empty_and_private(fresh_store_config: dict, make_bucket) -> None:
    fs, root = _fs_and_root(fresh_store_config)
    assert fs.find(root) == []
    fs.pipe_file(f"{root}/mine.txt", b"1")
    neighbour = make_bucket("minio" if fresh_store_config["kind"] == "s3" else "memory")
    fs2, root2 = _fs_and_root(neighbour)
    assert fs2.find(root2) == []


@pytest.mark.parametrize("fresh_store", ["gcs"], indirect=True)
def test_fresh_store_indirect(fresh_store: dict) -> None:
    assert fresh_store["kind"] == "gcs" and fresh_store["bucket"].startswith("sf-gcs-")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["s3", "gcs", "azure"])
def test_listing_longer_than_one_page(kind: str, make_bucket) -> None:
    n = 1005  # S3 and GCS list at most 1000 per page
    cfg = make_bucket(kind)
    fs, root = _fs_and_root(cfg)
    fs.pipe({f"{root}/many/{i:05d}.txt": b"x" for i in range(n)})
    fs.invalidate_cache()
    listed = fs.ls(f"{root}/many", detail=False)
    assert len(listed) == n and listed[-1] == f"{root}/many/{n - 1:05d}.txt"
    assert len(fs.find(root)) == n
    if kind == "azure":
        # Azure pages hold up to 5000, so adlfs fetched one page above; check that Azurite
        # really pages (maxresults + NextMarker), as the azure SDK under adlfs relies on it.
        from azure.storage.blob import ContainerClient

        client = ContainerClient.from_connection_string(os.environ[AZURE_CONN_ENV], root)
        pages = list(client.list_blobs(name_starts_with="many/", results_per_page=400).by_page())
        assert len(pages) == 3
