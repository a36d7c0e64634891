"""Resolve a ``fabric://`` URL to what engines that talk to clouds themselves need.

polars ``scan_parquet``, ``pyarrow.fs``, pyiceberg FileIO and Trino catalog files do not go
through fsspec; `resolve` gives them the native URL (``s3://bucket/prefix/key``) and
the credentials/endpoint in each engine's own option names, all rendered from the one
store config. The options hold secrets: `Resolved`'s repr redacts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from skyfabric.config import AzureStoreConfig, GCSStoreConfig, S3StoreConfig
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
        cfg = self._store.config
        opts = self.storage_options
        out: dict[str, str] = {}
        if isinstance(cfg, S3StoreConfig):
            if "key" in opts:
                out["aws_access_key_id"] = opts["key"]
            if "secret" in opts:
                out["aws_secret_access_key"] = opts["secret"]
            if "token" in opts:
                out["aws_session_token"] = opts["token"]
            if cfg.region:
                out["aws_region"] = cfg.region
            if cfg.endpoint:
                out["aws_endpoint_url"] = cfg.endpoint
                out["aws_virtual_hosted_style_request"] = "false"
                if cfg.endpoint.startswith("http://"):
                    out["aws_allow_http"] = "true"
            if cfg.profile:
                out["aws_profile"] = cfg.profile
            if cfg.anonymous:
                out["aws_skip_signature"] = "true"
        elif isinstance(cfg, GCSStoreConfig):
            if opts.get("token") and opts["token"] != "anon":
                out["google_service_account"] = opts["token"]
            elif opts.get("token") == "anon":
                out["google_skip_signature"] = "true"
            if cfg.endpoint:
                out["gcs_base_url"] = cfg.endpoint
                out["allow_http"] = "true"
        elif isinstance(cfg, AzureStoreConfig):
            if cfg.account:
                out["account_name"] = cfg.account
            if "account_key" in opts:
                out["account_key"] = opts["account_key"]
            if "connection_string" in opts:
                parts = dict(
                    p.split("=", 1) for p in opts["connection_string"].split(";") if "=" in p
                )
                out.setdefault("account_name", parts.get("AccountName", ""))
                if "AccountKey" in parts:
                    out["account_key"] = parts["AccountKey"]
                if "BlobEndpoint" in parts:
                    out["azure_storage_endpoint"] = parts["BlobEndpoint"]
                    out["allow_http"] = "true"
        return out

    def pyarrow_filesystem(self) -> tuple[Any, str]:
        """``(pyarrow.fs.FileSystem, path)`` for ``pyarrow.dataset`` / ``pyarrow.parquet``.

        Local stores get pyarrow's native ``LocalFileSystem``; other stores are wrapped from
        the filesystem fabric:// reads them with (``PyFileSystem(FSSpecHandler(store.io))``:
        obstore for cloud stores, see `Store.io`), which honours the same endpoint,
        credentials and addressing style as every other fabric read.
        """
        import pyarrow.fs as pafs

        if self.kind == "local":
            return pafs.LocalFileSystem(), self.path
        return pafs.PyFileSystem(pafs.FSSpecHandler(self._store.io)), self.path


def resolve_store_path(store: Store, key: str, *, trailing_slash: bool = False) -> Resolved:
    """Build the `Resolved` for ``key`` in ``store``; ``trailing_slash`` keeps a prefix's
    final ``/`` so that ``url + "*.parquet"`` globs inside it."""
    url = store.native_path(key) if store.kind == "local" else store.native_url(key)
    if trailing_slash and not url.endswith("/"):
        url += "/"
    # auto_mkdir is our local client's own setting, not something engines accept
    options = {} if store.kind == "local" else store.storage_options()
    return Resolved(
        url=url, store=store.name, kind=store.kind, storage_options=options, _store=store
    )
