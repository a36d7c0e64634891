"""State from before per-configuration state directories, and how to keep using it.

Before each configuration had its own state directory (`FabricConfig.state_path`), every
configuration without a ``[catalog] uri`` shared one SQLite catalog, ``<data dir>/catalog.db``,
and one placement state, ``<data dir>/placement/``. Those files stay where they are (the
embedded default still uses them); a configuration that now has a directory of its own is
told once, when its own catalog or placement state is first created, what the shared ones
hold and the exact setting that points it back at them. Nothing is copied: the shared catalog
may list other projects' tables, which is what per-configuration state exists to stop.
"""

from __future__ import annotations

import sqlite3
import warnings
from collections.abc import Callable
from pathlib import Path

from skyfabric.config import FabricConfig, data_dir
from skyfabric.warnings import LegacyStateWarning

__all__ = ["warn_if_catalog_left_behind", "warn_if_placement_left_behind"]


# (shared, own) pairs already warned about in this process: a listing and then a create
# in one run are told once.
_told: set[tuple[Path, Path]] = set()


def _toml_path(path: Path) -> str:
    return path.as_posix().replace("\\", "\\\\").replace('"', '\\"')


def _legacy_tables(db: Path) -> list[tuple[str, str]]:
    """``(namespace.table, metadata location)`` of every table in pyiceberg's SQL catalog at
    ``db`` (opened read only)."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return []
    try:
        rows = con.execute(
            "SELECT table_namespace, table_name, metadata_location FROM iceberg_tables"
        ).fetchall()
    except sqlite3.Error:  # not a pyiceberg catalog (or locked): nothing to point at
        return []
    finally:
        con.close()
    return sorted((f"{ns}.{name}", meta or "") for ns, name, meta in rows)


def _how_to_set(config: FabricConfig, section: str, key: str, value: str) -> str:
    """Where and how to write ``key = value`` of ``[section]``, for a file or for code."""
    if config.file_path is not None:
        return f'set {key} = "{value}" in the [{section}] section of {config.file_path}'
    return f'add "{section}": {{"{key}": "{value}"}} to the configuration'


def warn_if_catalog_left_behind(
    config: FabricConfig, new_db: Path, holds: Callable[[str], bool]
) -> None:
    """Warn when ``new_db`` (this configuration's SQLite catalog) does not exist yet while the
    shared ``<data dir>/catalog.db`` holds tables whose files are in this configuration's
    stores (``holds(metadata location)``): those were most likely this project's. The
    message names them and the ``[catalog] uri`` that keeps using the shared catalog.
    Tables on other stores (the embedded default's quickstart, other projects) are not
    mentioned: this configuration could not read them anyway."""
    legacy = data_dir() / "catalog.db"
    if new_db.exists() or not legacy.is_file() or legacy.resolve() == new_db.resolve():
        return
    if (legacy, new_db) in _told:
        return
    _told.add((legacy, new_db))
    names = [name for name, meta in _legacy_tables(legacy) if meta and holds(meta)]
    if not names:
        return
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    uri = f"sqlite:///{_toml_path(legacy)}"
    warnings.warn(
        f"this configuration ({config.source}) keeps its own catalog at {new_db}; the catalog "
        f"shared by configurations of earlier versions, {legacy}, holds {len(names)} table(s) "
        f"on this configuration's stores that it will not list: {shown}. To keep using them, "
        f"{_how_to_set(config, 'catalog', 'uri', uri)}",
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
        f"this configuration ({config.source}) keeps its own placement journal in "
        f"{state_dir}; the placement state shared by configurations of earlier versions, "
        f"{legacy}, holds a journal of moves (and the index that reads of moved objects "
        "follow). If this configuration made those moves, "
        f"{_how_to_set(config, 'placement', 'state_dir', _toml_path(legacy))}",
        LegacyStateWarning,
        stacklevel=3,
    )
