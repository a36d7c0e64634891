"""Data helpers shared by the placement tests (imported as ``placement_data``: a plain
module, since two ``conftest`` modules cannot both be imported by that name)."""

from __future__ import annotations

import hashlib
import time
from typing import Any

DAY = 86400.0
LATER = 40 * DAY  # "now" for plans: far enough that `older_than = "30d"` matches


def later() -> float:
    return time.time() + LATER


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def seed(fab: Any, store: str, prefix: str, n: int, size: int = 1500) -> dict[str, bytes]:
    """Write ``n`` objects of random bytes under ``fabric://store/prefix``; key -> bytes."""
    import os

    out = {}
    for i in range(n):
        key = f"{prefix}/part-{i:03d}.bin"
        data = os.urandom(size + i)
        fab.fs.pipe_file(f"fabric://{store}/{key}", data)
        out[key] = data
    return out
