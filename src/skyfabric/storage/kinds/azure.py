"""Store kind ``azure``: an Azure Blob Storage container (``endpoint`` for Azurite).

Transport: adlfs. List prices (USD; a GB is 2**30 bytes, a month 30 days): LRS, East US,
https://azure.microsoft.com/pricing/details/storage/blobs/, as published in 2024-10: Hot
0.018; Cool 0.010 (30 d minimum, retrieval 0.01/GB); Cold 0.0036 (90 d, 0.03/GB); Archive
0.00099 (180 d, 0.02/GB, **offline**: rehydrate before read). Write operations 0.05 / 0.10 /
0.18 / 0.10 per 10,000. Internet egress 0.087/GB.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace
from typing import Any
from urllib.parse import urlparse, urlsplit

from skyfabric.config import AzureStoreConfig
from skyfabric.errors import ConfigError, brief
from skyfabric.storage.kinds._base import StoreKind
from skyfabric.storage.kinds._bucket_creation import BucketCreation
from skyfabric.storage.kinds._pricing import Price, price
from skyfabric.storage.kinds._support import (
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    env_secret,
    metadata_tags,
    posix_seconds,
)
from skyfabric.storage.kinds._trino import AZURE_ENDPOINT_SINCE, env_ref, fs_switch
from skyfabric.storage.paths import join

__all__ = ["AZURE_PRICES", "AzureStore", "connection_fields"]

AZURE_PRICES: dict[str, Price] = {
    "Hot": price(0.018, 0.005, 0.0, 0.087, 0),
    "Cool": price(0.010, 0.01, 0.01, 0.087, 30),
    "Cold": price(0.0036, 0.018, 0.03, 0.087, 90),
    "Archive": price(0.00099, 0.01, 0.02, 0.087, 180, offline=True),
}
_DEFAULT_SUFFIXES = (".blob.core.windows.net", ".dfs.core.windows.net")


def connection_fields(connection_string: str) -> dict[str, str]:
    """``AccountName=a;AccountKey=k;...`` -> ``{"AccountName": "a", "AccountKey": "k", ...}``."""
    return dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)


# Largest object a verified copy to Azure puts in one request (see `single_put_limit`).
AZURE_SINGLE_PUT = 64 * 2**20


class AzureStore(StoreKind):
    """An Azure Blob container (plus prefix)."""

    kind = "azure"
    scheme = "abfs"
    schemes = ("abfs", "abfss", "wasb", "wasbs", "az")
    fsspec_impl = ("adlfs", "AzureBlobFileSystem")
    extra = "azure"
    bucket_word = "container"
    # Blob service REST API, "Set Blob Tier".
    storage_classes = ("Hot", "Cool", "Cold", "Archive")
    class_setting = "access_tier"
    provider_default_class = "Hot"
    list_prices = AZURE_PRICES
    trino_reachable = True
    default_credentials = "default chain"
    listing_has_class = False  # adlfs listings carry no tier
    config: AzureStoreConfig

    @property
    def root(self) -> str:
        return join(self.config.container, self.config.prefix)

    @classmethod
    def location_path(cls, netloc: str, path: str) -> str:
        """``abfs://container@account.dfs.core.windows.net/path`` -> ``container/path``."""
        return f"{netloc.split('@', 1)[0]}{path}"

    # -- fsspec ------------------------------------------------------------------------------

    def storage_options(self) -> dict[str, Any]:
        cfg = self.config
        opts: dict[str, Any] = {}
        conn = env_secret(self.name, "connection_string_env", cfg.connection_string_env)
        if conn is not None:
            opts["connection_string"] = conn
        if cfg.account:
            opts["account_name"] = cfg.account
        elif conn is not None:
            # adlfs builds paths and its cache key from account_name; it does not parse
            # it out of the connection string itself.
            fields = connection_fields(conn)
            if fields.get("AccountName"):
                opts["account_name"] = fields["AccountName"]
        key = env_secret(self.name, "account_key_env", cfg.account_key_env)
        if conn is None and cfg.endpoint and cfg.account and key is not None:
            # adlfs takes a custom endpoint (Azurite, sovereign clouds) only through a
            # connection string; an account key alongside one would send writes to Azure.
            return {
                "connection_string": (
                    f"DefaultEndpointsProtocol={cfg.endpoint.split('://', 1)[0]};"
                    f"AccountName={cfg.account};AccountKey={key};BlobEndpoint={cfg.endpoint};"
                ),
                "account_name": cfg.account,
            }
        if key is not None:
            opts["account_key"] = key
        if conn is None and key is None and cfg.account:
            # provider's default chain (managed identity, az login, env credentials)
            opts["anon"] = False
        return opts

    def client_arguments(self, options: dict[str, Any]) -> dict[str, Any]:
        """Connect and read timeouts (`CONNECT_TIMEOUT`, `READ_TIMEOUT` seconds)."""
        return {
            **super().client_arguments(options),
            "connection_timeout": CONNECT_TIMEOUT,
            "read_timeout": READ_TIMEOUT,
        }

    def _blob_call(self, native: str, call: Any) -> Any:
        """Run ``await call(blob_client)`` on adlfs' loop for the blob at ``native``."""
        from fsspec.asyn import sync

        fs: Any = self.fs
        container, _, blob = native.lstrip("/").partition("/")

        async def run() -> Any:
            async with fs.service_client.get_blob_client(container, blob) as client:
                return await call(client)

        return sync(fs.loop, run)

    # -- engines -----------------------------------------------------------------------------

    def polars_storage_options(self, fsspec_options: dict[str, Any]) -> dict[str, str]:
        opts = fsspec_options
        out: dict[str, str] = {}
        if self.config.account:
            out["account_name"] = self.config.account
        if "account_key" in opts:
            out["account_key"] = opts["account_key"]
        if "connection_string" in opts:
            parts = connection_fields(opts["connection_string"])
            out.setdefault("account_name", parts.get("AccountName", ""))
            if "AccountKey" in parts:
                out["account_key"] = parts["AccountKey"]
            if "BlobEndpoint" in parts:
                out["azure_storage_endpoint"] = parts["BlobEndpoint"]
                out["allow_http"] = "true"
        return out

    def fileio_properties(self) -> dict[str, str]:
        cfg = self.config
        opts = self.storage_options()
        props: dict[str, str] = {}
        fields = connection_fields(opts.get("connection_string", ""))
        account = cfg.account or fields.get("AccountName")
        if account:
            props["adls.account-name"] = account
        key = opts.get("account_key") or fields.get("AccountKey")
        if key:
            props["adls.account-key"] = key
        if fields.get("SharedAccessSignature"):
            props["adls.sas-token"] = fields["SharedAccessSignature"]
        endpoint = cfg.endpoint or fields.get("BlobEndpoint")
        if endpoint:
            parsed = urlparse(endpoint)
            if not parsed.netloc.endswith(_DEFAULT_SUFFIXES):  # emulator / sovereign cloud
                for service in ("blob", "dfs"):
                    props[f"adls.{service}-storage-authority"] = parsed.netloc
                    props[f"adls.{service}-storage-scheme"] = parsed.scheme or "https"
        return props

    def fileio(self, properties: dict[str, str]) -> Any:
        """pyarrow's ``AzureFileSystem`` (pyiceberg's ``FsspecFileIO`` derives the account
        from the URL host, which for ``abfs://container/path`` is the container), reading
        ``container@account...`` URLs too (`skyfabric.storage.kinds._azure_fileio`)."""
        from skyfabric.storage.kinds._azure_fileio import AzurePyArrowFileIO

        return AzurePyArrowFileIO(properties)

    def trino_root(self) -> str:
        """``abfs://<container>@<account>.dfs.core.windows.net/<prefix>`` (a placeholder for
        the account when the config names none)."""
        account = self.config.account or f"<account of store {self.name}>"
        return f"abfs://{self.config.container}@{account}.dfs.core.windows.net/{self.config.prefix}".rstrip("/")

    def trino_url(self, key: str) -> str:
        """``abfs://<container>@<account>.dfs.core.windows.net/<key>``; the account comes
        from the config, else from the connection string's ``AccountName``.

        Raises:
            ConfigError: neither names the account.
        """
        cfg = self.config
        account = cfg.account
        if account is None and cfg.connection_string_env:
            conn = os.environ.get(cfg.connection_string_env, "")
            account = connection_fields(conn).get("AccountName")
        if not account:
            raise ConfigError(
                "Trino addresses Azure as abfs://container@account...; store "
                f"{self.name!r} names no account; fix: set stores.{self.name}.account"
            )
        container, _, rest = self.native_path(key).partition("/")
        return f"abfs://{container}@{account}.dfs.core.windows.net/{rest}"

    def trino_filesystem_properties(
        self, version: int, catalog: str, notes: list[str]
    ) -> list[str]:
        cfg, name = self.config, self.name
        lines = [fs_switch("azure", version)]
        if cfg.account_key_env or cfg.connection_string_env:
            var = cfg.account_key_env or f"SKYFABRIC_{catalog.upper()}_ACCOUNT_KEY"
            lines += ["azure.auth-type=ACCESS_KEY", f"azure.access-key={env_ref(var)}"]
            if not cfg.account_key_env:
                lines.insert(1, f"# Trino takes an account key, not a connection string: export {var} "
                                f"= the AccountKey field of ${cfg.connection_string_env}")
                notes.append(f"{name}: export {var} (the AccountKey of ${cfg.connection_string_env}) on every Trino node")
        else:
            lines.append("azure.auth-type=DEFAULT")
        if cfg.endpoint:
            host = urlsplit(cfg.endpoint).hostname or ""
            if version >= AZURE_ENDPOINT_SINCE and "." in host and not host.replace(".", "").isdigit():
                lines.append(f"azure.endpoint={host.split('.', 2)[-1]}")
            else:
                lines.append(f"# endpoint {cfg.endpoint} (an emulator?) cannot be set: Trino's "
                             "azure.endpoint is a host suffix of https://<account>.dfs.<suffix>")
                notes.append(f"{name}: Trino cannot address the Azure endpoint {cfg.endpoint}")
        if not cfg.account:
            notes.append(f"{name}: set stores.{name}.account; Trino addresses abfs://container@account...")
        return lines

    # -- display -----------------------------------------------------------------------------

    def location_label(self) -> str:
        cfg = self.config
        return f"az://{cfg.container}" + (f" (account {cfg.account})" if cfg.account else "")

    # -- storage classes and prices ----------------------------------------------------------

    def read_class(self, native: str, info: dict[str, Any] | None = None) -> str | None:
        """The blob's access tier (``Get Blob Properties``: listings carry none)."""

        async def props(client: Any) -> Any:
            return await client.get_blob_properties()

        return getattr(self._blob_call(native, props), "blob_tier", None)

    def set_class(self, native: str, storage_class: str, size: int) -> None:
        """``Set Blob Tier`` (Blob service REST API) through azure-storage-blob's
        ``set_standard_blob_tier``."""

        async def tier(client: Any) -> None:
            await client.set_standard_blob_tier(storage_class)

        self._blob_call(native, tier)

    def access_time(self, native: str, info: dict[str, Any]) -> float | None:
        """``last_accessed_on``, when the account tracks access."""
        return posix_seconds(info.get("last_accessed_on"))

    def object_tags(self, native: str, info: dict[str, Any]) -> dict[str, str]:
        """User metadata (from the listing entry, else ``info``)."""
        meta = info.get("metadata")
        if meta is None:
            meta = self.fs.info(native).get("metadata")
        return metadata_tags(meta)

    spark_package = "org.apache.hadoop:hadoop-azure:3.3.4"

    def spark_settings(self, conf: dict[str, str], notes: list[str]) -> None:
        """ABFS with the account key (per account); an endpoint (emulator) and the URL form
        skyfabric records (``abfs://container/path``) are noted: ABFS takes neither."""
        from skyfabric.storage.kinds._spark import spark_env_ref

        cfg, name = self.config, self.name
        if not cfg.account:
            notes.append(f"{name}: set stores.{name}.account; ABFS addresses "
                         "abfs://container@account...")
            return
        host = f"{cfg.account}.dfs.core.windows.net"
        if cfg.account_key_env:
            conf[f"spark.hadoop.fs.azure.account.key.{host}"] = spark_env_ref(cfg.account_key_env)
        elif cfg.connection_string_env:
            var = f"SKYFABRIC_{name.upper().replace('-', '_')}_ACCOUNT_KEY"
            conf[f"spark.hadoop.fs.azure.account.key.{host}"] = spark_env_ref(var)
            notes.append(f"{name}: ABFS takes an account key, not a connection string: export "
                         f"{var} = the AccountKey field of ${cfg.connection_string_env}")
        if cfg.endpoint:
            notes.append(f"{name}: ABFS cannot address the endpoint {cfg.endpoint} (an emulator?)")
        notes.append(f"{name}: skyfabric records Azure files as abfs://{cfg.container}/<path> "
                     "(the fsspec form); Hadoop's ABFS needs abfs://container@account.dfs.core."
                     "windows.net/<path>, so Spark cannot read tables whose files are on Azure yet")

    def spark_url(self, key: str) -> str:
        """``abfs://<container>@<account>.dfs.core.windows.net/<key>`` when the account is
        configured, else the native URL."""
        if not self.config.account:
            return super().spark_url(key)
        container, _, rest = self.native_path(key).partition("/")
        return f"abfs://{container}@{self.config.account}.dfs.core.windows.net/{rest}".rstrip("/")

    # -- the bucket itself (skyfabric stores --create) ------------------------------------

    def create_bucket(self) -> BucketCreation:
        from azure.core.exceptions import ResourceExistsError
        from fsspec.asyn import sync

        cfg = self.config
        fs = self.fs
        details = f"endpoint {cfg.endpoint}" if cfg.endpoint else (f"account {cfg.account}" if cfg.account else "")
        result = BucketCreation(
            self.name, self.kind, f"abfs://{cfg.container}", created=True, details=details
        )

        async def create() -> None:
            await fs.service_client.create_container(cfg.container)

        try:
            sync(fs.loop, create)
        except ResourceExistsError:
            return replace(result, created=False)
        except Exception as exc:
            status = getattr(exc, "status_code", None)
            if status in (401, 403):
                raise PermissionError(brief(exc)) from exc
            if status == 400:
                raise ConfigError(
                    f"store {self.name!r}: Azure refused to create container {cfg.container!r} "
                    f"({brief(exc)}); fix: check `container` in [stores.{self.name}] (3-63 "
                    "lowercase letters, digits and single hyphens)"
                ) from exc
            raise OSError(brief(exc)) from exc
        fs.invalidate_cache()
        return result

    # -- the class of new objects ------------------------------------------------------------

    @property
    def write_class(self) -> str | None:
        """``access_tier``: adlfs has no per-write tier, so it is set after each write."""
        return self.config.access_tier

    def apply_write_class(self, natives: Iterable[str]) -> None:
        """``Set Blob Tier`` (a metadata-only request) on each object."""
        target = self.write_class
        if target is not None:
            for native in natives:
                self.set_class(native, target, 0)

    # -- the obstore transport ---------------------------------------------------------------

    has_obstore = True
    content_md5_via_fsspec = True  # Azure's Content-MD5: adlfs reads it, obstore does not

    @property
    def single_put_limit(self) -> int:
        """Up to 64 MiB through obstore: Azure computes Content-MD5 only for a single put,
        so the copy is verified without reading it back (memory: up to this much per object
        being copied, times the copy's workers)."""
        return AZURE_SINGLE_PUT if self.uses_obstore else 0

    #: Azure's Get Blob takes no suffix range (``bytes=-N``).
    suffix_ranges = False

    def _build_obstore(self) -> Any:
        from skyfabric.storage._obstore_clients import azure_store

        return azure_store(self.name, self.config)
