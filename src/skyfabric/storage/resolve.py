"""Resolve a ``fabric://`` URL to what engines that talk to clouds themselves need.

polars ``scan_parquet``, ``pyarrow.fs``, pyiceberg FileIO and Trino catalog files do not go
through fsspec; `resolve` gives them the native URL (``s3://bucket/prefix/key``) and
the credentials/endpoint in each engine's own option names, all rendered from the one
store config. The options hold secrets: `Resolved`'s repr redacts them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skyfabric.config import AzureStoreConfig, GCSStoreConfig, S3StoreConfig
from skyfabric.errors import ConfigError, brief, register_secret
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
    "google_service_account_key",
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
        """Options in the ``object_store`` names polars' ``scan_parquet(storage_options=)`` takes.

        A GCS store with an ``endpoint`` (an emulator) gets its endpoint inside an inline
        service-account JSON (``google_service_account_key``), the only place polars reads
        one from; see `_polars_gcs_endpoint`.

        Raises:
            ConfigError: a GCS store with an endpoint whose token is not a service-account
                JSON file (polars could not be pointed at the endpoint).
        """
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
            if cfg.endpoint:
                out.update(_polars_gcs_endpoint(self.store, cfg, opts.get("token")))
            elif opts.get("token") and opts["token"] != "anon":
                out["google_service_account"] = opts["token"]
            elif opts.get("token") == "anon":
                out["google_skip_signature"] = "true"
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
        their fsspec client (``PyFileSystem(FSSpecHandler(...))``), which honours the same
        endpoint, credentials and addressing style as every other fabric read.
        """
        import pyarrow.fs as pafs

        if self.kind == "local":
            return pafs.LocalFileSystem(), self.path
        return pafs.PyFileSystem(pafs.FSSpecHandler(self._store.fs)), self.path


def _polars_gcs_endpoint(store: str, cfg: GCSStoreConfig, token: Any) -> dict[str, str]:
    """polars options that reach a GCS endpoint other than Google's (an emulator).

    polars' GCS client (the Rust ``object_store`` crate) has no endpoint option: it ignores
    ``gcs_base_url`` as a storage option and takes the base URL only from the
    ``gcs_base_url`` field of a service-account JSON (as obstore does, FINDINGS.md). So the
    store's service-account file (``token_file_env``) is passed inline as
    ``google_service_account_key`` with that field added, or for an anonymous store a
    credential-less one with ``disable_oauth``.

    Raises:
        ConfigError: the store's token is not a readable service-account JSON file.
    """
    if token in (None, "anon"):
        account: dict[str, Any] = {
            "client_email": "", "private_key": "", "private_key_id": "", "disable_oauth": True,
        }
    else:
        try:
            account = json.loads(Path(str(token)).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"store {store!r} has endpoint {cfg.endpoint}: polars reaches it only with a "
                f"service-account JSON file in {cfg.token_file_env} ({brief(exc)}); fix: point "
                f"{cfg.token_file_env} at a service-account JSON file, or set anonymous = true "
                "for an emulator, or read through fabric:// (pyarrow, pandas, duckdb)"
            ) from exc
        if not isinstance(account, dict) or "private_key" not in account:
            raise ConfigError(
                f"store {store!r} has endpoint {cfg.endpoint}: polars reaches it only with a "
                f"service-account JSON (one with private_key), and {cfg.token_file_env} names "
                "another kind of credential; fix: use a service-account key file, set "
                "anonymous = true for an emulator, or read through fabric://"
            )
        register_secret(str(account.get("private_key") or "") or None)
    key = json.dumps({**account, "gcs_base_url": cfg.endpoint})
    if account.get("private_key"):
        register_secret(key)
    out = {"google_service_account_key": key}
    if cfg.endpoint.startswith("http://"):
        out["allow_http"] = "true"
    return out


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
