"""Where and how `skyfabric.drift.capture` writes: time partitions, file names, whole files.

- `stamped` adds each row's logged-at time as a UTC timestamp column (microseconds);
- `by_period` splits rows into partition periods (hours or days since the epoch, UTC);
- `file_url` names a file ``<root>/dt=YYYY-MM-DD[/hour=HH]/part-<utc time>-<writer>-<n>.parquet``,
  unique per writer (host, process id and a random id) and flush;
- `write_parquet` writes one file whole or not at all (`skyfabric.drift.file_io.write_bytes`:
  a local temporary renamed into place; an object store's single upload), with retries.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from skyfabric.errors import FabricError

if TYPE_CHECKING:
    from skyfabric.fabric import Fabric

__all__ = ["KEYS", "PERIOD", "by_period", "file_url", "stamped", "write_parquet"]

#: Seconds per partition period, and the partition folders of each.
PERIOD = {"hour": 3600, "day": 86400}
KEYS = {"hour": ("dt", "hour"), "day": ("dt",)}
_RETRIES = 3


def stamped(table: pa.Table, times: np.ndarray, column: str | None) -> pa.Table:
    """``table`` with ``column`` = ``times`` (epoch seconds, float) as timestamp[us, UTC]."""
    if column is None:
        return table
    micros = (times * 1e6).astype("int64")
    return table.append_column(column, pa.array(micros, pa.int64()).cast(pa.timestamp("us", tz="UTC")))


def by_period(table: pa.Table, times: np.ndarray, period: int) -> dict[int, tuple[pa.Table, np.ndarray]]:
    """Period number (``time // period``) -> that period's rows and their times."""
    keys = (times // period).astype(np.int64)
    if keys[0] == keys[-1] and (keys == keys[0]).all():  # the usual case: one period
        return {int(keys[0]): (table, times)}
    out = {}
    for key in np.unique(keys):
        mask = keys == key
        out[int(key)] = (table.filter(pa.array(mask)), times[mask])
    return out


def file_url(root: str, key: int, partition: str, writer: str, seq: int) -> str:
    """The URL of a writer's ``seq``-th file in period ``key`` of ``partition``."""
    start = datetime.fromtimestamp(key * PERIOD[partition], UTC)
    folder = f"dt={start:%Y-%m-%d}" + (f"/hour={start:%H}" if partition == "hour" else "")
    return f"{root}/{folder}/part-{datetime.now(UTC):%Y%m%dT%H%M%S}-{writer}-{seq:06d}.parquet"


def write_parquet(url: str, table: pa.Table, fabric: Fabric | None) -> None:
    """Write ``table`` as one parquet file (snappy, pyarrow's default: the cheapest to
    write), whole or not at all; retried twice on a store or disk error (0.2 s, 0.4 s).

    Raises:
        FabricError, OSError: the third attempt failed.
    """
    from skyfabric.drift.file_io import write_bytes

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    data = sink.getvalue().to_pybytes()
    for attempt in range(_RETRIES):
        try:
            write_bytes(url, data, fabric=fabric, example="part-0.parquet")
            return
        except (FabricError, OSError):
            if attempt + 1 == _RETRIES:
                raise
            time.sleep(0.2 * 2**attempt)
