"""A store's storage class / access tier, applied to the objects written through it.

``storage_class`` of a GCS store and ``access_tier`` of an Azure store name the class new
objects get (docs/configuration.md). S3 stores send theirs with every upload and copy
(s3fs ``s3_additional_kwargs``, see `skyfabric.storage.stores`); gcsfs and adlfs have no such
option, so `apply_store_class` sets it on each object once it is written:

- GCS: ``objects.rewrite`` onto itself with ``storageClass`` (Cloud Storage JSON API,
  "Objects: rewrite", the documented way to change an existing object's class; looped on
  ``rewriteToken``). Skipped when the bucket's default class (``buckets.get``, read once per
  process and store) already is the store's class: new objects get the bucket default.
- Azure: ``Set Blob Tier`` (Blob service REST API), a metadata-only request.

`rewrite_gcs_class` and `set_azure_tier` are also how placement changes a class in place.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from skyfabric.config import AzureStoreConfig, GCSStoreConfig
from skyfabric.storage.stores import Store

__all__ = ["apply_store_class", "on_close", "rewrite_gcs_class", "set_azure_tier", "write_class"]

# (endpoint, bucket) -> the bucket's default storage class (None: could not be read).
_gcs_bucket_defaults: dict[tuple[str, str], str | None] = {}
_lock = threading.Lock()


def write_class(store: Store) -> str | None:
    """The class `apply_store_class` gives new objects of ``store``, or ``None`` when there
    is nothing to apply (no class configured, S3 which sends its own, local, memory)."""
    cfg = store.config
    if isinstance(cfg, GCSStoreConfig):
        return cfg.storage_class
    if isinstance(cfg, AzureStoreConfig):
        return cfg.access_tier
    return None


def _split(native: str) -> tuple[str, str]:
    bucket, _, key = native.lstrip("/").partition("/")
    return bucket, key


def rewrite_gcs_class(store: Store, native: str, storage_class: str) -> None:
    """Give the GCS object at ``native`` (``bucket/key``) the class ``storage_class``."""
    bucket, key = _split(native)
    body: dict[str, Any] = {"storageClass": storage_class}
    token: str | None = None
    while True:
        params = {"rewriteToken": token} if token else {}
        out = store.fs.call(
            "POST", "b/{}/o/{}/rewriteTo/b/{}/o/{}", bucket, key, bucket, key,
            json_out=True, json=body, **params,
        )  # fmt: skip
        if out.get("done", True):
            return
        token = out.get("rewriteToken")


def set_azure_tier(store: Store, native: str, tier: str) -> None:
    """Give the Azure blob at ``native`` (``container/blob``) the access tier ``tier``."""
    from fsspec.asyn import sync

    container, blob = _split(native)

    async def set_tier() -> None:
        async with store.fs.service_client.get_blob_client(container, blob) as client:
            await client.set_standard_blob_tier(tier)

    sync(store.fs.loop, set_tier)


def _gcs_bucket_default(store: Store, bucket: str) -> str | None:
    cfg = store.config
    cache_key = (getattr(cfg, "endpoint", None) or "", bucket)
    with _lock:
        if cache_key in _gcs_bucket_defaults:
            return _gcs_bucket_defaults[cache_key]
    try:
        default = store.fs.call("GET", "b/{}", bucket, json_out=True).get("storageClass")
    except OSError:  # no storage.buckets.get permission: set the class on every object
        default = None
    with _lock:
        _gcs_bucket_defaults[cache_key] = default
    return default


def apply_store_class(store: Store, natives: Iterable[str]) -> None:
    """Give the just-written objects ``natives`` (native paths in ``store``) the store's
    class; a no-op for stores without one (see `write_class`)."""
    target = write_class(store)
    if target is None:
        return
    natives = list(natives)
    if store.kind == "azure":
        for native in natives:
            set_azure_tier(store, native, target)
        return
    if natives and _gcs_bucket_default(store, _split(natives[0])[0]) == target:
        return  # new objects get the bucket's default class
    for native in natives:
        rewrite_gcs_class(store, native, target)


def on_close(file: Any, then: Any) -> Any:
    """``file`` whose ``close()`` (also through ``with``) calls ``then()`` after the native
    close committed the upload; a failed close never calls it."""
    native_close = file.close

    def close() -> None:
        was_closed = file.closed
        native_close()
        if not was_closed:
            then()

    file.close = close
    return file
