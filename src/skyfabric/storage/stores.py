"""A `Store` per configured name: where its root is and how to reach it.

Store kinds map to lazily imported fsspec implementations (the fsspec ``registry`` pattern):
``s3`` -> s3fs, ``gcs`` -> gcsfs, ``azure`` -> adlfs, ``local``/``memory`` -> fsspec itself.
A missing optional dependency becomes one `MissingDependencyError` naming the extra.

Clients are built lazily, once per process (s3fs/gcsfs event loops are not fork-safe), with
fsspec's listing cache off: a cached listing hands back stale sizes after an overwrite
(s3fs #424, #492), and we cannot invalidate writes that do not go through us.
"""

from __future__ import annotations

import importlib
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from fsspec import AbstractFileSystem

from skyfabric.config import (
    AzureStoreConfig,
    GCSStoreConfig,
    LocalStoreConfig,
    MemoryStoreConfig,
    S3StoreConfig,
    StoreConfig,
)
from skyfabric.errors import ConfigError, MissingDependencyError, register_secret
from skyfabric.storage.paths import join

__all__ = ["Store", "native_protocol"]

# store kind -> (module, class, pip extra)
_IMPLEMENTATIONS: dict[str, tuple[str, str, str | None]] = {
    "s3": ("s3fs", "S3FileSystem", "s3"),
    "gcs": ("gcsfs", "GCSFileSystem", "gcs"),
    "azure": ("adlfs", "AzureBlobFileSystem", "azure"),
    "local": ("fsspec.implementations.local", "LocalFileSystem", None),
    "memory": ("fsspec.implementations.memory", "MemoryFileSystem", None),
}
# Seconds a client waits to connect, and for the next bytes of an answer, before the call
# fails (and is retried by the client's own bounded retries): a store that stopped answering
# costs a bounded time, never a hang.
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60
_URL_SCHEMES = {"s3": "s3", "gcs": "gs", "azure": "abfs", "local": "file", "memory": "memory"}


def native_protocol(kind: str) -> str:
    """The URL scheme engines use for a store kind (``s3``, ``gs``, ``abfs``, ``file``, ``memory``)."""
    return _URL_SCHEMES[kind]


def _import_impl(kind: str) -> type[AbstractFileSystem]:
    module_name, class_name, extra = _IMPLEMENTATIONS[kind]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MissingDependencyError(
            f"store kind {kind!r} needs the {module_name!r} package; "
            f"fix: pip install 'skyfabric[{extra}]'"
        ) from exc
    return getattr(module, class_name)


def _env(store: str, field_name: str, var: str | None) -> str | None:
    """Read the secret named by ``var``; the value is registered for redaction."""
    if var is None:
        return None
    value = os.environ.get(var)
    if value is None:
        raise ConfigError(
            f"stores.{store}.{field_name} names the environment variable {var!r}, which is not set; "
            f"fix: export {var}=... or remove {field_name} to use the provider's default credentials"
        )
    register_secret(value)
    return value


@dataclass
class Store:
    """One configured store: its name, config, native root and (lazily) its fsspec client.

    ``root`` is the protocol-less native path of the store's top, e.g. ``bucket/prefix`` for
    object stores, ``/data/scratch`` for local disk.
    """

    name: str
    config: StoreConfig
    _fs: AbstractFileSystem | None = field(default=None, repr=False, compare=False)
    _pid: int = field(default=0, repr=False, compare=False)
    # obstore client and the data-path filesystem over it, with the pid that built them
    _obstore: tuple[int, Any, AbstractFileSystem] | None = field(
        default=None, repr=False, compare=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def root(self) -> str:
        cfg = self.config
        if isinstance(cfg, S3StoreConfig | GCSStoreConfig):
            return join(cfg.bucket, cfg.prefix)
        if isinstance(cfg, AzureStoreConfig):
            return join(cfg.container, cfg.prefix)
        if isinstance(cfg, LocalStoreConfig):
            return join(cfg.path.as_posix(), cfg.prefix) if cfg.prefix else cfg.path.as_posix()
        assert isinstance(cfg, MemoryStoreConfig)
        return join("/" + cfg.root.strip("/"), cfg.prefix)

    def native_path(self, key: str) -> str:
        """Protocol-less native path of ``key`` inside this store."""
        return join(self.root, key) if key else self.root

    def native_url(self, key: str = "") -> str:
        """Full native URL, e.g. ``s3://bucket/prefix/key``, ``file:///data/key``."""
        path = self.native_path(key)
        scheme = native_protocol(self.kind)
        return f"{scheme}://{path}"

    def key_of(self, native: str) -> str:
        """Inverse of `native_path`: the store-relative key of a native path."""
        root = self.root.rstrip("/")
        native = native.rstrip("/")
        if self.kind in ("local",) and native.startswith("file://"):
            native = native[len("file://") :]
        if native == root:
            return ""
        if native.startswith(root + "/"):
            return native[len(root) + 1 :]
        # s3fs/gcsfs may hand back paths without a leading slash; memory adds one
        stripped_root = root.lstrip("/")
        stripped = native.lstrip("/")
        if stripped.startswith(stripped_root + "/"):
            return stripped[len(stripped_root) + 1 :]
        return native

    # -- clients ---------------------------------------------------------------------------

    def storage_options(self) -> dict[str, Any]:
        """fsspec keyword arguments for this store's implementation (contains secrets)."""
        cfg = self.config
        opts: dict[str, Any]
        if isinstance(cfg, S3StoreConfig):
            opts = {}
            key = _env(self.name, "access_key_env", cfg.access_key_env)
            secret = _env(self.name, "secret_key_env", cfg.secret_key_env)
            token = _env(self.name, "session_token_env", cfg.session_token_env)
            if key is not None:
                opts["key"] = key
            if secret is not None:
                opts["secret"] = secret
            if token is not None:
                opts["token"] = token
            if cfg.profile:
                opts["profile"] = cfg.profile
            if cfg.anonymous:
                opts["anon"] = True
            if cfg.region:
                opts["client_kwargs"] = {"region_name": cfg.region}
            # Bounded waits: an endpoint that accepts connections but never answers would
            # otherwise hang for minutes (botocore's read timeout is 60 s, times its retries).
            opts["config_kwargs"] = {"connect_timeout": CONNECT_TIMEOUT, "read_timeout": READ_TIMEOUT}
            if cfg.endpoint:
                opts["endpoint_url"] = cfg.endpoint
                # MinIO and most S3-compatible servers only route path-style requests.
                opts["config_kwargs"]["s3"] = {"addressing_style": "path"}
            if cfg.storage_class:
                opts["s3_additional_kwargs"] = {"StorageClass": cfg.storage_class}
            return opts
        if isinstance(cfg, GCSStoreConfig):
            opts = {}
            if cfg.project:
                opts["project"] = cfg.project
            if cfg.anonymous:
                opts["token"] = "anon"
            elif cfg.token_file_env:
                opts["token"] = _env(self.name, "token_file_env", cfg.token_file_env)
            if cfg.endpoint:
                opts["endpoint_url"] = cfg.endpoint
            return opts
        if isinstance(cfg, AzureStoreConfig):
            opts = {}
            conn = _env(self.name, "connection_string_env", cfg.connection_string_env)
            if conn is not None:
                opts["connection_string"] = conn
            if cfg.account:
                opts["account_name"] = cfg.account
            elif conn is not None:
                # adlfs builds paths and its cache key from account_name; it does not parse
                # it out of the connection string itself.
                fields = dict(p.split("=", 1) for p in conn.split(";") if "=" in p)
                if fields.get("AccountName"):
                    opts["account_name"] = fields["AccountName"]
            key = _env(self.name, "account_key_env", cfg.account_key_env)
            if conn is None and cfg.endpoint and cfg.account and key is not None:
                # adlfs takes a custom endpoint (Azurite, sovereign clouds) only through a
                # connection string; an account key alongside one would send writes to Azure.
                opts = {
                    "connection_string": (
                        f"DefaultEndpointsProtocol={cfg.endpoint.split('://', 1)[0]};"
                        f"AccountName={cfg.account};AccountKey={key};BlobEndpoint={cfg.endpoint};"
                    ),
                    "account_name": cfg.account,
                }
                return opts
            if key is not None:
                opts["account_key"] = key
            if conn is None and key is None and cfg.account:
                # provider's default chain (managed identity, az login, env credentials)
                opts["anon"] = False
            return opts
        if isinstance(cfg, LocalStoreConfig):
            return {"auto_mkdir": True}
        return {}

    @property
    def fs(self) -> AbstractFileSystem:
        """This process's fsspec client for the store, built on first use."""
        pid = os.getpid()
        if self._fs is None or self._pid != pid:
            with self._lock:
                if self._fs is None or self._pid != pid:
                    self._fs = self._build()
                    self._pid = pid
        return self._fs

    @property
    def uses_obstore(self) -> bool:
        """True when obstore moves this store's bytes: cloud kinds unless ``transport =
        "fsspec"``, and not in a process forked after obstore was used (`obstore_usable`).
        `skyfabric.storage._obstore_fs` says what still goes through fsspec."""
        from skyfabric.storage._obstore_clients import OBSTORE_KINDS, obstore_usable

        return (
            self.kind in OBSTORE_KINDS
            and getattr(self.config, "transport", "") == "obstore"
            and obstore_usable()
        )

    def _obstore_pair(self) -> tuple[Any, AbstractFileSystem]:
        pid = os.getpid()
        built = self._obstore
        if built is None or built[0] != pid:
            with self._lock:
                built = self._obstore
                if built is None or built[0] != pid:
                    from skyfabric.storage._obstore_clients import build_obstore
                    from skyfabric.storage._obstore_fs import ObstoreFileSystem

                    built = (pid, build_obstore(self.name, self.config), ObstoreFileSystem(self))
                    self._obstore = built
        return built[1], built[2]

    @property
    def obstore(self) -> Any:
        """This process's obstore client (``S3Store``/``GCSStore``/``AzureStore``), built on
        first use, bound to the bucket/container (keys include the store's ``prefix``)."""
        return self._obstore_pair()[0]

    @property
    def io(self) -> AbstractFileSystem:
        """The filesystem `fabric://` moves this store's bytes with: obstore-backed for cloud
        stores (`uses_obstore`), else the fsspec client `fs`. Same native paths as `fs`."""
        return self._obstore_pair()[1] if self.uses_obstore else self.fs

    def _build(self) -> AbstractFileSystem:
        if self.kind == "gcs" and isinstance(self.config, GCSStoreConfig) and self.config.endpoint:
            # gcsfs (read at its import) probes an emulator for gRPC zonal buckets and stalls
            # 60 s per bucket; emulators have none.
            os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        cls = _import_impl(self.kind)
        opts = self.storage_options()
        if self.kind in ("local", "memory"):
            return cls(**opts)
        return cls(skip_instance_cache=True, use_listings_cache=False, **opts, **self._client_bounds(opts))

    def _client_bounds(self, opts: dict[str, Any]) -> dict[str, Any]:
        """Client arguments that bound how long an unreachable store can hold a call.

        - gcsfs / adlfs: connect and socket-read timeouts (`CONNECT_TIMEOUT`, `READ_TIMEOUT`
          seconds; s3fs gets the same through ``config_kwargs`` in `storage_options`). A read
          timeout bounds a silence, not a whole transfer, so large objects still stream.
        - s3 with an ``endpoint`` or explicit keys: a botocore session without the container
          and instance-metadata credential providers, so a MinIO store whose keys are missing
          never waits on 169.254.169.254 (botocore's ``iam-role``/``container-role``).
        """
        cfg = self.config
        if isinstance(cfg, GCSStoreConfig):
            import aiohttp

            return {"requests_timeout": aiohttp.ClientTimeout(
                total=None, connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT)}
        if isinstance(cfg, AzureStoreConfig):
            return {"connection_timeout": CONNECT_TIMEOUT, "read_timeout": READ_TIMEOUT}
        if isinstance(cfg, S3StoreConfig) and (cfg.endpoint or "key" in opts) and not cfg.profile:
            from aiobotocore.session import AioSession

            session = AioSession()
            resolver = session.get_component("credential_provider")
            for provider in ("iam-role", "container-role"):
                resolver.remove(provider)
            return {"session": session}
        return {}

    def __getstate__(self) -> dict[str, Any]:
        # Pickle configuration only: clients are rebuilt in the receiving process.
        return {"name": self.name, "config": self.config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.name = state["name"]
        self.config = state["config"]
        self._fs = None
        self._pid = 0
        self._obstore = None
        self._lock = threading.Lock()
