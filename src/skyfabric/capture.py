"""``from skyfabric.capture import Capture``: capture live inference inputs as
time-partitioned parquet on any store (implemented in `skyfabric.drift.capture`, which
documents the layout, the flush rules, the memory bound and what a crash can lose)."""

from __future__ import annotations

from skyfabric.drift.capture import Capture

__all__ = ["Capture"]
