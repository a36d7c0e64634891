"""Store kind ``gcs``: Google Cloud Storage (``endpoint`` only for an emulator).

Transport: gcsfs. List prices (USD; a GB is 2**30 bytes, a month 30 days): regional
us-east1, https://cloud.google.com/storage/pricing, as published in 2024-10: STANDARD 0.020;
NEARLINE 0.010 (30 d minimum, retrieval 0.01/GB); COLDLINE 0.004 (90 d, 0.02/GB); ARCHIVE
0.0012 (365 d, 0.05/GB; online). Class A operations 0.005 / 0.01 / 0.02 / 0.05 per 1000.
Internet egress 0.12/GB.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from skyfabric.config import GCSStoreConfig
from skyfabric.errors import ConfigError, StoreError, brief, register_secret
from skyfabric.storage.kinds._base import StoreKind
from skyfabric.storage.kinds._bucket_creation import BucketCreation
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


# (endpoint, bucket) -> the bucket's default storage class (None: could not be read).
_bucket_defaults: dict[tuple[str, str], str | None] = {}
_bucket_defaults_lock = threading.Lock()


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
        """A store with an ``endpoint`` (an emulator) gets it inside an inline service-account
        JSON (``google_service_account_key``): polars' GCS client (the Rust ``object_store``
        crate) ignores ``gcs_base_url`` as an option and reads the base URL only from that
        JSON's ``gcs_base_url`` field (as obstore does, FINDINGS.md).

        Raises:
            ConfigError: a store with an endpoint whose token is not a service-account JSON.
        """
        opts = fsspec_options
        if self.config.endpoint:
            return self._polars_endpoint_options(opts.get("token"))
        out: dict[str, str] = {}
        if opts.get("token") and opts["token"] != "anon":
            out["google_service_account"] = opts["token"]
        elif opts.get("token") == "anon":
            out["google_skip_signature"] = "true"
        return out

    def _polars_endpoint_options(self, token: Any) -> dict[str, str]:
        cfg = self.config
        assert cfg.endpoint is not None
        if token in (None, "anon"):
            account: dict[str, Any] = {
                "client_email": "", "private_key": "", "private_key_id": "", "disable_oauth": True,
            }
        else:
            try:
                account = json.loads(Path(str(token)).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"store {self.name!r} has endpoint {cfg.endpoint}: polars reaches it only "
                    f"with a service-account JSON file in {cfg.token_file_env} ({brief(exc)}); "
                    f"fix: point {cfg.token_file_env} at a service-account JSON file, or set "
                    "anonymous = true for an emulator, or read through fabric:// (pyarrow, "
                    "pandas, duckdb)"
                ) from exc
            if not isinstance(account, dict) or "private_key" not in account:
                raise ConfigError(
                    f"store {self.name!r} has endpoint {cfg.endpoint}: polars reaches it only "
                    f"with a service-account JSON (one with private_key), and "
                    f"{cfg.token_file_env} names another kind of credential; fix: use a "
                    "service-account key file, set anonymous = true for an emulator, or read "
                    "through fabric://"
                )
            register_secret(str(account.get("private_key") or "") or None)
        key = json.dumps({**account, "gcs_base_url": cfg.endpoint})
        if account.get("private_key"):
            register_secret(key)
        out = {"google_service_account_key": key}
        if cfg.endpoint.startswith("http://"):
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

    # -- the bucket itself (skyfabric stores --create) ------------------------------------

    def create_bucket(self) -> BucketCreation:
        cfg = self.config
        if not cfg.project:
            raise ConfigError(
                f"store {self.name!r}: creating GCS bucket {cfg.bucket!r} needs the project to "
                f'bill it to; fix: set project = "<project id>" in [stores.{self.name}]'
            )
        fs = self.fs
        details = [f"project {cfg.project}"]
        body: dict[str, Any] = {"name": cfg.bucket}
        if cfg.region:
            body["location"] = cfg.region
            details.append(f"location {cfg.region}")
        if cfg.storage_class:
            body["storageClass"] = cfg.storage_class
            details.append(f"default storage class {cfg.storage_class}")
        if cfg.endpoint:
            details.append(f"endpoint {cfg.endpoint}")
        result = BucketCreation(
            self.name, self.kind, f"gs://{cfg.bucket}", created=True, details=", ".join(details)
        )
        try:
            fs.call("GET", "b/{}", cfg.bucket, json_out=True)
        except FileNotFoundError:
            pass
        else:
            return replace(result, created=False)
        try:
            fs.call("POST", "b", project=cfg.project, json=body, json_out=True)
        except (OSError, ValueError) as exc:
            code = getattr(exc, "code", None)
            if code == 409:  # exists: ours, created meanwhile, or someone else's
                try:
                    fs.call("GET", "b/{}", cfg.bucket, json_out=True)
                except OSError:
                    raise StoreError(
                        f"store {self.name!r}: bucket name {cfg.bucket!r} is taken by another "
                        f"project (bucket names are global); fix: choose another `bucket` in "
                        f"[stores.{self.name}]"
                    ) from exc
                return replace(result, created=False)
            if isinstance(exc, ValueError) or code == 400:
                raise ConfigError(
                    f"store {self.name!r}: GCS refused to create bucket {cfg.bucket!r} with "
                    f"{', '.join(details)} ({brief(exc)}); fix: check `region` (a GCS location such "
                    f"as US or EUROPE-WEST3), `storage_class` and `bucket` in [stores.{self.name}]"
                ) from exc
            raise
        fs.invalidate_cache()
        return result

    # -- the class of new objects ------------------------------------------------------------

    @property
    def write_class(self) -> str | None:
        """``storage_class``: gcsfs has no per-write class, so it is set after each write."""
        return self.config.storage_class

    def apply_write_class(self, natives: Iterable[str]) -> None:
        """`set_class` on each object, skipped when the bucket's default class (read once per
        process and bucket) already is the store's: new objects get the bucket default."""
        target = self.write_class
        natives = list(natives)
        if target is None or not natives:
            return
        bucket = natives[0].lstrip("/").partition("/")[0]
        if self._bucket_default_class(bucket) == target:
            return
        for native in natives:
            self.set_class(native, target, 0)

    def _bucket_default_class(self, bucket: str) -> str | None:
        cache_key = (self.config.endpoint or "", bucket)
        with _bucket_defaults_lock:
            if cache_key in _bucket_defaults:
                return _bucket_defaults[cache_key]
        try:
            default = self.fs.call("GET", "b/{}", bucket, json_out=True).get("storageClass")
        except OSError:  # no storage.buckets.get permission: set the class on every object
            default = None
        with _bucket_defaults_lock:
            _bucket_defaults[cache_key] = default
        return default

    # -- the obstore transport ---------------------------------------------------------------

    has_obstore = True

    #: the XML API's ETag of a simple upload is the object's MD5 (hex)
    etag_is_md5 = True

    @property
    def obstore_writes_via_fsspec(self) -> bool:
        """fake-gcs-server refuses obstore's XML-API PUT/copy (FINDINGS.md): on a store with
        an ``endpoint`` (emulators only, per the config) writes go through gcsfs."""
        return bool(self.config.endpoint)

    def _build_obstore(self) -> Any:
        from skyfabric.storage._obstore_clients import gcs_store

        return gcs_store(self.name, self.config)
