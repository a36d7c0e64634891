"""A store's storage class / access tier, applied to the objects written through it.

``storage_class`` of a GCS store and ``access_tier`` of an Azure store name the class new
objects get (docs/configuration.md). S3 stores send theirs with every upload and copy
(s3fs ``s3_additional_kwargs``); gcsfs and adlfs have no such option, so the store kind sets
it on each object once it is written (`StoreKind.apply_write_class`: GCS ``objects.rewrite``
onto itself, skipped when the bucket default already is the class; Azure ``Set Blob Tier``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from skyfabric.storage.stores import Store

__all__ = ["apply_store_class", "on_close", "write_class"]


def write_class(store: Store) -> str | None:
    """The class `apply_store_class` gives new objects of ``store`` (``None``: nothing to do)."""
    return store.write_class


def apply_store_class(store: Store, natives: Iterable[str]) -> None:
    """Give the just-written objects ``natives`` (native paths in ``store``) the store's class."""
    store.apply_write_class(natives)


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
