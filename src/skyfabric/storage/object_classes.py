"""Calling back once a written object is committed (`on_close`).

A GCS store's ``storage_class`` and an Azure store's ``access_tier`` are set on each object
once it is written (`StoreKind.apply_write_class`); for a file opened for writing that is
after its upload commits, at ``close()``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["on_close"]


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
