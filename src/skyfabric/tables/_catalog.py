"""Build the pyiceberg catalog from ``[catalog]`` and resolve table locations to native URLs.

- ``kind = "sql"`` with a ``sqlite:///`` URI (the default: ``catalog.db`` in the
  configuration's state directory, `skyfabric.config.FabricConfig.state_path`):
  the database is switched to WAL journaling and every connection waits up to
  `SQLITE_BUSY_TIMEOUT` seconds for a lock, so a notebook and a batch job can commit
  to the same catalog at once (SQLite docs, "Write-Ahead Logging" and ``sqlite3_busy_timeout``).
- ``kind = "sql"`` with ``postgresql://...``: pyiceberg's SqlCatalog on PostgreSQL.
- ``kind = "rest"``: pyiceberg's RestCatalog. Credentials for it come from pyiceberg's own
  environment configuration (``PYICEBERG_CATALOG__SKYFABRIC__TOKEN``, ``...__CREDENTIAL``),
  never from ``skyfabric.toml``.

``warehouse`` and per-namespace/per-table locations may be ``fabric://<store>/<path>``; they
are resolved to the store's native URL, which is what Iceberg metadata records.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from skyfabric.config import make_state_dir
from skyfabric.errors import MissingDependencyError
from skyfabric.storage.paths import PREFIX, parse
from skyfabric.tables._fileio import (
    CONFIG_PROPERTY,
    FILEIO_IMPL,
    candidate_stores,
    register_config,
    store_for_location,
)
from skyfabric.tables.errors import CatalogError

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from skyfabric.config import FabricConfig
    from skyfabric.storage.stores import Store

__all__ = [
    "CATALOG_NAME",
    "SQLITE_BUSY_TIMEOUT",
    "build_catalog",
    "default_namespace",
    "fabric_url",
    "native_location",
    "split_name",
    "warn_about_shared_catalog",
]

CATALOG_NAME = "skyfabric"
SQLITE_BUSY_TIMEOUT = 30.0  # seconds a writer waits for another's lock before failing
default_namespace = "default"


def split_name(name: str | tuple[str, ...]) -> tuple[str, ...]:
    """``"sensors.telemetry"`` -> ``("sensors", "telemetry")``; a bare name goes to ``default``.

    Raises:
        ValueError: the name is empty or has an empty part.
    """
    parts = tuple(name) if isinstance(name, tuple) else tuple(str(name).split("."))
    if not parts or any(not p.strip() for p in parts):
        raise ValueError(
            f"table name {name!r} is empty or has an empty part; fix: write 'namespace.table'"
        )
    return parts if len(parts) > 1 else (default_namespace, parts[0])


def native_location(stores: dict[str, Store], url: str) -> str:
    """``fabric://<store>/<path>`` -> the store's native URL; other URLs pass through.

    Raises:
        UnknownStoreError: the URL names a store that is not configured.
    """
    if not url.startswith(PREFIX):
        return url.rstrip("/")
    fp = parse(url)
    if fp.store not in stores:
        from skyfabric.errors import UnknownStoreError

        raise UnknownStoreError(
            f"location {url!r} names store {fp.store!r}, which is not configured; configured "
            f"stores: {', '.join(sorted(stores)) or 'none'}"
        )
    return stores[fp.store].native_url(fp.key).rstrip("/")


def fabric_url(stores: dict[str, Store], location: str, preferred: str | None = None) -> str:
    """The ``fabric://`` URL of a native location, or the location itself if no store has it."""
    store = store_for_location(stores, location, preferred)
    if store is None:
        return location
    from skyfabric.tables._fileio import parse_location

    loc = parse_location(location)
    assert loc is not None
    key = store.key_of(loc.path)
    return f"{PREFIX}{store.name}/{key}" if key else f"{PREFIX}{store.name}"


def _sqlite_uri(uri: str) -> str:
    """Create the database's directory, switch it to WAL, and add a busy timeout to ``uri``.

    ``sqlite:///rel/path.db`` and ``sqlite:////abs/path.db`` (SQLAlchemy's forms).
    """
    base, _, query = uri.partition("?")
    db = base.split(":///", 1)[1] if ":///" in base else ""
    if db and db != ":memory:" and "mode=memory" not in query:
        path = Path(db)
        make_state_dir(path.parent)
        con = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT)
        try:
            con.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the database file
        finally:
            con.close()
    params = dict(parse_qsl(query))
    params.setdefault("timeout", str(SQLITE_BUSY_TIMEOUT))  # pysqlite: sqlite3.connect(timeout=)
    return f"{base}?{urlencode(params)}"


def _default_warehouse(config: FabricConfig) -> str | None:
    if config.catalog.warehouse:
        return config.catalog.warehouse
    if len(config.stores) == 1:
        return f"{PREFIX}{next(iter(config.stores))}/warehouse"
    return None


def build_catalog(config: FabricConfig, stores: dict[str, Store]) -> Catalog:
    """The pyiceberg catalog described by ``config.catalog``, with FileIO over every store.

    Raises:
        CatalogError: the URI is missing or malformed, or the catalog cannot be reached.
        MissingDependencyError: the SQL driver (SQLAlchemy, psycopg2) is not installed.
        UnknownStoreError: the warehouse names a store that is not configured.
    """
    cat = config.catalog
    props: dict[str, Any] = {"py-io-impl": FILEIO_IMPL, CONFIG_PROPERTY: register_config(config)}
    warehouse = _default_warehouse(config)
    if warehouse:
        props["warehouse"] = native_location(stores, warehouse)
    if cat.kind == "rest":
        if not cat.uri:
            raise CatalogError(
                "catalog.kind = 'rest' needs catalog.uri; fix: set uri = 'https://host/api/catalog'"
            )
        props.update(type="rest", uri=cat.uri)
    else:
        uri = config.catalog_uri
        assert uri is not None  # a sql catalog always has one (its state directory's default)
        try:
            import sqlalchemy  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError(
                "the SQL catalog needs SQLAlchemy; fix: pip install 'skyfabric[tables]'"
            ) from exc
        scheme = uri.split(":", 1)[0].lower()
        if scheme.startswith("sqlite"):
            if cat.uri is None:  # this configuration's own catalog.db, maybe new
                warn_about_shared_catalog(config, stores)
            uri = _sqlite_uri(uri)
        elif scheme.startswith("postgres"):
            _check_postgres_driver(scheme)
        props.update(type="sql", uri=uri)
    return _load(props, _safe_uri(cat.uri or props["uri"]))


def warn_about_shared_catalog(config: FabricConfig, stores: dict[str, Store]) -> None:
    """One `LegacyStateWarning` when this configuration's own catalog does not exist yet but
    the shared catalog of earlier versions holds tables on its stores (see
    `skyfabric._legacy_state`)."""
    own = config.catalog_file
    if own is None or config.catalog.uri is not None:
        return
    from skyfabric._legacy_state import warn_if_catalog_left_behind

    warn_if_catalog_left_behind(
        config, own, lambda location: bool(candidate_stores(stores, location))
    )


def _safe_uri(uri: str) -> str:
    """``uri`` with any password replaced by ``***`` (for messages)."""
    parts = urlsplit(uri)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return uri


def _check_postgres_driver(scheme: str) -> None:
    driver = scheme.split("+", 1)[1] if "+" in scheme else "psycopg2"
    module = {"psycopg2": "psycopg2", "psycopg": "psycopg", "pg8000": "pg8000"}.get(driver, driver)
    try:
        __import__(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"catalog URI scheme {scheme!r} needs the {module!r} driver; "
            f"fix: pip install 'skyfabric[postgres]' (or pip install {module})"
        ) from exc


def _load(props: dict[str, Any], shown_uri: str) -> Catalog:
    from pyiceberg.catalog import load_catalog

    try:
        return load_catalog(CATALOG_NAME, **props)
    except (ImportError, MissingDependencyError):
        raise
    except Exception as exc:
        raise CatalogError(
            f"cannot open the {props['type']} catalog at {shown_uri!r}: {type(exc).__name__}: "
            f"{exc}; fix: check catalog.uri in the configuration and that the server is up"
        ) from exc
