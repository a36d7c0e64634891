"""obstore clients built from store configurations: one function per cloud store kind,
called by that kind's class (`StoreKind._build_obstore`).

Each builder takes a store's name and config (secrets come from the environment variables
the config names, read and registered for redaction by `kinds._support.env_secret`) and
returns an obstore store bound to the
store's bucket or container. The store's ``prefix`` is *not* applied here: callers address
keys below the bucket, as the fsspec clients do, so native paths mean the same on both
transports.

Every client gets the same bounds (`client_options`, `retry_config`): a connect timeout of
`CONNECT_TIMEOUT` seconds, a per-read timeout of `READ_TIMEOUT` seconds (a silence, not a
whole transfer, so large objects still stream), and retries with exponential backoff that
stop after `RETRY_DEADLINE` seconds from the first attempt.

A store with explicit credentials or an ``endpoint`` never asks an instance-metadata
service (169.254.169.254) for credentials: S3 gets static keys or keys resolved by a
botocore session without the IMDS/container providers; GCS with an endpoint (an emulator)
signs nothing; Azure gets the connection string's or the configured account key.
"""

from __future__ import annotations

import atexit
import json
import os
import tempfile
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from skyfabric.config import AzureStoreConfig, GCSStoreConfig, S3StoreConfig
from skyfabric.errors import ConfigError, MissingDependencyError, register_secret
from skyfabric.storage.kinds._support import env_secret as _env

if TYPE_CHECKING:
    from obstore.store import AzureStore, GCSStore, S3Store

__all__ = [
    "azure_store",
    "client_options",
    "gcs_store",
    "note_runtime",
    "obstore_usable",
    "retry_config",
    "s3_store",
]

# Seconds; the same bounds the fsspec clients get (storage/stores.py).
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60
# Whole-request ceiling: obstore's default (30 s) would cut a stream of a large object short.
REQUEST_TIMEOUT = 3600
# Retries of one request stop this many seconds after its first attempt (obstore's default
# is 180 s; object_store's `RetryConfig::retry_timeout`).
RETRY_DEADLINE = 60
MAX_RETRIES = 5


def client_options(endpoint: str | None = None) -> dict[str, Any]:
    """obstore ``ClientConfig`` with skyfabric's timeouts (plain HTTP only for an http endpoint)."""
    opts: dict[str, Any] = {
        "connect_timeout": timedelta(seconds=CONNECT_TIMEOUT),
        "read_timeout": timedelta(seconds=READ_TIMEOUT),
        "timeout": timedelta(seconds=REQUEST_TIMEOUT),
    }
    if endpoint and endpoint.startswith("http://"):
        opts["allow_http"] = True
    return opts


def retry_config() -> dict[str, Any]:
    """obstore ``RetryConfig``: at most `MAX_RETRIES` retries, none after `RETRY_DEADLINE` s."""
    return {
        "max_retries": MAX_RETRIES,
        "retry_timeout": timedelta(seconds=RETRY_DEADLINE),
        "backoff": {
            "init_backoff": timedelta(milliseconds=100),
            "max_backoff": timedelta(seconds=5),
            "base": 2,
        },
    }


def _obstore_module() -> Any:
    try:
        import obstore.store
    except ImportError as exc:
        raise MissingDependencyError(
            "cloud stores move bytes with the 'obstore' package; "
            "fix: pip install 'skyfabric[s3]' (or [gcs], [azure]), or set transport = \"fsspec\""
        ) from exc
    return obstore.store


class _BotocoreCredentials:
    """obstore credential provider over a botocore session (profiles, SSO, config files).

    Used for a ``profile``, and for an ``endpoint`` store without keys, where the session has
    no instance-metadata or container providers (never 169.254.169.254).
    """

    def __init__(self, profile: str | None, without_imds: bool) -> None:
        import botocore.session

        self._session = botocore.session.Session(profile=profile)
        if without_imds:
            resolver = self._session.get_component("credential_provider")
            for provider in ("iam-role", "container-role"):
                resolver.remove(provider)
        self._credentials: Any = None

    def __call__(self) -> dict[str, Any]:
        if self._credentials is None:
            self._credentials = self._session.get_credentials()
        if self._credentials is None:
            raise ConfigError(
                "no AWS credentials found (profile, environment or config files); fix: set "
                "access_key_env/secret_key_env on the store, or anonymous = true"
            )
        frozen = self._credentials.get_frozen_credentials()
        register_secret(frozen.secret_key)
        register_secret(frozen.token)
        expiry = getattr(self._credentials, "_expiry_time", None)
        return {
            "access_key_id": frozen.access_key,
            "secret_access_key": frozen.secret_key,
            "token": frozen.token,
            "expires_at": expiry,
        }


def s3_store(name: str, cfg: S3StoreConfig) -> S3Store:
    """An obstore ``S3Store`` for an ``s3`` store: AWS, or an S3-compatible ``endpoint``
    (path-style requests, as MinIO needs)."""
    store_module = _obstore_module()
    config: dict[str, Any] = {"region": cfg.region or "us-east-1"}
    key = _env(name, "access_key_env", cfg.access_key_env)
    secret = _env(name, "secret_key_env", cfg.secret_key_env)
    token = _env(name, "session_token_env", cfg.session_token_env)
    provider = None
    if cfg.anonymous:
        config["skip_signature"] = True
    elif key is not None and secret is not None:
        config["access_key_id"] = key
        config["secret_access_key"] = secret
        if token is not None:
            config["session_token"] = token
    elif cfg.profile or cfg.endpoint:
        provider = _BotocoreCredentials(cfg.profile, without_imds=bool(cfg.endpoint))
    if cfg.endpoint:
        config["endpoint"] = cfg.endpoint
        config["virtual_hosted_style_request"] = False
    return store_module.S3Store(
        cfg.bucket,
        config=config,
        client_options=client_options(cfg.endpoint),
        retry_config=retry_config(),
        credential_provider=provider,
    )


def gcs_store(name: str, cfg: GCSStoreConfig) -> GCSStore:
    """An obstore ``GCSStore`` for a ``gcs`` store (``endpoint``: an emulator, unsigned)."""
    store_module = _obstore_module()
    config: dict[str, Any] = {}
    token_file = None if cfg.anonymous else _env(name, "token_file_env", cfg.token_file_env)
    if cfg.endpoint and token_file is None:
        # An emulator: object_store's service-account file with ``disable_oauth`` is the one
        # way it sends unsigned requests for every operation (``skip_signature`` still asks
        # the metadata server for a token on DELETE).
        config["service_account"] = _emulator_account_file(cfg.endpoint)
    elif token_file is not None:
        config["application_credentials"] = token_file
        if cfg.endpoint:
            config["base_url"] = cfg.endpoint.rstrip("/")
    elif cfg.anonymous:
        config["skip_signature"] = True
    return store_module.GCSStore(
        cfg.bucket,
        config=config,
        client_options=client_options(cfg.endpoint),
        retry_config=retry_config(),
    )


_emulator_files: dict[str, str] = {}


def _emulator_account_file(endpoint: str) -> str:
    """Path of a service-account file that points object_store at ``endpoint`` without
    OAuth (written once per process, removed at exit; it holds no secret)."""
    path = _emulator_files.get(endpoint)
    if path is None or not os.path.exists(path):
        fd, path = tempfile.mkstemp(prefix="skyfabric-gcs-emulator-", suffix=".json")
        account = {
            "gcs_base_url": endpoint.rstrip("/"),
            "disable_oauth": True,
            "client_email": "",
            "private_key": "",
            "private_key_id": "",
        }
        with os.fdopen(fd, "w") as f:
            json.dump(account, f)
        atexit.register(lambda p=path: os.path.exists(p) and os.unlink(p))
        _emulator_files[endpoint] = path
    return path


def _connection_fields(conn: str) -> dict[str, str]:
    return {k.strip(): v for k, _, v in (p.partition("=") for p in conn.split(";")) if k.strip()}


def azure_store(name: str, cfg: AzureStoreConfig) -> AzureStore:
    """An obstore ``AzureStore`` for an ``azure`` store, from its connection string, account
    key, or (neither named) the provider's default chain."""
    store_module = _obstore_module()
    config: dict[str, Any] = {}
    endpoint = cfg.endpoint
    conn = _env(name, "connection_string_env", cfg.connection_string_env)
    key = _env(name, "account_key_env", cfg.account_key_env)
    account = cfg.account
    if conn is not None:
        fields = _connection_fields(conn)
        account = account or fields.get("AccountName")
        key = key or fields.get("AccountKey")
        if fields.get("SharedAccessSignature"):
            config["sas_key"] = fields["SharedAccessSignature"]
            register_secret(fields["SharedAccessSignature"])
        endpoint = endpoint or fields.get("BlobEndpoint")
        if key:
            register_secret(key)
    if not account:
        raise ConfigError(
            f"stores.{name}: an azure store needs its storage account; fix: set account = "
            "\"...\" or name a connection string (connection_string_env) holding AccountName"
        )
    config["account_name"] = account
    if key:
        config["account_key"] = key
    if endpoint:
        config["endpoint"] = endpoint.rstrip("/")
    return store_module.AzureStore(
        cfg.container,
        config=config,
        client_options=client_options(endpoint),
        retry_config=retry_config(),
    )


# The process that first built an obstore client. obstore's tokio runtime does not survive
# fork() (obstore PR #441: "obstore is not fork safe"; tokio #4301): its worker threads are
# gone in the child, whose first request then hangs for ever.
_runtime_pid: int | None = None


def obstore_usable() -> bool:
    """False in a process forked from one that already used obstore (a ``fork`` process
    pool): there, stores move their bytes through fsspec instead. Processes started with
    ``spawn``/``forkserver`` (Dask's workers) import afresh and use obstore."""
    return _runtime_pid is None or _runtime_pid == os.getpid()


def note_runtime() -> None:
    """Record that this process starts obstore's runtime (see `obstore_usable`)."""
    global _runtime_pid
    if _runtime_pid is None:
        _runtime_pid = os.getpid()
