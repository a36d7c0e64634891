"""Placement speed: objects/second planned, bytes/second moved, against plain fsspec baselines.

- **plan**: ``--plan-objects`` objects (default 100,000) in a memory store, two rules;
  ``Placement.plan()`` against a bare ``fs.find(detail=True)`` listing of the same objects
  (planning is listing-bound; the ratio shows what rule matching and pricing add).
- **move**: ``--objects`` objects of ``--kb`` kB moved between two local moto S3 servers
  (a "hot" on-prem endpoint and a "cold" one) by ``Placement.apply`` (copy to a temporary
  name, MD5-verify, rename, journal with fsync, switch, delete) with 1 and with ``--workers``
  workers, against a plain fsspec loop (``cat_file`` -> ``pipe_file`` -> ``rm_file``, no
  verification, no journal) over the same objects. Each side gets fresh objects each run;
  best of ``--repeat``.

    python benchmarks/bench_placement.py [--plan-objects 100000] [--objects 200] [--kb 256]
        [--workers 8] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from servers import S3_KEY_ENV, S3_SECRET_ENV, MotoServer, create_s3_bucket, isolate_environment

LATER = 40 * 86400.0
RULE = {"name": "cold", "match": "fabric://hot/t/**", "older_than": "30d", "target": "cold"}


def bench_plan(n: int) -> None:
    import skyfabric
    from skyfabric.placement import Placement

    root = f"bench-{uuid.uuid4().hex[:6]}"
    fab = skyfabric.connect(
        {
            "stores": {
                "hot": {"kind": "memory", "root": root},
                "cold": {"kind": "memory", "root": root + "c"},
            }
        }
    )
    native = fab.store("hot").fs
    for i in range(n):
        native.pipe_file(f"/{root}/t/{i // 1000:04d}/{i:07d}.bin", b"x")
    rules = [RULE, {**RULE, "name": "first", "match": "fabric://hot/t/00*/**", "priority": 1}]
    placement = Placement(fab, {"rules": rules}, state_dir=tempfile.mkdtemp())
    start = time.perf_counter()
    listed = native.find(f"/{root}/t", detail=True)
    t_list = time.perf_counter() - start
    start = time.perf_counter()
    plan = placement.plan(now=time.time() + LATER)
    t_plan = time.perf_counter() - start
    start = time.perf_counter()
    plan.render(limit=20)
    t_print = time.perf_counter() - start
    assert len(plan.moves) == len(listed) == n
    print(
        f"plan {n} objects: {t_plan:.2f} s = {n / t_plan:,.0f} objects/s "
        f"(table printed in {t_print:.2f} s)"
    )
    print(
        f"bare fsspec listing: {t_list:.2f} s = {n / t_list:,.0f} objects/s; "
        f"ratio plan/listing {t_plan / t_list:.1f}x"
    )


def bench_move(objects: int, kb: int, workers: int, repeat: int) -> None:
    import skyfabric
    from skyfabric.placement import Placement

    blobs = [os.urandom(kb * 1024) for _ in range(objects)]
    total = sum(len(b) for b in blobs)
    with MotoServer(label="hot") as hot, MotoServer(label="cold") as cold:

        def stores() -> dict:
            out = {}
            for name, server in (("hot", hot), ("cold", cold)):
                bucket = f"b{uuid.uuid4().hex[:10]}"
                create_s3_bucket(server.url, bucket)
                out[name] = {
                    "kind": "s3",
                    "bucket": bucket,
                    "endpoint": server.url,
                    "region": "us-east-1",
                    "access_key_env": S3_KEY_ENV,
                    "secret_key_env": S3_SECRET_ENV,
                }
            return out

        def seeded() -> skyfabric.Fabric:
            fab = skyfabric.connect({"stores": stores()})
            fab.fs.pipe({f"fabric://hot/t/{i:05d}.bin": b for i, b in enumerate(blobs)})
            return fab

        def mover(n_workers: int) -> float:
            fab = seeded()
            placement = Placement(fab, {"rules": [RULE]}, state_dir=tempfile.mkdtemp())
            plan = placement.plan(now=time.time() + LATER)
            start = time.perf_counter()
            result = placement.apply(plan, workers=n_workers)
            took = time.perf_counter() - start
            assert result.ok and len(result.done) == objects
            return took

        def loop() -> float:
            fab = seeded()
            src, dst = fab.store("hot"), fab.store("cold")
            keys = [f"t/{i:05d}.bin" for i in range(objects)]
            start = time.perf_counter()
            for key in keys:
                dst.fs.pipe_file(dst.native_path(key), src.fs.cat_file(src.native_path(key)))
                src.fs.rm_file(src.native_path(key))
            return time.perf_counter() - start

        best = {"loop": float("inf"), "mover1": float("inf"), "moverN": float("inf")}
        for _ in range(repeat):  # alternate sides; best of each
            best["loop"] = min(best["loop"], loop())
            best["mover1"] = min(best["mover1"], mover(1))
            best["moverN"] = min(best["moverN"], mover(workers))
    mb = total / 1e6
    print(f"move {objects} x {kb} kB = {mb:.1f} MB between two moto servers:")
    print(
        f"  plain fsspec loop (no verify/journal): {best['loop']:.2f} s = {mb / best['loop']:.1f} MB/s"
    )
    for label, key in (
        ("placement apply, 1 worker", "mover1"),
        (f"placement apply, {workers} workers", "moverN"),
    ):
        t = best[key]
        print(
            f"  {label:<34} {t:.2f} s = {mb / t:.1f} MB/s; ratio vs loop {best['loop'] / t:.2f}x speed"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--plan-objects", type=int, default=100_000)
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--kb", type=int, default=256)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    isolate_environment()
    bench_plan(args.plan_objects)
    bench_move(args.objects, args.kb, args.workers, args.repeat)


if __name__ == "__main__":
    main()
