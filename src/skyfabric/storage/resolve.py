"""Resolve a ``fabric://`` URL to what engines that talk to clouds themselves need.

polars ``scan_parquet``, ``pyarrow.fs``, pyiceberg FileIO and Trino catalog files do not go
through fsspec; `resolve` gives them the native URL (``s3://bucket/prefix/key``) and
the credentials/endpoint in each engine's own option names, all rendered from the one
store config. The options hold secrets: `Resolved`'s repr redacts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from skyfabric.storage.stores import Store

__all__ = ["Resolved", "resolve_store_path"]

_SECRET_KEYS = {
    "key",
    "secret",
    "token",
    "connection_string",
    "account_key",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "s3.access-key-id",
    "s3.secret-access-key",
    "s3.session-token",
    "adls.account-key",
    "google_service_account_key",
    "adls.connection-string",
}


def _redacted(options: dict[str, Any]) -> dict[str, Any]:
    return {
        k: ("***" if k in _SECRET_KEYS and v not in (None, "anon") else v)
        for k, v in options.items()
    }


@dataclass(frozen=True)
class Resolved:
    """A fabric URL resolved to its native location.

    Attributes:
        url: native URL, e.g. ``s3://telemetry-raw/2026/11/day.parquet``; local stores give
            a plain absolute path.
        store: the store name.
        kind: the store kind (``s3``, ``gcs``, ``azure``, ``local``, ``memory``).
        storage_options: fsspec keyword arguments for ``fsspec.filesystem(protocol, **opts)``
            and for pandas/dask ``storage_options=``.
    """

    url: str
    store: str
    kind: str
    storage_options: dict[str, Any] = field(repr=False)
    _store: Store = field(repr=False, compare=False)

    def __repr__(self) -> str:
        return (
            f"Resolved(url={self.url!r}, store={self.store!r}, kind={self.kind!r}, "
            f"storage_options={_redacted(self.storage_options)!r})"
        )

    @property
    def path(self) -> str:
        """The protocol-less native path (``bucket/prefix/key`` or ``/abs/path``)."""
        return self.url.split("://", 1)[1] if "://" in self.url else self.url

    def polars_storage_options(self) -> dict[str, str]:
        """Options in the ``object_store`` names polars' ``scan_parquet(storage_options=)`` takes."""
        return self._store.polars_storage_options(self.storage_options)

    def pyarrow_filesystem(self) -> tuple[Any, str]:
        """``(pyarrow.fs.FileSystem, path)`` for ``pyarrow.dataset`` / ``pyarrow.parquet``.

        Local stores get pyarrow's native ``LocalFileSystem``; other stores are wrapped from
        the filesystem fabric:// reads them with (``PyFileSystem(FSSpecHandler(store.io))``:
        obstore for cloud stores, see `Store.io`), which honours the same endpoint,
        credentials and addressing style as every other fabric read.
        """
        return self._store.pyarrow_filesystem(self.path)


def resolve_store_path(store: Store, key: str, *, trailing_slash: bool = False) -> Resolved:
    """Build the `Resolved` for ``key`` in ``store``; ``trailing_slash`` keeps a prefix's
    final ``/`` so that ``url + "*.parquet"`` globs inside it."""
    url = store.engine_url(key)
    if trailing_slash and not url.endswith("/"):
        url += "/"
    options = store.engine_storage_options()
    return Resolved(
        url=url, store=store.name, kind=store.kind, storage_options=options, _store=store
    )
