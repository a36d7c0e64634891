"""Reading and changing an object's storage class / access tier in place, per store kind.

- S3: ``CopyObject`` of the object onto itself with ``StorageClass`` and
  ``MetadataDirective=COPY`` (AWS S3 API reference, "CopyObject": the documented way to
  change the class of an existing object; up to 5 GiB per request).
- GCS: ``objects.rewrite`` onto itself with ``storageClass`` in the body (Cloud Storage JSON
  API, "Objects: rewrite"; looped on ``rewriteToken`` for large objects).
- Azure: ``Set Blob Tier`` (Blob service REST API) through azure-storage-blob's
  ``set_standard_blob_tier``.

None of these rewrite the bytes a reader sees: size and MD5 stay the same, which the mover
checks after each change.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from skyfabric.placement.errors import StorageClassError
from skyfabric.storage.stores import Store

__all__ = ["access_time", "modified_time", "read_class", "set_class"]

_S3_COPY_LIMIT = 5 * 2**30


def _split(native: str) -> tuple[str, str]:
    bucket, _, key = native.lstrip("/").partition("/")
    return bucket, key


def _azure_props(store: Store, native: str) -> Any:
    from fsspec.asyn import sync

    container, blob = _split(native)

    async def props() -> Any:
        async with store.fs.service_client.get_blob_client(container, blob) as client:
            return await client.get_blob_properties()

    return sync(store.fs.loop, props)


def read_class(store: Store, native: str, info: dict[str, Any] | None = None) -> str | None:
    """The object's storage class / access tier as the store reports it (``None``: unknown)."""
    info = info or {}
    if store.kind == "s3":
        return info.get("StorageClass") or store.fs.info(native).get("StorageClass") or "STANDARD"
    if store.kind == "gcs":
        return info.get("storageClass") or store.fs.info(native).get("storageClass")
    if store.kind == "azure":
        return getattr(_azure_props(store, native), "blob_tier", None)
    return None


def set_class(store: Store, native: str, storage_class: str, size: int) -> None:
    """Change the object's class in place.

    Raises:
        StorageClassError: the store kind has no classes, or the object is too large for a
            single-request S3 copy (5 GiB).
    """
    if store.kind == "s3":
        if size > _S3_COPY_LIMIT:
            raise StorageClassError(
                f"{store.name}:{native} is {size} bytes, over the 5 GiB single CopyObject limit; "
                "fix: use an S3 lifecycle rule for objects this large"
            )
        bucket, key = _split(native)
        store.fs.call_s3(
            "copy_object",
            Bucket=bucket,
            Key=key,
            CopySource={"Bucket": bucket, "Key": key},
            StorageClass=storage_class,
            MetadataDirective="COPY",
        )
        return
    if store.kind == "gcs":
        bucket, key = _split(native)
        body: dict[str, Any] = {"storageClass": storage_class}
        token: str | None = None
        while True:
            params = {"rewriteToken": token} if token else {}
            out = store.fs.call(
                "POST",
                "b/{}/o/{}/rewriteTo/b/{}/o/{}",
                bucket,
                key,
                bucket,
                key,
                json_out=True,
                json=body,
                **params,
            )
            if out.get("done", True):
                return
            token = out.get("rewriteToken")
    if store.kind == "azure":
        from fsspec.asyn import sync

        container, blob = _split(native)

        async def tier() -> None:
            async with store.fs.service_client.get_blob_client(container, blob) as client:
                await client.set_standard_blob_tier(storage_class)

        sync(store.fs.loop, tier)
        return
    raise StorageClassError(
        f"store {store.name!r} is kind {store.kind}, which has no storage classes; "
        "fix: move the objects to another store with `target` instead"
    )


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def modified_time(info: dict[str, Any]) -> float:
    """Last-modified time (POSIX seconds) from an fsspec ``info`` dict of any kind (0 if none)."""
    for key in ("LastModified", "mtime", "last_modified", "updated", "created"):
        got = _seconds(info.get(key))
        if got is not None:
            return got
    return 0.0


def access_time(store: Store, native: str, info: dict[str, Any]) -> float | None:
    """Last access where the store gives it: Azure ``last_accessed_on`` (when access tracking
    is on), a local file's ``st_atime``; else ``None``."""
    if store.kind == "azure":
        return _seconds(info.get("last_accessed_on"))
    if store.kind == "local":
        try:
            return os.stat(native).st_atime
        except OSError:
            return None
    return None
