"""Sync planning: which objects under a source prefix a sync copies, skips or deletes.

Compares two listings (``find`` entries keyed by fabric path) object by object: an object
is copied when it is missing at the destination, differs in size, differs in MD5 where both
stores publish one (or always compared with ``checksum=True``, which reads both), or else is
newer at the source; with ``delete``, destination objects with no source counterpart
(including leftover copy temporaries) are listed for removal. Nothing here writes; the
copies and deletes are `skyfabric.storage.transfer.sync`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from skyfabric.storage.checksums import native_md5, stream_md5
from skyfabric.storage.paths import is_partial

if TYPE_CHECKING:
    from skyfabric.storage.filesystem import FabricFileSystem

__all__ = ["SyncPlan", "plan_sync"]


@dataclass
class SyncPlan:
    """What a sync does, in listing order.

    ``objects``: ``(src, dst, size, differs)`` per source object, ``size`` in bytes; ``differs``
    is ``False`` when ``dst`` already holds the same object (skipped). ``deletions``:
    ``(dst, size)`` per destination object to remove (only with ``delete``).
    """

    objects: list[tuple[str, str, int, bool]] = field(default_factory=list)
    deletions: list[tuple[str, int]] = field(default_factory=list)


def plan_sync(
    fs: FabricFileSystem,
    src_path: str,
    dst_path: str,
    src_list: dict[str, dict[str, Any]],
    dst_list: dict[str, dict[str, Any]],
    *,
    checksum: bool = False,
    delete: bool = False,
) -> SyncPlan:
    """Compare the listings of ``src_path`` and ``dst_path`` (fabric paths, no protocol).

    Only the comparison may read: stores that publish no MD5 are read in full with
    ``checksum=True``, and an entry without a modification time costs one ``modified``.
    """
    plan = SyncPlan()
    wanted: set[str] = set()
    for name, info in sorted(src_list.items()):
        if is_partial(name):
            continue
        target = _target(src_path, name, dst_path)
        wanted.add(target)
        size = int(info.get("size") or 0)
        existing = dst_list.get(target)
        same = existing is not None and _same(info, existing, checksum, fs, name, target)
        plan.objects.append((name, target, size, not same))
    if delete:
        for name, info in sorted(dst_list.items()):
            if name in wanted:
                continue
            size = int(info.get("size") or 0)
            plan.deletions.append((name, size))
    return plan


def _target(src_root: str, src_path: str, dst_root: str) -> str:
    rel = src_path[len(src_root) :].lstrip("/")
    return f"{dst_root.rstrip('/')}/{rel}" if rel else dst_root


def _same(
    src_info: dict[str, Any],
    dst_info: dict[str, Any],
    checksum: bool,
    fs: FabricFileSystem,
    src: str,
    dst: str,
) -> bool:
    if int(src_info.get("size") or 0) != int(dst_info.get("size") or 0):
        return False
    a, b = native_md5(src_info), native_md5(dst_info)
    if a and b:
        return a == b
    if checksum:
        s_store, _, s_native = fs.route(src)
        d_store, _, d_native = fs.route(dst)
        return stream_md5(s_store.io, s_native) == stream_md5(d_store.io, d_native)
    # Same size, no comparable digest: like `aws s3 sync`, copy when the source is newer.
    try:
        return _mtime(dst_info, fs, dst) >= _mtime(src_info, fs, src)
    except (NotImplementedError, KeyError, TypeError, ValueError):
        return True


# Where each fsspec implementation puts the modification time in its listings.
_MTIME_KEYS = ("LastModified", "last_modified", "updated", "mtime")


def _mtime(info: dict[str, Any], fs: FabricFileSystem, path: str) -> datetime:
    """Modification time (aware, UTC) from a listing entry, asking the store only when the
    entry has none: a sync of many unchanged objects then costs no request per object."""
    for key in _MTIME_KEYS:
        value = info.get(key)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, tz=UTC)
        if isinstance(value, str) and value:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    found = fs.modified(path)
    return found if found.tzinfo else found.replace(tzinfo=UTC)
