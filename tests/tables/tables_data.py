"""Data helpers shared by the table tests (imported as ``tables_data``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

__all__ = ["append_worker", "lake_config", "readings", "sorted_rows"]


def lake_config(store: dict, tmp_path: Path, **extra_stores: dict) -> dict[str, Any]:
    """Config dict: store ``lake`` (+ extras), SQLite catalog in ``tmp_path``."""
    return {
        "stores": {"lake": store, **extra_stores},
        "catalog": {"kind": "sql", "uri": f"sqlite:///{tmp_path / 'catalog.db'}",
                    "warehouse": "fabric://lake/warehouse"},
    }


def readings(start: int, n: int, *, site: str | None = None) -> pa.Table:
    """``n`` sensor readings with ids ``start..start+n-1``: id, site, ts (UTC, us), temp."""
    sites = ["oslo", "lima", "pune", "kyiv"]
    base = datetime(2026, 11, 1, tzinfo=UTC)
    return pa.table({
        "id": pa.array(range(start, start + n), pa.int64()),
        "site": [site or sites[i % 4] for i in range(start, start + n)],
        "ts": pa.array([base + timedelta(hours=7 * i) for i in range(start, start + n)],
                       pa.timestamp("us", tz="UTC")),
        "temp": pa.array([round(-5 + 0.25 * i, 2) for i in range(start, start + n)], pa.float64()),
    })


def sorted_rows(table: pa.Table, key: str = "id") -> list[dict[str, Any]]:
    return table.sort_by(key).to_pylist()


def append_worker(config: dict[str, Any], name: str, start: int, batches: int, rows: int,
                  barrier: Any) -> None:
    """Child process: wait for the other writer, then append ``batches`` x ``rows`` rows."""
    import skyfabric

    table = skyfabric.connect(config).table(name)
    table.count()  # warm up imports and clients before the race starts
    barrier.wait(timeout=120)
    for i in range(batches):
        table.append(readings(start + i * rows, rows))
