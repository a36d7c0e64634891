"""fabric:// against obstore used directly and against s3fs, on emulators started here.

Four parts (``--parts io,copy,drift,local``), every case run ``--repeat`` times with the sides
interleaved (the order alternates between rounds), best time kept, ratios printed:

- ``io``: one moto server. Write and read ``--mb`` MB as one object and as ``--objects``
  objects, through ``fabric://`` (a store with the default obstore transport), through
  obstore directly (``obstore.put``/``get``, ``put_async``/``get_async`` gathered), and
  through a bare ``s3fs.S3FileSystem``. Target: fabric <= 1.2x obstore.
- ``copy``: ``--copy-mb`` MB in objects of ``--object-mb`` MB, from the S3 server to
  fake-gcs-server and to Azurite: ``Fabric.copy(recursive=True)`` (streamed, verified size +
  MD5, temporary name then server-side rename) against the obstore equivalent (each object
  streamed ``get_async`` -> ``put_async``, 8 at once, unverified). fake-gcs-server refuses obstore's
  XML-API writes (FINDINGS.md), so no obstore-only copy to GCS exists here: the GCS peer is
  what is possible, obstore ``get`` streamed into a gcsfs writer, which is also what
  fabric:// does for a GCS store with an emulator endpoint. Target: <= 1.3x.
- ``drift``: ``--parquet-mb`` MB of parquet (``bench_drift.make_file``) on the S3 server; a
  whole drift check (``skyfabric.drift.check`` of 8 columns, local engine) against pyarrow's
  own ``S3FileSystem`` reading the same columns in batches. Target: <= 1.3x.

- ``local``: a ``local`` store through ``fabric://`` (fsspec) against obstore's
  ``LocalStore`` on the same disk, the measurement behind keeping fsspec for local stores.

Peak RSS: each run is sampled every 5 ms (psutil) and the growth over the run's start is
reported (MB, the largest over the rounds): a 200 MB read holding two copies of the object
shows ~400. ``--quick`` runs every part at a size that finishes in a few minutes on 2 CPUs.

    python benchmarks/bench_storage.py [--quick] [--parts io,copy,drift,local] [--mb 200]
        [--objects 1000] [--copy-mb 1024] [--object-mb 64] [--parquet-mb 1024] [--repeat 3]
        [--access-rule]

The emulators are not object stores (moto copies whole objects in Python, all share the 2
CPUs with the client): read the ratios between sides, not the speeds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from servers import (  # noqa: E402
    AZURE_CONN_ENV,
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    S3_KEY_ENV,
    S3_REGION,
    S3_SECRET_ENV,
    AzuriteServer,
    FakeGCSServer,
    MotoServer,
    isolate_environment,
    start_all,
    stop_all,
)

MB = 10**6


class PeakRSS:
    """Largest growth of this process's RSS (bytes) while the block runs, sampled every 5 ms."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self.peak = 0

    def __enter__(self) -> PeakRSS:
        self._start = self._proc.memory_info().rss
        self._stop = threading.Event()

        def sample() -> None:
            while not self._stop.wait(0.005):
                self.peak = max(self.peak, self._proc.memory_info().rss - self._start)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss - self._start)


def measure(sides: dict[str, Callable[[int], object]], repeat: int) -> dict[str, tuple[float, int]]:
    """Best seconds and largest RSS growth of each side; ``fn(round)`` runs one round."""
    best: dict[str, tuple[float, int]] = {name: (float("inf"), 0) for name in sides}
    names = list(sides)
    for r in range(repeat):
        for name in names if r % 2 == 0 else names[::-1]:
            with PeakRSS() as rss:
                start = time.perf_counter()
                sides[name](r)
                took = time.perf_counter() - start
            t, m = best[name]
            best[name] = (min(t, took), max(m, rss.peak))
    return best


def report(label: str, got: dict[str, tuple[float, int]], target: float, base: str) -> float:
    """One table line per case; returns fabric / ``base``."""
    cells = "  ".join(f"{name} {t:7.3f}s {m / MB:6.0f}MB" for name, (t, m) in got.items())
    ratio = got["fabric"][0] / got[base][0]
    others = "  ".join(
        f"fabric/{n} {got['fabric'][0] / t:5.2f}x" for n, (t, _) in got.items() if n != "fabric"
    )
    flag = "ok" if ratio <= target else f"OVER {target}x"
    print(f"{label:<34} {cells}  {others}  [{flag}]", flush=True)
    return ratio


def new_s3_store(moto: MotoServer, label: str) -> tuple[str, dict[str, Any]]:
    """A new bucket on ``moto`` and the fabric store config (TOML shape) naming it."""
    from servers import create_s3_bucket

    bucket = f"bench-{label}-{uuid.uuid4().hex[:8]}"
    create_s3_bucket(moto.url, bucket)
    cfg = {
        "kind": "s3", "bucket": bucket, "endpoint": moto.url, "region": S3_REGION,
        "access_key_env": S3_KEY_ENV, "secret_key_env": S3_SECRET_ENV,
    }  # fmt: skip
    return bucket, cfg


# -- io ----------------------------------------------------------------------------------------


def part_io(args: argparse.Namespace, moto: MotoServer) -> list[tuple[str, float, float]]:
    import obstore as obs
    import s3fs
    from obstore.store import S3Store

    import skyfabric

    bucket, cfg = new_s3_store(moto, "io")
    config: dict[str, Any] = {"stores": {"lake": cfg}}
    if args.access_rule:  # every fabric read also goes through the placement access log
        idle = {"name": "idle", "match": "fabric://lake/**", "not_accessed_for": "30d"}
        config["placement"] = {
            "state_dir": tempfile.mkdtemp(prefix="bench-placement-"),
            "rules": [{**idle, "storage_class": "STANDARD_IA"}],
        }
    fs = skyfabric.connect(config).fs
    raw = s3fs.S3FileSystem(
        key=os.environ[S3_KEY_ENV], secret=os.environ[S3_SECRET_ENV], endpoint_url=moto.url,
        client_kwargs={"region_name": S3_REGION}, config_kwargs={"s3": {"addressing_style": "path"}},
        skip_instance_cache=True, use_listings_cache=False,
    )  # fmt: skip
    direct = S3Store(
        bucket, endpoint=moto.url, region=S3_REGION, access_key_id=os.environ[S3_KEY_ENV],
        secret_access_key=os.environ[S3_SECRET_ENV], virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )  # fmt: skip
    total = args.mb * MB
    big = os.urandom(total)
    size = total // args.objects
    small = [big[i * size : (i + 1) * size] for i in range(args.objects)]
    keys = [f"{{}}/many/{i:05d}" for i in range(args.objects)]

    async def gather_put(prefix: str) -> None:
        await asyncio.gather(*(obs.put_async(direct, k.format(prefix), d) for k, d in zip(keys, small, strict=True)))

    async def gather_get(prefix: str) -> list[Any]:
        return await asyncio.gather(*(obs.get_async(direct, k.format(prefix)) for k in keys))

    async def gather_bytes(prefix: str) -> None:
        results = await gather_get(prefix)
        await asyncio.gather(*(r.bytes_async() for r in results))

    def fab_write_one(r: int) -> None:
        with fs.open("fabric://lake/fab/one.bin", "wb") as f:
            f.write(big)

    def fab_read_one(r: int) -> None:
        with fs.open("fabric://lake/fab/one.bin", "rb") as f:
            assert len(f.read()) == total

    def s3fs_write_one(r: int) -> None:
        with raw.open(f"{bucket}/s3fs/one.bin", "wb") as f:
            f.write(big)

    def s3fs_read_one(r: int) -> None:
        with raw.open(f"{bucket}/s3fs/one.bin", "rb") as f:
            assert len(f.read()) == total

    cases = [
        (f"write {args.mb} MB as 1 object", {
            "fabric": fab_write_one,
            "obstore": lambda r: obs.put(direct, "obs/one.bin", big),
            "s3fs": s3fs_write_one,
        }),
        (f"read  {args.mb} MB as 1 object", {
            "fabric": fab_read_one,
            "obstore": lambda r: len(obs.get(direct, "obs/one.bin").bytes()),
            "s3fs": s3fs_read_one,
            # what it costs a caller of obstore to hold the object as Python bytes
            "obstore-bytes": lambda r: len(bytes(obs.get(direct, "obs/one.bin").bytes())),
        }),
        (f"write {args.mb} MB as {args.objects} objects", {
            "fabric": lambda r: fs.pipe({"fabric://lake/" + k.format("fab"): d for k, d in zip(keys, small, strict=True)}),
            "obstore": lambda r: asyncio.run(gather_put("obs")),
            "s3fs": lambda r: raw.pipe({f"{bucket}/" + k.format("s3fs"): d for k, d in zip(keys, small, strict=True)}),
        }),
        (f"read  {args.mb} MB as {args.objects} objects", {
            "fabric": lambda r: fs.cat(["fabric://lake/" + k.format("fab") for k in keys]),
            "obstore": lambda r: asyncio.run(gather_bytes("obs")),
            "s3fs": lambda r: raw.cat([f"{bucket}/" + k.format("s3fs") for k in keys]),
        }),
    ]  # fmt: skip
    print(f"\n== io: one moto server, best of {args.repeat}, RSS = peak growth during a run")
    out = []
    for label, sides in cases:
        got = measure(sides, args.repeat)
        ratio = report(label, got, 1.2, "obstore")
        out.append((label, ratio, 1.2))
        if label.startswith("read") and "1 object" in label:
            copies = got["fabric"][1] / total
            print(f"{'':<34} fabric read held {copies:.2f} copies of the object (target <= 2)")
            out.append(("copies held by a 1-object read", copies, 2.0))
    return out


# -- cross-store copy --------------------------------------------------------------------------


def part_copy(
    args: argparse.Namespace, moto: MotoServer, gcs: FakeGCSServer, azure: AzuriteServer
) -> list[tuple[str, float, float]]:
    import gcsfs
    import obstore as obs
    from obstore.store import AzureStore, S3Store

    import skyfabric
    from servers import create_azure_container, create_gcs_bucket, create_s3_bucket

    name = f"bench-copy-{uuid.uuid4().hex[:8]}"
    create_s3_bucket(moto.url, name)
    create_gcs_bucket(gcs.url, name)
    create_azure_container(azure.connection_string, name)
    os.environ[AZURE_CONN_ENV] = azure.connection_string
    stores = {
        "s3": {"kind": "s3", "bucket": name, "endpoint": moto.url, "region": S3_REGION,
               "access_key_env": S3_KEY_ENV, "secret_key_env": S3_SECRET_ENV},
        "gcs": {"kind": "gcs", "bucket": name, "endpoint": gcs.url, "anonymous": True, "project": "test"},
        "az": {"kind": "azure", "container": name, "connection_string_env": AZURE_CONN_ENV,
               "endpoint": azure.blob_endpoint},
    }  # fmt: skip
    fab = skyfabric.connect({"stores": stores})
    n = max(1, args.copy_mb // args.object_mb)
    obj = args.object_mb * MB
    payload = os.urandom(obj)
    src = S3Store(
        name, endpoint=moto.url, region=S3_REGION, access_key_id=os.environ[S3_KEY_ENV],
        secret_access_key=os.environ[S3_SECRET_ENV], virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )  # fmt: skip
    for i in range(n):  # distinct objects: the last 8 bytes differ
        obs.put(src, f"src/{i:03d}.bin", payload[:-8] + i.to_bytes(8, "big"))
    az = AzureStore(
        name, account_name=AZURITE_ACCOUNT, account_key=AZURITE_KEY,
        endpoint=azure.blob_endpoint, client_options={"allow_http": True},
    )  # fmt: skip
    gfs = gcsfs.GCSFileSystem(endpoint_url=gcs.url, token="anon", project="test")
    keys = [f"src/{i:03d}.bin" for i in range(n)]
    chunk = 8 * 2**20

    def obstore_to_azure(r: int) -> None:
        # obstore's own streamed copy: a get's stream handed to put_async, 8 objects at once
        async def run() -> None:
            gate = asyncio.Semaphore(8)

            async def one(key: str) -> None:
                async with gate:
                    got = await obs.get_async(src, key)
                    await obs.put_async(az, f"obs-{r}/{key}", got.stream(chunk), chunk_size=chunk)

            await asyncio.gather(*(one(k) for k in keys))

        asyncio.run(run())

    def obstore_to_gcsfs(r: int) -> None:
        def one(key: str) -> None:
            with gfs.open(f"{name}/obs-{r}/{key}", "wb", block_size=chunk) as f:
                for piece in obs.get(src, key).stream(min_chunk_size=chunk):
                    f.write(piece)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, keys))

    def fabric_to(store: str) -> Callable[[int], None]:
        def run(r: int) -> None:
            result = fab.copy("fabric://s3/src", f"fabric://{store}/fab-{r}", recursive=True)
            assert result.ok and len(result.copied) == n, result.to_dict()

        return run

    print(f"\n== copy: {n} objects of {args.object_mb} MB from moto S3, best of {args.repeat}")
    out = []
    got = measure({"fabric": fabric_to("az"), "obstore": obstore_to_azure}, args.repeat)
    out.append(("copy S3 -> Azure", report("copy S3 -> Azure (Azurite)", got, 1.3, "obstore"), 1.3))
    got = measure({"fabric": fabric_to("gcs"), "obstore+gcsfs": obstore_to_gcsfs}, args.repeat)
    label = "copy S3 -> GCS (fake-gcs)"
    out.append((label, report(label, got, 1.3, "obstore+gcsfs"), 1.3))
    print(
        f"{'':<34} (fake-gcs-server refuses obstore's writes: the GCS peer is obstore get + "
        "gcsfs write, what fabric:// also does on an emulator endpoint)"
    )
    return out


# -- drift check over parquet ------------------------------------------------------------------


def part_drift(args: argparse.Namespace, moto: MotoServer) -> list[tuple[str, float, float]]:
    import pyarrow.dataset as pads
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq
    from bench_drift import BATCH_SIZE, COLUMNS, make_file

    import skyfabric
    from skyfabric.drift import check, fit_baseline
    from skyfabric.drift.histogram import load_kernels

    bucket, cfg = new_s3_store(moto, "drift")
    disk = Path(tempfile.mkdtemp(prefix="bench-drift-local-"))
    fab = skyfabric.connect({"stores": {"lake": cfg, "disk": {"kind": "local", "path": str(disk)}}})
    rows_per_mb = 2_000_000 / 110  # make_file: ~110 MB per 2 M rows
    files = max(1, round(args.parquet_mb / 110))
    rows = int(args.parquet_mb * rows_per_mb / files)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(files):
            path = Path(tmp) / f"part-{i}.parquet"
            make_file(path, seed=i, rows=rows)
            fab.fs.put_file(str(path), f"fabric://lake/drift/part-{i}.parquet")
            fab.fs.put_file(str(path), f"fabric://disk/drift/part-{i}.parquet")
        ref = Path(tmp) / "ref.parquet"
        make_file(ref, seed=999, rows=200_000)
        base = fit_baseline(pq.read_table(ref), COLUMNS, bins=10)
    size = sum(e["size"] for e in fab.fs.ls("fabric://lake/drift", detail=True))
    url = "fabric://lake/drift/"
    load_kernels(base.templates(), fab.dataset(url).schema)  # numba's set-up, off the clock
    native = pafs.S3FileSystem(
        access_key=os.environ[S3_KEY_ENV], secret_key=os.environ[S3_SECRET_ENV],
        endpoint_override=moto.url, scheme="http", region=S3_REGION,
    )  # fmt: skip

    def fabric_check(r: int) -> None:
        assert check(base, url, fabric=fab, batch_size=BATCH_SIZE).rows == rows * files

    def pyarrow_read(r: int) -> None:
        data = pads.dataset(f"{bucket}/drift/", filesystem=native, format="parquet")
        got = sum(b.num_rows for b in data.to_batches(columns=COLUMNS, batch_size=BATCH_SIZE))
        assert got == rows * files

    print(f"\n== drift: check of {len(COLUMNS)} columns over {files} files, {size / MB:.0f} MB "
          f"of parquet on moto S3, best of {args.repeat}")  # fmt: skip
    def local_check(r: int) -> None:
        assert check(base, "fabric://disk/drift/", fabric=fab, batch_size=BATCH_SIZE).rows

    sides = {"fabric": fabric_check, "pyarrow": pyarrow_read, "check-on-disk": local_check}
    got = measure(sides, args.repeat)
    label = "drift check vs pyarrow S3 read"
    ratio = report(label, got, 1.3, "pyarrow")
    print(f"{'':<34} (check-on-disk: the same check over the same files on local disk, the "
          "compute a check adds to reading)")  # fmt: skip
    import shutil

    shutil.rmtree(disk, ignore_errors=True)
    return [(label, ratio, 1.3)]


# -- local disk: is obstore worth it there? -----------------------------------------------------


def part_local(args: argparse.Namespace) -> list[tuple[str, float, float]]:
    """A ``local`` store through fabric:// (fsspec's LocalFileSystem) against obstore's
    ``LocalStore`` on the same disk: fabric keeps fsspec for local stores while this
    shows obstore no faster (ratios <= 1 mean fabric is as fast or faster)."""
    import shutil

    import obstore as obs
    from obstore.store import LocalStore

    import skyfabric

    root = tempfile.mkdtemp(prefix="bench-local-")
    fs = skyfabric.connect({"stores": {"disk": {"kind": "local", "path": root}}}).fs
    direct = LocalStore(root, mkdir=True)
    total = args.mb * MB
    big = os.urandom(total)
    size = total // args.objects
    small = [big[i * size : (i + 1) * size] for i in range(args.objects)]
    cases = [
        (f"local write {args.mb} MB, 1 object", {
            "fabric": lambda r: fs.pipe_file("fabric://disk/fab/one.bin", big),
            "obstore": lambda r: obs.put(direct, "obs/one.bin", big),
        }),
        (f"local read  {args.mb} MB, 1 object", {
            "fabric": lambda r: fs.cat_file("fabric://disk/fab/one.bin"),
            "obstore": lambda r: bytes(obs.get(direct, "obs/one.bin").bytes()),
        }),
        (f"local write {args.objects} objects", {
            "fabric": lambda r: fs.pipe({f"fabric://disk/fab/m/{i}": d for i, d in enumerate(small)}),
            "obstore": lambda r: [obs.put(direct, f"obs/m/{i}", d) for i, d in enumerate(small)],
        }),
        (f"local read  {args.objects} objects", {
            "fabric": lambda r: fs.cat([f"fabric://disk/fab/m/{i}" for i in range(args.objects)]),
            "obstore": lambda r: [bytes(obs.get(direct, f"obs/m/{i}").bytes()) for i in range(args.objects)],
        }),
    ]  # fmt: skip
    print(f"\n== local: fabric:// (fsspec) vs obstore LocalStore, best of {args.repeat}")
    out = []
    try:
        for label, sides in cases:
            got = measure(sides, args.repeat)
            out.append((label, report(label, got, 1.2, "obstore"), 1.2))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a few minutes on 2 CPUs")
    parser.add_argument("--parts", default="io,copy,drift,local")
    parser.add_argument("--mb", type=int, default=200, help="MB per io case")
    parser.add_argument("--objects", type=int, default=1000, help="objects of the many-object case")
    parser.add_argument("--copy-mb", type=int, default=1024, help="MB copied across stores")
    parser.add_argument("--object-mb", type=int, default=64, help="MB per copied object")
    parser.add_argument("--parquet-mb", type=int, default=1024, help="MB of parquet checked")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--access-rule", action="store_true",
        help="io: a not_accessed_for rule covers the store, so fabric reads are access-logged",
    )  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.mb, args.objects, args.copy_mb, args.parquet_mb = 100, 500, 256, 220
    parts = set(args.parts.split(","))

    isolate_environment()
    moto, gcs, azure = MotoServer(label="moto-s3"), FakeGCSServer(), AzuriteServer()
    servers = [moto] + ([gcs, azure] if "copy" in parts else [])
    start_all(servers)
    results: list[tuple[str, float, float]] = []
    try:
        if "io" in parts:
            results += part_io(args, moto)
        if "copy" in parts:
            results += part_copy(args, moto, gcs, azure)
        if "drift" in parts:
            results += part_drift(args, moto)
        if "local" in parts:
            results += part_local(args)
    finally:
        stop_all(servers)
    print("\n== summary (fabric / peer, target)")
    for label, ratio, target in results:
        print(f"{label:<34} {ratio:5.2f}  <= {target}  {'ok' if ratio <= target else 'OVER'}")


if __name__ == "__main__":
    main()
