"""fabric:// overhead against s3fs directly, on one moto server started here.

Reads and writes 200 MB, as one object and as 1,000 objects of 200 kB, through
``fabric://`` and through a bare ``s3fs.S3FileSystem`` with the same endpoint and options.
Prints each time and the ratio fabric / s3fs (target <= 1.05). Each measurement is the best
of ``--repeat`` runs, alternating the two sides so drift in the server's speed hits both.

    python benchmarks/bench_storage.py [--mb 200] [--objects 1000] [--repeat 3] [--access-rule]

``--access-rule`` adds a placement rule with ``not_accessed_for`` over the whole store, so
every fabric read also goes through the access log (``access.jsonl`` in a temporary state dir).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from servers import S3_KEY_ENV, S3_SECRET_ENV, MotoServer, isolate_environment


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=int, default=200, help="total megabytes per case")
    parser.add_argument(
        "--objects", type=int, default=1000, help="object count of the small-object case"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--access-rule",
        action="store_true",
        help="a not_accessed_for rule covers the store: reads are access-logged",
    )
    args = parser.parse_args()

    isolate_environment()
    import s3fs

    import skyfabric

    total = args.mb * 10**6
    big = os.urandom(total)
    small_size = total // args.objects
    small = [big[i * small_size : (i + 1) * small_size] for i in range(args.objects)]

    with MotoServer() as moto:
        config = {
            "stores": {
                "lake": {
                    "kind": "s3",
                    "bucket": "bench",
                    "endpoint": moto.url,
                    "region": "us-east-1",
                    "access_key_env": S3_KEY_ENV,
                    "secret_key_env": S3_SECRET_ENV,
                }
            }
        }
        if args.access_rule:
            state = tempfile.mkdtemp(prefix="bench-placement-")
            idle = {"name": "idle", "match": "fabric://lake/**", "not_accessed_for": "30d"}
            config["placement"] = {
                "state_dir": state,
                "rules": [{**idle, "storage_class": "STANDARD_IA"}],
            }
        fab = skyfabric.connect(config)
        raw = s3fs.S3FileSystem(
            key=os.environ[S3_KEY_ENV],
            secret=os.environ[S3_SECRET_ENV],
            endpoint_url=moto.url,
            client_kwargs={"region_name": "us-east-1"},
            config_kwargs={"s3": {"addressing_style": "path"}},
            skip_instance_cache=True,
            use_listings_cache=False,
        )
        # us-east-1 takes no LocationConstraint, which s3fs.mkdir would send
        raw.call_s3("create_bucket", Bucket="bench")
        fs = fab.fs

        def write_one(fsys: object, prefix: str) -> Callable[[], None]:
            def run() -> None:
                with fsys.open(f"{prefix}/one/big.bin", "wb") as f:  # type: ignore[attr-defined]
                    f.write(big)

            return run

        def read_one(fsys: object, prefix: str) -> Callable[[], None]:
            def run() -> None:
                with fsys.open(f"{prefix}/one/big.bin", "rb") as f:  # type: ignore[attr-defined]
                    assert len(f.read()) == total

            return run

        def write_many(fsys: object, prefix: str) -> Callable[[], None]:
            return lambda: fsys.pipe({f"{prefix}/many/{i:05d}": d for i, d in enumerate(small)})  # type: ignore[attr-defined]

        def read_many(fsys: object, prefix: str) -> Callable[[], None]:
            paths = [f"{prefix}/many/{i:05d}" for i in range(args.objects)]
            return lambda: fsys.cat(paths)  # type: ignore[attr-defined]

        cases = [
            (f"write {args.mb} MB as 1 object", write_one),
            (f"read  {args.mb} MB as 1 object", read_one),
            (f"write {args.mb} MB as {args.objects} objects", write_many),
            (f"read  {args.mb} MB as {args.objects} objects", read_many),
        ]
        print(f"{'case':<36} {'fabric s':>9} {'s3fs s':>9} {'ratio':>7}  (target <= 1.05)")
        worst = 0.0
        for label, make in cases:
            t_fab = t_raw = float("inf")
            for i in range(args.repeat):  # alternate which side goes first, best of each
                sides = [("raw", raw, "bench/raw"), ("fab", fs, "fabric://lake/fab")]
                for side, fsys, prefix in sides if i % 2 == 0 else sides[::-1]:
                    took = _best(make(fsys, prefix), 1)
                    if side == "raw":
                        t_raw = min(t_raw, took)
                    else:
                        t_fab = min(t_fab, took)
            ratio = t_fab / t_raw
            worst = max(worst, ratio)
            print(f"{label:<36} {t_fab:9.3f} {t_raw:9.3f} {ratio:7.3f}")
        print(f"worst ratio fabric/s3fs: {worst:.3f}")
        if args.access_rule:
            from skyfabric.storage.placement_state import flush_access

            flush_access()
            lines = (Path(state) / "access.jsonl").read_text().count("\n")
            print(f"access log: {lines} lines (one per object read, once per 5 minutes)")


if __name__ == "__main__":
    main()
