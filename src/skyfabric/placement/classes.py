"""Reading and changing an object's storage class / access tier in place.

Each store kind does it its own way (`skyfabric.storage.kinds`: S3 ``CopyObject`` onto
itself, or a multipart copy over 5 GiB; GCS ``objects.rewrite``; Azure ``Set Blob Tier``);
this module is placement's entry to them, translating the storage layer's
`StorageClassChangeError` into `StorageClassError`.

None of these rewrite the bytes a reader sees: size and content stay the same, which the
mover checks after each change.
"""

from __future__ import annotations

from typing import Any

from skyfabric.errors import StorageClassChangeError
from skyfabric.placement.errors import StorageClassError
from skyfabric.storage.kinds._s3_classes import part_ranges
from skyfabric.storage.kinds._support import posix_seconds
from skyfabric.storage.stores import Store

__all__ = [
    "access_time",
    "modified_time",
    "part_ranges",
    "read_class",
    "set_class",
]


def read_class(store: Store, native: str, info: dict[str, Any] | None = None) -> str | None:
    """The object's storage class / access tier as the store reports it (``None``: unknown)."""
    return store.read_class(native, info)


def set_class(store: Store, native: str, storage_class: str, size: int) -> None:
    """Change the object's class in place.

    ``size`` (bytes) picks the S3 method: over ``S3_MULTIPART_THRESHOLD`` (in
    `skyfabric.storage.kinds._s3_classes`), a multipart copy.

    Raises:
        StorageClassError: the store kind has no classes, or an S3 multipart copy failed
            (the upload is aborted and the object left as it was).
    """
    try:
        store.set_class(native, storage_class, size)
    except StorageClassChangeError as exc:
        raise StorageClassError(str(exc)) from exc


def modified_time(info: dict[str, Any]) -> float:
    """Last-modified time (POSIX seconds) from an fsspec ``info`` dict of any kind (0 if none)."""
    for key in ("LastModified", "mtime", "last_modified", "updated", "created"):
        got = posix_seconds(info.get(key))
        if got is not None:
            return got
    return 0.0


def access_time(store: Store, native: str, info: dict[str, Any]) -> float | None:
    """Last access where the store gives it: Azure ``last_accessed_on`` (when access tracking
    is on), a local file's ``st_atime``; else ``None``."""
    return store.access_time(native, info)
