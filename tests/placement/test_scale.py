"""A plan over 100k objects listed from a store is computed and printed (no timing asserted)."""

from __future__ import annotations

import json
import uuid

from placement_data import later

import skyfabric
from skyfabric.placement import Placement

N = 100_000


def test_plan_for_100k_objects(tmp_path) -> None:
    root = f"scale-{uuid.uuid4().hex[:8]}"
    stores = {
        "hot": {"kind": "memory", "root": root},
        "cold": {"kind": "memory", "root": root + "-c"},
    }
    fab = skyfabric.connect({"stores": stores})
    native = fab.store("hot").fs
    from fsspec.implementations.memory import MemoryFile

    for i in range(N):  # straight into the memory store: pipe_file's checks cost 10x more
        path = f"/{root}/t/{i // 1000:03d}/{i:06d}.bin"
        native.store[path] = MemoryFile(native, path, b"x")
    rules = [
        {"name": "all", "match": "fabric://hot/t/**", "older_than": "30d", "target": "cold"},
        {
            "name": "first",
            "match": "fabric://hot/t/00*/**",
            "older_than": "10d",
            "target": "cold",
            "priority": 1,
        },
    ]
    try:
        plan = Placement(fab, {"rules": rules}, state_dir=tmp_path).plan(now=later())
        assert plan.scanned_objects == N and len(plan.moves) == N and plan.bytes == N
        assert sum(m.rule == "first" for m in plan.moves) == 10_000
        text = plan.render(limit=20)
        assert f"placement plan: {N} moves" in text and "... 99980 more" in text
        assert json.loads(plan.to_json())["moves"] == N
    finally:
        # MemoryFileSystem.rm(recursive=True) is quadratic in the number of objects.
        for key in [k for k in native.store if k.startswith(f"/{root}/")]:
            del native.store[key]
        native.pseudo_dirs[:] = [d for d in native.pseudo_dirs if not d.startswith(f"/{root}")]
