"""Plain result records of the table layer, and the duration / instant parsing they share."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "DatasetInfo",
    "ExpireResult",
    "GcResult",
    "Snapshot",
    "UpsertResult",
    "parse_duration",
    "parse_instant",
    "parse_size",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: str | timedelta | int | float) -> timedelta:
    """``"7d"``, ``"12h"``, ``"30m"``, ``"90s"``, ``"2w"``, a ``timedelta`` or seconds.

    Raises:
        ValueError: the text is not ``<number><s|m|h|d|w>`` or the duration is negative.
    """
    if isinstance(value, timedelta):
        out = value
    elif isinstance(value, int | float):
        out = timedelta(seconds=value)
    else:
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"cannot read duration {value!r}; fix: write e.g. 7d, 12h, 30m, 90s, 2w")
        out = timedelta(seconds=float(match.group(1)) * _SECONDS[match.group(2).lower()])
    if out < timedelta(0):
        raise ValueError(f"duration {value!r} is negative; fix: give an age such as 7d")
    return out


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)


def parse_size(value: str | int) -> int:
    """Bytes from ``134217728``, ``"128MiB"`` (2**20 units), ``"128MB"`` (10**6 units), ``"1g"``.

    Raises:
        ValueError: the text is not ``<number>[unit]`` or the size is below 1 byte.
    """
    if isinstance(value, bool):
        raise ValueError(f"size {value!r} is not a number of bytes")
    if isinstance(value, int):
        out = value
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise ValueError(f"cannot read size {value!r}; fix: write e.g. 128MiB, 64MB or 1048576")
        unit = (match.group(2) or "b").lower()
        power = "bkmgt".index(unit[0])
        base = 1024 if "i" in unit else 1000
        out = int(float(match.group(1)) * base**power)
    if out < 1:
        raise ValueError(f"size {value!r} is below 1 byte; fix: give e.g. 128MiB")
    return out


def parse_instant(value: datetime | str | int | float) -> datetime:
    """An aware UTC datetime from a datetime (naive = UTC), ISO-8601 text, or epoch milliseconds.

    Raises:
        ValueError: the text is not ISO-8601.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"cannot read instant {value!r}; fix: ISO-8601 such as 2026-11-29T08:00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def to_ms(instant: datetime) -> int:
    """Epoch milliseconds of an aware datetime (Iceberg's timestamp unit)."""
    return int(instant.timestamp() * 1000)


@dataclass(frozen=True)
class Snapshot:
    """One table snapshot.

    Attributes:
        snapshot_id: Iceberg snapshot id.
        parent_id: the previous snapshot on the branch (None for the first).
        timestamp: commit time, UTC.
        operation: ``append``, ``overwrite``, ``delete`` or ``replace``.
        records: total rows in the table at this snapshot (None if the writer did not record it).
        files: total data files at this snapshot.
        bytes: total data-file bytes at this snapshot.
        summary: the full Iceberg snapshot summary.
        manifest_list: native URL of the snapshot's manifest list.
        current: this is the table's current snapshot.
    """

    snapshot_id: int
    parent_id: int | None
    timestamp: datetime
    operation: str
    records: int | None
    files: int | None
    bytes: int | None
    summary: dict[str, str]
    manifest_list: str
    current: bool = False

    @classmethod
    def from_iceberg(cls, snap: Any, current_id: int | None) -> Snapshot:
        summary = dict(snap.summary.additional_properties) if snap.summary else {}
        op = snap.summary.operation.value if snap.summary else "unknown"

        def num(key: str) -> int | None:
            return int(summary[key]) if key in summary else None

        return cls(
            snapshot_id=snap.snapshot_id,
            parent_id=snap.parent_snapshot_id,
            timestamp=datetime.fromtimestamp(snap.timestamp_ms / 1000, UTC),
            operation=op,
            records=num("total-records"),
            files=num("total-data-files"),
            bytes=num("total-files-size"),
            summary=summary,
            manifest_list=snap.manifest_list,
            current=snap.snapshot_id == current_id,
        )


@dataclass(frozen=True)
class UpsertResult:
    """Outcome of an upsert: rows updated (key matched) and inserted (key new)."""

    updated: int
    inserted: int
    snapshot_id: int | None


@dataclass
class ExpireResult:
    """What ``expire_snapshots`` expired and removed (or, with ``dry_run``, would).

    Attributes:
        snapshot_ids: the expired snapshots.
        files: native URLs of the files removed: data and delete files, manifests and
            manifest lists that no retained snapshot references.
        bytes: their total size, bytes.
        kept_outside: unreferenced files left in place because they live outside the table's
            location (e.g. registered with ``register_parquet``: never ours to delete).
        dry_run: nothing was changed.
    """

    snapshot_ids: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    bytes: int = 0
    kept_outside: list[str] = field(default_factory=list)
    dry_run: bool = False


@dataclass
class GcResult:
    """What ``gc`` removed (or, with ``dry_run``, would) under a table's location.

    Attributes:
        files: native URLs of the orphan files: under the table location, referenced by no
            retained snapshot nor by the metadata log, and older than the grace period.
        bytes: their total size, bytes.
        skipped_recent: orphans younger than the grace period, left for a later run (they may
            belong to a commit in flight).
        dry_run: nothing was changed.
    """

    files: list[str] = field(default_factory=list)
    bytes: int = 0
    skipped_recent: list[str] = field(default_factory=list)
    dry_run: bool = False


@dataclass(frozen=True)
class DatasetInfo:
    """One entry of ``Fabric.datasets()``.

    Attributes:
        name: table name (``namespace.table``) or, for a plain dataset, its fabric URL.
        kind: ``iceberg``, ``parquet``, ``csv`` or ``mixed``.
        store: the store holding the data (None: not in any configured store).
        location: fabric URL of the table location / dataset prefix (native URL if no store).
        rows: row count if known (Iceberg: from the current snapshot), else None.
        bytes: data bytes (Iceberg: total data-file size of the current snapshot).
        files: data files.
        last_modified: last commit (Iceberg) or newest file's modification time, UTC.
    """

    name: str
    kind: str
    store: str | None
    location: str
    rows: int | None
    bytes: int | None
    files: int | None
    last_modified: datetime | None
