"""Two processes appending to one table at the same time both land (retry on conflict)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from pathlib import Path

import pytest
from tables_data import append_worker, lake_config, readings

import skyfabric

pytestmark = pytest.mark.xdist_group("servers")


@pytest.mark.parametrize("kind", ["local", "minio"])
def test_two_processes_appending_concurrently_both_land(
    kind: str, make_bucket: Callable[..., dict], tmp_path: Path
) -> None:
    config = lake_config(make_bucket(kind), tmp_path)
    fab = skyfabric.connect(config)
    t = fab.create_table("race.appends", readings(0, 1))
    batches, rows = 6, 25
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: two real writers
    barrier = ctx.Barrier(2)
    workers = [ctx.Process(target=append_worker,
                           args=(config, "race.appends", 1000 * (w + 1), batches, rows, barrier))
               for w in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=240)
    assert [w.exitcode for w in workers] == [0, 0]

    ids = t.to_arrow().column("id").to_pylist()
    assert len(ids) == 1 + 2 * batches * rows  # the row count equals the sum
    assert len(set(ids)) == len(ids)
    appends = [s for s in t.history() if s.operation == "append"]
    assert len(appends) == 1 + 2 * batches
    # A lost compare-and-swap leaves only its metadata file (SqlCatalog writes it first); the
    # data files written for lost attempts were reused or removed. gc takes the rest.
    stray = t.gc(older_than=0).files
    assert all(url.endswith(".metadata.json") for url in stray), stray
    assert t.gc(older_than=0, dry_run=True).files == [] and t.count() == len(ids)
