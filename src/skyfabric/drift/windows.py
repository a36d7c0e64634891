"""The windows a monitor checks: hive partitions of a source, or time windows over a column.

- `partition_windows` splits an opened file source by the value of one hive partition key
  (``month=7/``, ``dt=2026-01-05/``): each window is a `Source` over that value's files, so
  the files of all windows together are the source's files, each read once.
- `parse_every` reads a window length (``30m``, ``1h``, ``1d``, ``7d``, ``1w``, ``1mo``);
  `window_starts` floors a time column to it with ``pyarrow.compute.floor_temporal``
  (calendar-aware: ``1d`` starts at midnight, ``1mo`` on the 1st, in the column's time zone,
  UTC when it has none).

A window has a label (``month=7``, ``2026-01-05``, ``2026-01-05T06:00:00``), used as its key
in the history table, and bounds ``[start, end)`` when they are known (a time window, or a
partition value that is a date ``YYYY-MM-DD`` or month ``YYYY-MM``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads

from skyfabric.drift.sources import Source
from skyfabric.errors import DriftError

__all__ = [
    "Every",
    "Window",
    "parse_every",
    "partition_bounds",
    "partition_windows",
    "window_end",
    "window_label",
    "window_starts",
]

_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month"}
_EVERY = re.compile(r"^\s*(\d+)\s*(mo|s|m|h|d|w)\s*$")


@dataclass(frozen=True)
class Every:
    """A window length: ``multiple`` x ``unit`` (a ``floor_temporal`` unit name)."""

    multiple: int
    unit: str
    text: str


@dataclass
class Window:
    """One window: its label (the history key), bounds ``[start, end)`` when known (UTC
    ``datetime``), and for a partition window the `Source` over its files."""

    label: str
    start: datetime | None = None
    end: datetime | None = None
    source: Source | None = None


def parse_every(text: str) -> Every:
    """``"1d"`` -> ``Every(1, "day")``; units ``s m h d w mo`` (``m`` is minutes).

    Raises:
        DriftError: not a positive count followed by one of those units.
    """
    m = _EVERY.match(text or "")
    if m is None or int(m.group(1)) < 1:
        raise DriftError(
            f"window length {text!r} is not a count and a unit; fix: e.g. --every 1d "
            "(units: s, m for minutes, h, d, w, mo for calendar months)"
        )
    return Every(int(m.group(1)), _UNITS[m.group(2)], text.strip())


def window_starts(values: pa.Array | pa.ChunkedArray, every: Every, column: str) -> pa.Array:
    """The start of the window of each value (same timestamp type; nulls stay null).

    Raises:
        DriftError: ``column`` is not a timestamp or date column.
    """
    import pyarrow.compute as pc

    t = values.type
    if pa.types.is_date(t):
        values = values.cast(pa.timestamp("s"))
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        try:  # ISO-8601 text, as CSV and pandas' object columns often hold times
            try:
                values = values.cast(pa.timestamp("us"))
            except pa.ArrowInvalid:  # with a zone offset ("...Z", "+02:00"): as UTC
                values = values.cast(pa.timestamp("us", tz="UTC"))
        except pa.ArrowInvalid as exc:
            raise DriftError(
                f"the time column {column!r} holds text that is not an ISO-8601 time ({exc}); "
                "fix: write it as a timestamp column, or as text like 2026-01-05 06:00:00"
            ) from exc
    elif not pa.types.is_timestamp(t):
        raise DriftError(
            f"the time column {column!r} is {t}, not a timestamp, date or ISO-8601 text; fix: "
            "name a timestamp column with --time-column, or cast it where the data is written"
        )
    # week windows start on Monday (ISO), as people count weeks
    return pc.floor_temporal(values, multiple=every.multiple, unit=every.unit, week_starts_monday=True)


def _to_utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def window_end(start: datetime, every: Every) -> datetime:
    """``start`` plus one window (calendar months added as months)."""
    if every.unit == "month":
        months = start.month - 1 + every.multiple
        return start.replace(year=start.year + months // 12, month=months % 12 + 1)
    seconds = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
    return start + timedelta(seconds=seconds[every.unit] * every.multiple)


def window_label(start: datetime, every: Every) -> str:
    """``2026-01-05`` for day-or-longer windows, else ``2026-01-05T06:00:00`` (UTC)."""
    if every.unit == "month":
        return start.strftime("%Y-%m")
    if every.unit in ("day", "week"):
        return start.date().isoformat()
    return start.replace(tzinfo=None).isoformat(timespec="seconds")


def time_window(start_value: Any, every: Every) -> Window:
    """The `Window` starting at ``start_value`` (a ``datetime`` from `window_starts`)."""
    start = _to_utc(start_value)
    return Window(window_label(start, every), start, window_end(start, every))


def partition_bounds(value: str) -> tuple[datetime | None, datetime | None]:
    """Bounds of a partition value that is a date (``2026-01-05``: that day) or a month
    (``2026-01``: that month), else ``(None, None)``."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            d = date.fromisoformat(value)
            start = datetime(d.year, d.month, d.day, tzinfo=UTC)
            return start, start + timedelta(days=1)
        if re.fullmatch(r"\d{4}-\d{2}", value):
            start = datetime(int(value[:4]), int(value[5:]), 1, tzinfo=UTC)
            return start, window_end(start, Every(1, "month", "1mo"))
    except ValueError:
        pass
    return None, None


def _sort_key(value: Any) -> tuple[int, Any]:
    """Numbers in numeric order (month 10 after 9), then everything else as text."""
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(value))


def _above(frag: Any, keys: list[str], parts: dict[str, Any]) -> list[str]:
    """Partition keys of ``frag`` whose folder sits above the first of ``keys`` in its path."""
    path = "/" + frag.path.replace("\\", "/")
    first = min(path.find(f"/{k}=") for k in keys)
    return [k for k in parts if k not in keys and 0 <= path.find(f"/{k}=") < first]


def _bounds(keys: list[str], values: tuple[Any, ...]) -> tuple[datetime | None, datetime | None]:
    """Bounds of one value that is a date or month, or of ``year[, month[, day]]`` keys."""
    if len(values) == 1:
        return partition_bounds(str(values[0]))
    named = dict(zip(keys, values, strict=True))
    try:
        if keys == ["year", "month"]:
            return partition_bounds(f"{int(named['year']):04d}-{int(named['month']):02d}")
        if keys == ["year", "month", "day"]:
            y, m, d = (int(named[k]) for k in keys)
            return partition_bounds(f"{y:04d}-{m:02d}-{d:02d}")
    except (TypeError, ValueError):
        pass
    return None, None


def partition_windows(src: Source, key: str) -> list[Window]:
    """One `Window` per value of the hive partition ``key`` in ``src``'s files, in order;
    ``key`` may name several keys, ``"year,month"``: one window per pair of values.

    Each window's source reads only that value's files, without the ``key`` columns (a
    constant would show as drift against a baseline of other values), unless the files
    hold them themselves. Bounds are known for a value that is a date (``2026-01-05``) or
    a month (``2026-01``), and for ``year,month`` and ``year,month,day``.

    Raises:
        DriftError: ``src`` is not files (a table or in-memory data); no file sits under a
            ``key=...`` folder (the message lists the partition keys it found); or a value
            of ``key`` sits under several values of a key above it (``month=7`` under
            ``year=2012/`` and ``year=2013/``: the message says to use ``year,month``).
    """
    keys = [k.strip() for k in key.split(",") if k.strip()]
    data = src.data
    if not isinstance(data, pads.FileSystemDataset):
        raise DriftError(
            f"--by {key} splits a source by its hive partition folders ({keys[0]}=.../), "
            f"and {src.name} is not files; fix: use --every with --time-column for a table "
            "or in-memory data"
        )
    groups: dict[tuple[Any, ...], list[Any]] = {}
    above: dict[tuple[Any, ...], dict[str, set[Any]]] = {}
    found: set[str] = set()
    for frag in data.get_fragments():
        parts = pads.get_partition_keys(frag.partition_expression) or {}
        found.update(parts)
        if all(k in parts for k in keys):
            value = tuple(parts[k] for k in keys)
            groups.setdefault(value, []).append(frag)
            for k in _above(frag, keys, parts):
                above.setdefault(value, {}).setdefault(k, set()).add(parts[k])
    if not groups:
        have = ", ".join(sorted(found)) or "none"
        raise DriftError(
            f"no file of {src.name} is under {'/'.join(f'{k}=...' for k in keys)} folders "
            f"(partition keys found: {have}); fix: name those with --by (several as "
            "--by year,month), or point at the folder above them"
        )
    for value, seen in above.items():
        mixed = [k for k, vals in seen.items() if len(vals) > 1]
        if mixed:
            label = "/".join(f"{k}={v}" for k, v in zip(keys, value, strict=True))
            raise DriftError(
                f"{label} of {src.name} sits under several {mixed[0]}=... folders, so one "
                f"window would mix them; fix: --by {','.join([*mixed, *keys])}, or point at "
                f"one {mixed[0]}=... folder"
            )
    in_files = set(next(iter(groups.values()))[0].physical_schema.names)
    schema = pa.schema([f for f in data.schema if f.name not in set(keys) - in_files])
    windows = []
    for value in sorted(groups, key=lambda v: tuple(_sort_key(x) for x in v)):
        label = "/".join(f"{k}={v}" for k, v in zip(keys, value, strict=True))
        start, end = _bounds(keys, value)
        part = pads.FileSystemDataset(groups[value], schema, data.format, data.filesystem)
        window_src = Source(
            f"{src.name} {label}",
            part,
            src.store,
            dict(src.conflicts),
            dict(src.promoted),
            user_text=src.user_text,
        )
        windows.append(Window(label, start, end, window_src))
    return windows
