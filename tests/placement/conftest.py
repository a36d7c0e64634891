"""Fixtures of the placement tests: a fabric over fresh stores and a Placement on it
(data helpers are in ``placement_data``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer

import skyfabric
from skyfabric.placement import Placement


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
