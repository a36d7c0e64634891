"""One typed configuration for skyfabric, loaded from TOML and the environment.

Where the configuration comes from, first match wins:

1. the ``config`` argument / ``--config PATH`` option,
2. the file named by ``$SKYFABRIC_CONFIG``,
3. ``./skyfabric.toml`` in the working directory,
4. the **embedded default**: one ``local`` store named ``local`` under the user data dir
   (platformdirs) and a SQLite Iceberg catalog beside it, so everything runs with no cloud.

Every configuration has one **state directory** (`FabricConfig.state_path`) holding what
skyfabric keeps locally for it: the default SQLite catalog (``catalog.db``), the placement
journal, location index and access log (``placement/``). Two configurations never share one
unless they name the same ``state_dir`` (or the same ``[catalog] uri`` for tables):

- ``state_dir = "..."`` in the file: that directory (relative to the file's folder);
- the embedded default: the user data dir itself (``$SKYFABRIC_DATA_DIR`` or platformdirs'
  ``user_data_dir("skyfabric")``), where skyfabric has always kept it;
- a configuration file: ``.skyfabric/`` beside the file, as dbt keeps ``target/`` and
  terraform ``.terraform/`` beside theirs (add it to ``.gitignore``);
- a configuration built in code (a dict or `FabricConfig`): ``<data dir>/configs/<digest>``,
  where the digest is of its stores: the same stores share state, other stores do not.

Secrets never live in the file: a store names environment variables (``access_key_env``)
or uses the provider's default credential chain. Unknown keys are errors.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from skyfabric._config_errors import _format_validation_error
from skyfabric.errors import ConfigError

__all__ = [
    "MAX_BINS",
    "AzureStoreConfig",
    "CatalogConfig",
    "DriftConfig",
    "FabricConfig",
    "GCSStoreConfig",
    "LocalStoreConfig",
    "MemoryStoreConfig",
    "PlacementConfig",
    "PriceOverrideConfig",
    "ResidencyConfig",
    "S3StoreConfig",
    "StoreConfig",
    "TrinoConfig",
    "default_config",
    "load_config",
    "make_state_dir",
]

#: Most bins a numeric drift column may have (``[drift] bins`` and ``--bins``): beyond it a
#: baseline JSON grows large and each bin holds too few rows for PSI to mean anything.
MAX_BINS = 10_000

APP_NAME = "skyfabric"
CONFIG_ENV = "SKYFABRIC_CONFIG"
DATA_DIR_ENV = "SKYFABRIC_DATA_DIR"
#: Folder beside a configuration file that holds its state (as dbt's ``target/``).
STATE_FOLDER = ".skyfabric"
_STORE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
# S3/GCS bucket rules (lowercase, digits, dots, dashes, 3-63 chars); Azure containers are a subset.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")


def data_dir() -> Path:
    """Directory for skyfabric's own state: ``$SKYFABRIC_DATA_DIR`` or the platformdirs user data dir."""
    override = os.environ.get(DATA_DIR_ENV)
    return Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME))


def make_state_dir(path: Path) -> Path:
    """Create ``path`` (a state directory or a folder in one) and its parents; return it.

    Raises:
        ConfigError: it cannot be created (a read-only folder, a file in the way); the
            message names it and says to point ``state_dir`` at a writable directory.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create skyfabric's state directory {path} ({exc.strerror or exc}); fix: "
            'set state_dir = "/a/writable/dir" at the top of the configuration file (or '
            "[catalog] uri / [placement] state_dir), or make the folder writable"
        ) from exc
    return path


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _StoreBase(_Model):
    tier: Literal["hot", "cold"] | None = Field(
        None, description="Placement tier of the store: `hot` or `cold`."
    )
    prefix: str = Field(
        "", description="Optional key prefix: the store is rooted under it, e.g. `prod`."
    )
    region: str | None = Field(None, description="Region of the bucket, e.g. `us-west-2`.")

    @field_validator("prefix")
    @classmethod
    def _clean_prefix(cls, value: str) -> str:
        value = value.strip("/")
        if any(part in ("..", ".") for part in value.split("/")):
            raise ValueError(
                f"prefix {value!r} may not contain '.' or '..' segments; fix: use a plain path"
            )
        return value


def _check_bucket(value: str, what: str) -> str:
    if not value:
        raise ValueError(f'{what} is empty; fix: name the {what}, e.g. `{what} = "my-data"`')
    if not _BUCKET_NAME.match(value):
        raise ValueError(
            f"{what} {value!r} is not a valid name (3-63 chars: lowercase letters, digits, '.', '-')"
        )
    return value


class S3StoreConfig(_StoreBase):
    """AWS S3 or any S3-compatible store (MinIO: set `endpoint`, path-style addressing is used)."""

    kind: Literal["s3"] = Field(description="`s3`: AWS S3 or an S3-compatible store such as MinIO.")
    bucket: str = Field(description="Bucket name.")
    endpoint: str | None = Field(
        None,
        description="Endpoint URL of an S3-compatible store, e.g. `http://minio.local:9000`. "
        "Setting it switches to path-style addressing.",
    )
    access_key_env: str | None = Field(
        None, description="Name of the env var holding the access key id (never the key itself)."
    )
    secret_key_env: str | None = Field(
        None, description="Name of the env var holding the secret access key."
    )
    session_token_env: str | None = Field(
        None, description="Name of the env var holding a session token, if any."
    )
    profile: str | None = Field(None, description="AWS shared-config profile to use.")
    storage_class: str | None = Field(
        None, description="S3 storage class for new objects, e.g. `STANDARD`, `STANDARD_IA`."
    )
    anonymous: bool = Field(False, description="Use unsigned requests (public buckets).")
    transport: Literal["obstore", "fsspec"] = Field(
        "obstore",
        description="How `fabric://` moves this store's bytes: `obstore` (the Rust client, "
        "fastest) or `fsspec` (s3fs/gcsfs/adlfs for every operation, for code relying on their "
        "specifics). Operations obstore lacks use fsspec either way (docs/storage.md).",
    )

    _bucket = field_validator("bucket")(lambda cls, v: _check_bucket(v, "bucket"))

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"endpoint {value!r} must be an http(s) URL, e.g. http://minio:9000")
        return value.rstrip("/") if value else value


class GCSStoreConfig(_StoreBase):
    """Google Cloud Storage (`endpoint` only for an emulator such as fake-gcs-server)."""

    kind: Literal["gcs"] = Field(description="`gcs`: Google Cloud Storage.")
    bucket: str = Field(description="Bucket name.")
    project: str | None = Field(None, description="GCP project id.")
    token_file_env: str | None = Field(
        None, description="Name of the env var holding the path of a service-account JSON file."
    )
    anonymous: bool = Field(False, description="Use anonymous access (public buckets, emulators).")
    endpoint: str | None = Field(None, description="Endpoint URL, only for an emulator.")
    storage_class: str | None = Field(
        None, description="GCS storage class, e.g. `STANDARD`, `NEARLINE`, `COLDLINE`, `ARCHIVE`."
    )
    transport: Literal["obstore", "fsspec"] = Field(
        "obstore",
        description="How `fabric://` moves this store's bytes: `obstore` (the Rust client, "
        "fastest) or `fsspec` (s3fs/gcsfs/adlfs for every operation, for code relying on their "
        "specifics). Operations obstore lacks use fsspec either way (docs/storage.md).",
    )

    _bucket = field_validator("bucket")(lambda cls, v: _check_bucket(v, "bucket"))


class AzureStoreConfig(_StoreBase):
    """Azure Blob Storage container."""

    kind: Literal["azure"] = Field(description="`azure`: Azure Blob Storage.")
    container: str = Field(description="Blob container name.")
    account: str | None = Field(None, description="Storage account name.")
    connection_string_env: str | None = Field(
        None, description="Name of the env var holding the connection string."
    )
    account_key_env: str | None = Field(
        None, description="Name of the env var holding the account key."
    )
    endpoint: str | None = Field(
        None, description="Blob endpoint URL, only for an emulator such as Azurite."
    )
    access_tier: Literal["Hot", "Cool", "Cold", "Archive"] | None = Field(
        None, description="Azure access tier for new blobs."
    )
    transport: Literal["obstore", "fsspec"] = Field(
        "obstore",
        description="How `fabric://` moves this store's bytes: `obstore` (the Rust client, "
        "fastest) or `fsspec` (s3fs/gcsfs/adlfs for every operation, for code relying on their "
        "specifics). Operations obstore lacks use fsspec either way (docs/storage.md).",
    )

    _container = field_validator("container")(lambda cls, v: _check_bucket(v, "container"))


class LocalStoreConfig(_StoreBase):
    """A directory on local disk (or a mounted network filesystem)."""

    kind: Literal["local"] = Field(description="`local`: a directory.")
    path: Path = Field(
        description="Root directory of the store; created on first write. A relative path is "
        "taken from the configuration file's folder (from the working directory for a "
        "configuration built in code)."
    )

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: Path, info: ValidationInfo) -> Path:
        # Relative to the file, as `state_dir` is: the same file reaches the same directory
        # from any working directory.
        base = (info.context or {}).get("base_dir")
        value = value.expanduser()
        return (base / value if base is not None else value).absolute()


class MemoryStoreConfig(_StoreBase):
    """fsspec's in-process memory filesystem: for tests and notebooks, gone at exit."""

    kind: Literal["memory"] = Field(description="`memory`: fsspec's in-process memory filesystem.")
    root: str = Field("skyfabric", description="Top-level folder inside the memory filesystem.")


StoreConfig = Annotated[
    S3StoreConfig | GCSStoreConfig | AzureStoreConfig | LocalStoreConfig | MemoryStoreConfig,
    Field(discriminator="kind"),
]


class CatalogConfig(_Model):
    """The Iceberg catalog (default: SQLite under the user data dir)."""

    kind: Literal["sql", "rest"] = Field("sql", description="pyiceberg catalog type.")
    uri: str | None = Field(
        None, description="Catalog URI, e.g. `sqlite:///path/catalog.db` or a REST endpoint."
    )
    warehouse: str | None = Field(
        None, description="Default warehouse location, e.g. `fabric://lake/warehouse`."
    )


class DriftConfig(_Model):
    """Defaults of the drift capability."""

    bins: int = Field(10, ge=2, le=MAX_BINS, description="Bins per numeric column.")
    top_k: int = Field(50, ge=1, description="Categories kept per categorical column.")
    eps: float = Field(1e-4, gt=0, lt=0.01, description="Floor of each bin proportion in PSI.")
    moderate: float = Field(0.1, gt=0, description="PSI at or above which drift is `moderate`.")
    significant: float = Field(
        0.25,
        gt=0,
        description="PSI at or above which drift is `significant`; at least `moderate`.",
    )

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> DriftConfig:
        # inverted, every drift would be `significant` before it could be `moderate`
        if self.moderate > self.significant:
            raise ValueError(
                f"moderate = {self.moderate} is above significant = {self.significant}, and "
                "a check needs moderate <= significant; fix: in the [drift] section, set "
                "moderate below significant, e.g. moderate = 0.1 and significant = 0.25 "
                "(the defaults)"
            )
        return self


class PlacementRuleConfig(_Model):
    """One placement rule (see the placement docs)."""

    name: str = Field(description="Rule name, shown in plans and the audit log.")
    match: str | None = Field(
        None, description="Glob over fabric URLs, e.g. `fabric://onprem/telemetry/**`."
    )
    table: str | None = Field(
        None,
        description="Iceberg table `namespace.name` whose data files the rule places "
        "(instead of `match`); moves commit the new locations as a new snapshot.",
    )
    partition: str | None = Field(
        None,
        description="With `table`: row filter over the table's columns, e.g. `month <= 3`; "
        "a data file matches when its partition guarantees every row satisfies it.",
    )
    older_than: str | None = Field(None, description="Age since last modified, e.g. `30d`.")
    not_accessed_for: str | None = Field(None, description="Age since last access, e.g. `90d`.")
    min_size: int | None = Field(None, ge=0, description="Smallest object size matched, bytes.")
    max_size: int | None = Field(None, ge=0, description="Largest object size matched, bytes.")
    tags: dict[str, str] = Field(default_factory=dict, description="Object tags/metadata to match.")
    target: str | None = Field(None, description="Store to move matching objects to.")
    storage_class: str | None = Field(
        None, description="Storage class / access tier to set in place instead of moving."
    )
    priority: int = Field(0, description="Higher wins when rules overlap.")


class ResidencyConfig(_Model):
    """Data under `match` may only live in stores whose `region` is in `regions`."""

    match: str = Field(description="Glob over fabric URLs, e.g. `fabric://lake/customers/**`.")
    regions: list[str] = Field(
        min_length=1,
        description="Allowed regions: `eu` allows `eu-west-1`, GCS `europe-*`, Azure `*europe`.",
    )


class PriceOverrideConfig(_Model):
    """Override of one price-table entry (units as in `skyfabric.placement.costs`)."""

    storage_gb_month: float | None = Field(None, ge=0, description="USD per GB-month stored.")
    transition_per_1000: float | None = Field(
        None, ge=0, description="USD per 1000 writes/transitions into the class."
    )
    retrieval_per_gb: float | None = Field(
        None, ge=0, description="USD per GB read out of the class."
    )
    egress_per_gb: float | None = Field(
        None, ge=0, description="USD per GB leaving the provider or region."
    )
    min_days: float | None = Field(None, ge=0, description="Minimum storage duration, days.")
    offline: bool | None = Field(None, description="Objects must be restored before a read.")


class PlacementConfig(_Model):
    """Placement rules, residency constraints, price overrides and the mover's state."""

    rules: list[PlacementRuleConfig] = Field(default_factory=list)
    residency: list[ResidencyConfig] = Field(
        default_factory=list,
        description="Allowed regions per dataset/prefix; violating plans are refused.",
    )
    prices: dict[str, PriceOverrideConfig] = Field(
        default_factory=dict,
        description="Price overrides keyed by store name or `provider:CLASS` (e.g. `aws:STANDARD_IA`).",
    )
    state_dir: Path | None = Field(
        None,
        description="Journal, location index and audit log (default: `placement/` in the "
        "configuration's state directory, see the top-level `state_dir`).",
    )
    workers: int = Field(
        8, ge=1, le=256, description="Moves run concurrently by `placement apply`."
    )


class TrinoConfig(_Model):
    """The Trino coordinator views are applied to (else the ``TRINO_*`` environment variables)."""

    host: str = Field(description="Coordinator host or URL, e.g. `https://trino.example.com:8443`.")
    port: int | None = Field(
        None, ge=1, le=65535, description="Port (default 8080, 443 for https)."
    )
    user: str = Field("skyfabric", description="Trino user.")
    http_scheme: Literal["http", "https"] | None = Field(
        None, description="`http` or `https` (default: from `host` / `port`)."
    )
    password_env: str | None = Field(
        None, description="Name of the env var holding the password (basic auth, https only)."
    )
    jwt_env: str | None = Field(
        None, description="Name of the env var holding a JWT (bearer auth, https only)."
    )
    verify: bool | str = Field(
        True, description="TLS verification: true, false or a CA bundle path."
    )


class FabricConfig(_Model):
    """The whole configuration: named stores, the catalog, placement rules, drift defaults."""

    stores: dict[str, StoreConfig] = Field(default_factory=dict)
    catalog: CatalogConfig = Field(default_factory=CatalogConfig)
    placement: PlacementConfig = Field(default_factory=PlacementConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    trino: TrinoConfig | None = Field(
        None, description="Trino coordinator for `views apply --engine trino`."
    )
    state_dir: Path | None = Field(
        None,
        description="Where skyfabric keeps this configuration's local state: the default "
        "SQLite catalog and the placement journal, location index and access log. Relative "
        "paths are relative to the configuration file's folder. Default: `.skyfabric/` beside "
        "the file; the user data dir for the embedded default.",
    )
    _source: str = PrivateAttr("embedded default")

    @field_validator("state_dir", mode="before")
    @classmethod
    def _state_dir_named(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError(
                'state_dir is empty; fix: name a directory, e.g. state_dir = ".skyfabric", or '
                "remove the key to keep state in .skyfabric/ beside the file"
            )
        return value

    # "embedded" (the default), "file" (loaded from `_base_dir`) or "code" (a dict / object)
    _origin: str = PrivateAttr("code")
    _base_dir: Path | None = PrivateAttr(None)

    @property
    def source(self) -> str:
        """Where this configuration came from: a file path, ``<dict>`` or ``embedded default``."""
        return self._source

    @property
    def file_path(self) -> Path | None:
        """The file this configuration was loaded from (``None``: embedded default or code)."""
        return Path(self._source) if self._origin == "file" else None

    @property
    def state_path(self) -> Path:
        """This configuration's state directory (see the module docstring); not created here."""
        if self.state_dir is not None:
            return self._from_file(self.state_dir)
        if self._origin == "embedded":
            return data_dir()
        if self._origin == "file" and self._base_dir is not None:
            return self._base_dir / STATE_FOLDER
        stores = json.dumps(
            {name: store.model_dump(mode="json") for name, store in self.stores.items()},
            sort_keys=True,
        )
        return data_dir() / "configs" / hashlib.sha256(stores.encode()).hexdigest()[:16]

    @property
    def catalog_uri(self) -> str | None:
        """The catalog URI in effect: ``[catalog] uri``, else (``sql``) the SQLite database
        ``catalog.db`` in `state_path`; ``None`` for a ``rest`` catalog without one."""
        if self.catalog.uri or self.catalog.kind != "sql":
            return self.catalog.uri
        return f"sqlite:///{(self.state_path / 'catalog.db').as_posix()}"

    @property
    def catalog_file(self) -> Path | None:
        """The database file of a ``sqlite:///`` catalog (``None``: another kind of catalog,
        or an in-memory database). Found without importing the table layer."""
        uri = self.catalog_uri
        if self.catalog.kind != "sql" or not uri or not uri.startswith("sqlite:///"):
            return None
        path = uri[len("sqlite:///"):].split("?", 1)[0]
        return Path(path) if path and ":memory:" not in path else None

    @property
    def placement_state_path(self) -> Path:
        """Placement journal, location index and logs: ``[placement] state_dir`` (relative to
        the file's folder), else ``placement/`` in `state_path`."""
        explicit = self.placement.state_dir
        return self.state_path / "placement" if explicit is None else self._from_file(explicit)

    def _from_file(self, path: Path) -> Path:
        """``path`` with ``~`` expanded; relative: taken from the file's folder (the working
        directory for a configuration built in code)."""
        path = path.expanduser()
        return path if path.is_absolute() else (self._base_dir or Path.cwd()) / path

    @field_validator("stores")
    @classmethod
    def _store_names(cls, stores: dict[str, Any]) -> dict[str, Any]:
        for name in stores:
            if not _STORE_NAME.match(name):
                raise ValueError(
                    f"store name {name!r} is invalid; fix: use letters, digits, '_' or '-'"
                )
        return stores


def default_config() -> FabricConfig:
    """The embedded default: one local store ``local`` and a SQLite catalog under the data dir."""
    root = data_dir()
    config = FabricConfig(
        stores={"local": LocalStoreConfig(kind="local", path=root / "lake", tier="hot")},
        catalog=CatalogConfig(kind="sql", warehouse="fabric://local/warehouse"),
    )
    config._origin = "embedded"  # state (catalog.db, placement/) in the data dir itself
    return config


def config_from_dict(
    data: dict[str, Any], source: str = "<dict>", base_dir: Path | None = None
) -> FabricConfig:
    """Validate a plain dict (the parsed TOML) into a `FabricConfig`.

    ``base_dir`` is the folder of the file ``data`` was read from: relative ``state_dir``
    paths are taken from there, and its ``.skyfabric/`` holds the state by default.

    Raises:
        ConfigError: a key is unknown or a value is invalid; names the field, value and fix.
    """
    try:
        config = FabricConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, source)) from None
    config._source = source
    if base_dir is not None:
        config._origin = "file"
        config._base_dir = base_dir
    return config


def load_config(
    config: FabricConfig | str | os.PathLike[str] | dict[str, Any] | None = None,
) -> FabricConfig:
    """Load the configuration (see the module docstring for the search order).

    Raises:
        ConfigError: the named file does not exist, is not valid TOML, or fails validation.
    """
    if isinstance(config, FabricConfig):
        return config
    if isinstance(config, dict):
        return config_from_dict(config)
    path: Path | None = None
    if config is not None:
        path = Path(config)
    elif os.environ.get(CONFIG_ENV):
        path = Path(os.environ[CONFIG_ENV])
    elif Path("skyfabric.toml").is_file():
        path = Path("skyfabric.toml")
    if path is None:
        return default_config()
    if not path.is_file():
        raise ConfigError(
            f"configuration file {str(path)!r} does not exist; fix: create it or point "
            f"--config / ${CONFIG_ENV} at an existing skyfabric.toml"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return config_from_dict(data, source=str(path), base_dir=path.resolve().parent)
