"""Trino catalog ``.properties`` files rendered from the skyfabric configuration.

One Iceberg catalog per object store (``<store>.properties``: the fabric Iceberg catalog seen
through that store's file system, so each table is read through the catalog of the store
holding its files) and, for parquet datasets, one Hive catalog per store
(``<store>_hive.properties``, file metastore under ``<store root>/_trino_metastore``).
``local`` and ``memory`` stores are skipped: a Trino cluster cannot reach them.

Placement can move a table's data files to a store of another kind (a table rule's
``target``), and Iceberg metadata names each file by its full URL, so an Iceberg catalog
enables the file system of its own store and of every store a table rule moves files to,
together with the warehouse's store (where those tables' other files stay): every table stays
readable through every catalog. Trino takes one configuration per file-system kind, so a
second store of a kind already enabled with other settings (another endpoint, other
credentials) cannot be added; the notes say which. Each Iceberg catalog's
``default-warehouse-dir`` (where ``CREATE TABLE`` without a location writes) is on its own
store: the configured warehouse if it is that store, else the same key under the store's root.

Secrets are never written: every credential is a ``${ENV:NAME}`` reference to the variable
the store config names (Trino substitutes environment variables in catalog files).

Property names follow the Trino docs ("S3/GCS/Azure file system support", "Iceberg
connector", "Metastores"); they depend on the release, so ``version`` picks them:

==================  ======================================  ============================
Trino version       file system switch                      notes
==================  ======================================  ============================
440-480             ``fs.native-s3.enabled`` (gcs, azure)   native file systems opt-in
481 and later       ``fs.s3.enabled`` (gcs, azure)          renamed (trinodb/trino#29070);
                                                            legacy ``hive.s3.*`` removed
==================  ======================================  ============================

``azure.endpoint`` exists from 455 (trinodb/trino#23071). Each store kind renders its own
file-system properties (``trino_filesystem_properties`` in `skyfabric.storage.kinds`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from skyfabric.config import CatalogConfig, FabricConfig
from skyfabric.storage.kinds._trino import env_ref
from skyfabric.storage.stores import Store
from skyfabric.views._idents import catalog_for_store
from skyfabric.views.errors import InvalidViewError
from skyfabric.views.sources import HIVE_SUFFIX

__all__ = ["DEFAULT_TRINO_VERSION", "MIN_TRINO_VERSION", "CatalogFiles", "trino_catalogs"]

DEFAULT_TRINO_VERSION = 482
MIN_TRINO_VERSION = 440
ICEBERG_CATALOG_NAME = "skyfabric"  # skyfabric.tables._catalog.CATALOG_NAME (JDBC catalog_name)
METASTORE_DIR = "_trino_metastore"
_JDBC_DRIVERS = {"postgresql": "org.postgresql.Driver", "mysql": "com.mysql.cj.jdbc.Driver"}


@dataclass
class CatalogFiles:
    """Rendered catalog files: ``files`` maps ``<catalog>.properties`` to its text;
    ``notes`` says what was skipped or needs a hand (shown by the CLI)."""

    files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def write(self, out: str | Path) -> list[Path]:
        """Write every file into directory ``out`` (created); return the paths written."""
        root = Path(out)
        root.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in sorted(self.files.items()):
            path = root / name
            path.write_text(text, encoding="utf-8")
            written.append(path)
        return written


def _iceberg_catalog(config: FabricConfig, notes: list[str], store: str | None = None) -> list[str]:
    cat: CatalogConfig = config.catalog
    warehouse = _native_warehouse(config, store)
    if cat.kind == "rest":
        lines = ["iceberg.catalog.type=rest", f"iceberg.rest-catalog.uri={cat.uri or ''}"]
        if warehouse:
            lines.append(f"iceberg.rest-catalog.warehouse={warehouse}")
        lines += ["# for a catalog that needs a token:",
                  "# iceberg.rest-catalog.security=OAUTH2",
                  f"# iceberg.rest-catalog.oauth2.token={env_ref('PYICEBERG_CATALOG__SKYFABRIC__TOKEN')}"]
        return lines
    uri = urlsplit(cat.uri or "")
    scheme = uri.scheme.split("+", 1)[0]
    lines = ["iceberg.catalog.type=jdbc", f"iceberg.jdbc-catalog.catalog-name={ICEBERG_CATALOG_NAME}"]
    if scheme in _JDBC_DRIVERS:
        host = uri.hostname or "localhost"
        port = f":{uri.port}" if uri.port else ""
        lines += [f"iceberg.jdbc-catalog.driver-class={_JDBC_DRIVERS[scheme]}",
                  f"iceberg.jdbc-catalog.connection-url=jdbc:{scheme}://{host}{port}{uri.path}"]
        if uri.username:
            lines.append(f"iceberg.jdbc-catalog.connection-user={uri.username}")
        if uri.password is not None:
            lines.append(f"iceberg.jdbc-catalog.connection-password={env_ref('SKYFABRIC_CATALOG_PASSWORD')}")
            notes.append("catalog: export SKYFABRIC_CATALOG_PASSWORD (the catalog database password) on every Trino node")
    else:
        lines.append(f"# the catalog database is {cat.uri or 'not set'}; Trino's JDBC catalog needs "
                     "PostgreSQL or MySQL: point [catalog] uri at one, or use a REST catalog")
        if cat.uri:
            lines.append(f"iceberg.jdbc-catalog.connection-url=jdbc:{scheme}:{uri.path}")
        notes.append(f"catalog: the {scheme or 'default SQLite'} catalog database is not reachable "
                     "by Trino; use PostgreSQL/MySQL or a REST catalog")
    if warehouse:
        lines.append(f"iceberg.jdbc-catalog.default-warehouse-dir={warehouse}")
    return lines


def _native_warehouse(config: FabricConfig, store: str | None = None) -> str | None:
    """Native URL of the warehouse; for the JDBC catalog of ``store``, one on that store: the
    configured warehouse if it is there, else its key (``warehouse``) under the store's root."""
    from skyfabric.storage.paths import parse

    wh = config.catalog.warehouse
    fp = parse(wh) if wh and wh.startswith("fabric://") else None
    if store is not None and config.catalog.kind == "sql":
        root = Store(store, config.stores[store]).trino_root()
        assert root is not None  # catalogs are rendered for object stores only
        if fp is None and wh and (wh == root or wh.startswith(root + "/")):
            return wh
        return f"{root}/{(fp.key if fp else '') or 'warehouse'}".rstrip("/")
    if fp is None:
        return wh
    cfg = config.stores.get(fp.store)
    root = Store(fp.store, cfg).trino_root() if cfg is not None else None
    if root is None:  # no such store, or a kind Trino cannot reach
        return wh
    return f"{root}/{fp.key}".rstrip("/")


def _warehouse_store(config: FabricConfig) -> str | None:
    wh = config.catalog.warehouse
    if wh and wh.startswith("fabric://"):
        from skyfabric.storage.paths import parse

        return parse(wh).store
    return None


def _table_file_stores(config: FabricConfig) -> list[str]:
    """Object stores a table's files can live in besides its own, given the placement rules:
    every table rule's target, and the warehouse's store (where the unmoved files stay)."""
    targets = [r.target for r in config.placement.rules if r.table and r.target]
    if not targets:
        return []
    home = _warehouse_store(config)
    out: list[str] = []
    for name in [*([home] if home else []), *targets]:
        cfg = config.stores.get(name)
        # a store Trino can reach (an object store: local/memory have no Trino root)
        if cfg is not None and Store(name, cfg).trino_root() is not None and name not in out:
            out.append(name)
    return out


def _followed_filesystems(config: FabricConfig, name: str, version: int,
                          notes: list[str]) -> list[str]:
    """File-system lines the Iceberg catalog of store ``name`` adds for the other stores its
    tables' files can live in (`_table_file_stores`), one configuration per kind."""
    def filesystem(store: str) -> list[str]:
        kind = Store(store, config.stores[store])
        return kind.trino_filesystem_properties(version, catalog_for_store(store), [])

    cfg = config.stores[name]
    enabled: dict[str, tuple[str, list[str]]] = {cfg.kind: (name, filesystem(name))}
    lines: list[str] = []
    for other in _table_file_stores(config):
        if other == name:
            continue
        other_cfg = config.stores[other]
        fs = filesystem(other)
        if other_cfg.kind in enabled:
            first, first_fs = enabled[other_cfg.kind]
            if first_fs != fs:
                notes.append(
                    f"{catalog_for_store(name)}: cannot also read table files placement moves to "
                    f"store {other!r}: Trino takes one {other_cfg.kind} configuration per catalog "
                    f"and this one is {first!r}'s; read those tables through catalog "
                    f"{catalog_for_store(other)!r}")
            continue
        enabled[other_cfg.kind] = (other, fs)
        lines += [f"# store {other!r}: placement rules move table files there", *fs]
    return lines


def trino_catalogs(config: FabricConfig, *, version: int = DEFAULT_TRINO_VERSION,
                   hive: bool = True) -> CatalogFiles:
    """Render the Trino catalog files for every object store of ``config``.

    Args:
        config: the skyfabric configuration.
        version: Trino release the files are for (property names changed over releases).
        hive: also write ``<store>_hive.properties`` (Hive connector, for parquet datasets).

    Raises:
        InvalidViewError: ``version`` is older than `MIN_TRINO_VERSION`, or two stores map
            to the same catalog name.
    """
    if version < MIN_TRINO_VERSION:
        raise InvalidViewError(
            f"Trino {version} predates the native file systems these files use; "
            f"fix: use Trino {MIN_TRINO_VERSION} or later (or pass a newer --version)"
        )
    out = CatalogFiles()
    seen: dict[str, str] = {}
    for name, cfg in sorted(config.stores.items()):
        store = Store(name, cfg)
        root = store.trino_root()
        if root is None:
            out.notes.append(f"{name}: skipped, a {cfg.kind} store is not reachable from Trino")
            continue
        catalog = catalog_for_store(name)
        if catalog == "system":
            raise InvalidViewError(f"store {name!r}: Trino reserves the catalog name 'system'; fix: rename the store")
        for taken in (catalog, catalog + HIVE_SUFFIX) if hive else (catalog,):
            if taken in seen:
                raise InvalidViewError(
                    f"stores {seen[taken]!r} and {name!r} both map to Trino catalog {taken!r}; "
                    "fix: rename one store"
                )
            seen[taken] = name
        fs = store.trino_filesystem_properties(version, catalog, out.notes)
        head = [f"# Trino catalog for skyfabric store {name!r} ({cfg.kind}, {root})",
                f"# generated by `skyfabric views trino-catalogs` for Trino {version}; "
                "secrets are ${ENV:...} references"]
        iceberg = [*head, "connector.name=iceberg", *_iceberg_catalog(config, [], name), *fs,
                   *_followed_filesystems(config, name, version, out.notes)]
        out.files[f"{catalog}.properties"] = "\n".join(iceberg) + "\n"
        if hive:
            hive_lines = [*head, "connector.name=hive", "hive.metastore=file",
                          f"hive.metastore.catalog.dir={root}/{METASTORE_DIR}", *fs]
            out.files[f"{catalog}{HIVE_SUFFIX}.properties"] = "\n".join(hive_lines) + "\n"
    _iceberg_catalog(config, out.notes)  # collect catalog notes once
    return out
