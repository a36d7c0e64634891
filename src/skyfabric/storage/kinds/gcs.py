"""Store kind ``gcs``: Google Cloud Storage (``endpoint`` only for an emulator).

Transport: gcsfs. List prices (USD; a GB is 2**30 bytes, a month 30 days): regional
us-east1, https://cloud.google.com/storage/pricing, as published in 2024-10: STANDARD 0.020;
NEARLINE 0.010 (30 d minimum, retrieval 0.01/GB); COLDLINE 0.004 (90 d, 0.02/GB); ARCHIVE
0.0012 (365 d, 0.05/GB; online). Class A operations 0.005 / 0.01 / 0.02 / 0.05 per 1000.
Internet egress 0.12/GB.
"""

from __future__ import annotations

import os
from typing import Any

from skyfabric.config import GCSStoreConfig
from skyfabric.storage.kinds._base import StoreKind
from skyfabric.storage.kinds._pricing import Price, price
from skyfabric.storage.kinds._support import (
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    env_secret,
    metadata_tags,
)
from skyfabric.storage.kinds._trino import env_ref, fs_switch
from skyfabric.storage.paths import join

__all__ = ["GCS_PRICES", "GCSStore"]

GCS_PRICES: dict[str, Price] = {
    "STANDARD": price(0.020, 0.005, 0.0, 0.12, 0),
    "NEARLINE": price(0.010, 0.01, 0.01, 0.12, 30),
    "COLDLINE": price(0.004, 0.02, 0.02, 0.12, 90),
    "ARCHIVE": price(0.0012, 0.05, 0.05, 0.12, 365),
}


class GCSStore(StoreKind):
    """A GCS bucket (plus prefix)."""

    kind = "gcs"
    scheme = "gs"
    schemes = ("gs", "gcs")
    fsspec_impl = ("gcsfs", "GCSFileSystem")
    extra = "gcs"
    # Cloud Storage docs, "Storage classes".
    storage_classes = ("STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE")
    class_setting = "storage_class"
    provider_default_class = "STANDARD"
    list_prices = GCS_PRICES
    trino_reachable = True
    default_credentials = "default chain"
    config: GCSStoreConfig

    @property
    def root(self) -> str:
        return join(self.config.bucket, self.config.prefix)

    # -- fsspec ------------------------------------------------------------------------------

    def storage_options(self) -> dict[str, Any]:
        cfg = self.config
        opts: dict[str, Any] = {}
        if cfg.project:
            opts["project"] = cfg.project
        if cfg.anonymous:
            opts["token"] = "anon"
        elif cfg.token_file_env:
            opts["token"] = env_secret(self.name, "token_file_env", cfg.token_file_env)
        if cfg.endpoint:
            opts["endpoint_url"] = cfg.endpoint
        return opts

    def _no_grpc_probe(self) -> None:
        if self.config.endpoint:
            # gcsfs (read at its import) probes an emulator for gRPC zonal buckets and stalls
            # 60 s per bucket; emulators have none.
            os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

    def _build(self) -> Any:
        self._no_grpc_probe()
        return super()._build()

    def client_arguments(self, options: dict[str, Any]) -> dict[str, Any]:
        """Connect and socket-read timeouts (`CONNECT_TIMEOUT`, `READ_TIMEOUT` seconds): a
        read timeout bounds a silence, not a whole transfer, so large objects still stream."""
        import aiohttp

        return {
            **super().client_arguments(options),
            "requests_timeout": aiohttp.ClientTimeout(
                total=None, connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT
            ),
        }

    # -- engines -----------------------------------------------------------------------------

    def polars_storage_options(self, fsspec_options: dict[str, Any]) -> dict[str, str]:
        opts = fsspec_options
        out: dict[str, str] = {}
        if opts.get("token") and opts["token"] != "anon":
            out["google_service_account"] = opts["token"]
        elif opts.get("token") == "anon":
            out["google_skip_signature"] = "true"
        if self.config.endpoint:
            out["gcs_base_url"] = self.config.endpoint
            out["allow_http"] = "true"
        return out

    def fileio_properties(self) -> dict[str, str]:
        cfg = self.config
        opts = self.storage_options()
        props: dict[str, str] = {}
        if cfg.project:
            props["gcs.project-id"] = cfg.project
        if opts.get("token"):  # "anon" or a service-account file path, as gcsfs takes it
            props["gcs.oauth2.token"] = str(opts["token"])
        if cfg.endpoint:
            props["gcs.service.host"] = cfg.endpoint
        return props

    def fileio(self, properties: dict[str, str]) -> Any:
        """gcsfs's FileIO: pyiceberg's ``PyArrowFileIO`` cannot make an anonymous GCS client
        (it hangs looking for credentials against an emulator)."""
        from pyiceberg.io.fsspec import FsspecFileIO

        self._no_grpc_probe()
        return FsspecFileIO(properties)

    def trino_filesystem_properties(
        self, version: int, catalog: str, notes: list[str]
    ) -> list[str]:
        cfg = self.config
        lines = [fs_switch("gcs", version)]
        if cfg.project:
            lines.append(f"gcs.project-id={cfg.project}")
        if cfg.token_file_env:
            lines.append(f"gcs.json-key-file-path={env_ref(cfg.token_file_env)}")
        if cfg.endpoint:
            lines.append(f"gcs.endpoint={cfg.endpoint}")
        return lines

    # -- display -----------------------------------------------------------------------------

    def location_label(self) -> str:
        return f"gs://{self.config.bucket}"

    # -- storage classes and prices ----------------------------------------------------------

    def read_class(self, native: str, info: dict[str, Any] | None = None) -> str | None:
        info = info or {}
        return info.get("storageClass") or self.fs.info(native).get("storageClass")

    def set_class(self, native: str, storage_class: str, size: int) -> None:
        """``objects.rewrite`` onto itself with ``storageClass`` in the body (Cloud Storage
        JSON API, "Objects: rewrite"; looped on ``rewriteToken`` for large objects)."""
        bucket, _, key = native.lstrip("/").partition("/")
        fs: Any = self.fs
        body: dict[str, Any] = {"storageClass": storage_class}
        token: str | None = None
        while True:
            params = {"rewriteToken": token} if token else {}
            out = fs.call(
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

    def object_tags(self, native: str, info: dict[str, Any]) -> dict[str, str]:
        """User metadata (from the listing entry, else ``info``)."""
        meta = info.get("metadata")
        if meta is None:
            meta = self.fs.info(native).get("metadata")
        return metadata_tags(meta)

    spark_package = "com.google.cloud.bigdataoss:gcs-connector:hadoop3-2.2.22"

    def spark_settings(self, conf: dict[str, str], notes: list[str]) -> None:
        """The Cloud Storage connector. Its settings are per session, not per bucket: a
        second GCS store that needs other values is noted, not set."""
        from skyfabric.storage.kinds._spark import spark_env_ref

        cfg = self.config
        opts = {"spark.hadoop.fs.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem",
                "spark.hadoop.fs.AbstractFileSystem.gs.impl":
                    "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFS"}
        if cfg.project:
            opts["spark.hadoop.fs.gs.project.id"] = cfg.project
        if cfg.token_file_env:
            opts["spark.hadoop.fs.gs.auth.type"] = "SERVICE_ACCOUNT_JSON_KEYFILE"
            opts["spark.hadoop.fs.gs.auth.service.account.json.keyfile"] = spark_env_ref(
                cfg.token_file_env)
        elif cfg.anonymous:
            opts["spark.hadoop.fs.gs.auth.type"] = "UNAUTHENTICATED"
        if cfg.endpoint:
            opts["spark.hadoop.fs.gs.storage.root.url"] = cfg.endpoint
        for key, value in opts.items():
            if key in conf and conf[key] != value:
                notes.append(f"{self.name}: the GCS connector takes one "
                             f"{key.split('fs.gs.', 1)[-1]} per session and another GCS store "
                             f"set it; read {self.name} in another session")
                continue
            conf.setdefault(key, value)
