"""Helpers for the placement tests: a fabric over fresh stores and a Placement on it."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer

import skyfabric
from skyfabric.placement import Placement

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


@pytest.fixture
def make_placement(tmp_path: Path) -> Callable[..., tuple[Any, Placement]]:
    """``make_placement(stores, rules, **settings) -> (fabric, placement)`` with a fresh state dir."""

    def make(stores: dict[str, dict], rules: list[dict], **settings: Any) -> tuple[Any, Placement]:
        fab = skyfabric.connect({"stores": stores})
        state = tmp_path / "state"
        return fab, Placement(fab, {"rules": rules, **settings}, state_dir=state)

    return make


@pytest.fixture
def cli_app() -> typer.Typer:
    """The skyfabric CLI with the placement commands registered (as cli/__init__ will)."""
    from skyfabric.cli import _global
    from skyfabric.cli.placement_cmds import register

    app = typer.Typer(pretty_exceptions_enable=False)
    app.callback()(_global)
    register(app)
    return app
