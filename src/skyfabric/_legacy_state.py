"""State from before per-configuration state directories, and how to keep using it.

Before each configuration had its own state directory (`FabricConfig.state_path`), every
configuration without a ``[catalog] uri`` shared one SQLite catalog, ``<data dir>/catalog.db``,
and one placement state, ``<data dir>/placement/``. Those files stay where they are (the
embedded default still uses them); a configuration that now has a directory of its own is
told once, when its own catalog or placement state is first created, what the shared ones
hold and the exact line that points it back at them. Nothing is copied: the shared catalog
may list other projects' tables, which is what per-configuration state exists to stop.
"""

from __future__ import annotations

import sqlite3
import warnings
from pathlib import Path

from skyfabric.config import FabricConfig, data_dir
from skyfabric.warnings import LegacyStateWarning

__all__ = ["warn_if_catalog_left_behind", "warn_if_placement_left_behind"]


def _toml_path(path: Path) -> str:
    return path.as_posix().replace("\\", "\\\\").replace('"', '\\"')


def _legacy_tables(db: Path) -> list[str]:
    """``namespace.table`` of every table in pyiceberg's SQL catalog at ``db`` (read only)."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return []
    try:
        rows = con.execute("SELECT table_namespace, table_name FROM iceberg_tables").fetchall()
    except sqlite3.Error:  # not a pyiceberg catalog (or locked): nothing to point at
        return []
    finally:
        con.close()
    return sorted(f"{ns}.{name}" for ns, name in rows)


def warn_if_catalog_left_behind(config: FabricConfig, new_db: Path) -> None:
    """Warn when ``new_db`` (this configuration's SQLite catalog, about to be created) replaces
    the shared ``<data dir>/catalog.db`` that still holds tables; the message names them
    and the ``[catalog] uri`` line that keeps using it."""
    legacy = data_dir() / "catalog.db"
    if new_db.exists() or not legacy.is_file() or legacy.resolve() == new_db.resolve():
        return
    names = _legacy_tables(legacy)
    if not names:
        return
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    warnings.warn(
        f"this configuration ({config.source}) now keeps its own catalog at {new_db}; the "
        f"catalog shared by earlier versions, {legacy}, holds {len(names)} table(s) it will not "
        f"list: {shown}. To keep using them, add to the configuration: "
        f'[catalog] uri = "sqlite:///{_toml_path(legacy)}"',
        LegacyStateWarning,
        stacklevel=3,
    )


def warn_if_placement_left_behind(config: FabricConfig, state_dir: Path) -> None:
    """Warn when ``state_dir`` (this configuration's placement state) does not exist yet but
    the shared ``<data dir>/placement`` holds a journal of moves."""
    legacy = data_dir() / "placement"
    journal = legacy / "journal.jsonl"
    if state_dir.exists() or not journal.is_file() or legacy.resolve() == state_dir.resolve():
        return
    warnings.warn(
        f"this configuration ({config.source}) now keeps its own placement journal in "
        f"{state_dir}; the placement state shared by earlier versions, {legacy}, holds a "
        "journal of moves (and the index that reads of moved objects follow). If this "
        "configuration made those moves, add to it: "
        f'[placement] state_dir = "{_toml_path(legacy)}"',
        LegacyStateWarning,
        stacklevel=3,
    )
