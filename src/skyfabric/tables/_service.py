"""The table layer of one Fabric: its catalog, name resolution, create / load / drop.

One `TableService` per Fabric and process; the pyiceberg catalog is built on first use
and rebuilt after a fork (SQLAlchemy connection pools and cloud clients are not fork-safe).
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from skyfabric.tables._catalog import (
    build_catalog,
    fabric_url,
    native_location,
    split_name,
    warn_about_shared_catalog,
)
from skyfabric.tables._fileio import STORE_PROPERTY, store_for_location
from skyfabric.tables.errors import (
    NamespaceNotFoundError,
    TableError,
    TableExistsError,
    TableNotFoundError,
    UnreachableLocationError,
    near_matches,
)
from skyfabric.warnings import UnreadableTableWarning

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table as IcebergTable

    from skyfabric.config import FabricConfig
    from skyfabric.storage.stores import Store
    from skyfabric.tables.table import Table

__all__ = ["TableService", "unreadable_reason"]


def unreadable_reason(name: str, exc: BaseException) -> str:
    """Why table ``name`` cannot be loaded, and the one fix that fits the cause (redacted)."""
    from skyfabric.errors import FabricError, brief

    drop = f"remove the entry with `skyfabric tables drop {name}`"
    if isinstance(exc, UnreachableLocationError):
        what = str(exc).split("; fix:", 1)[0]
        return f"{what}; fix: add the store that holds it to this configuration, or {drop}"
    if isinstance(exc, FileNotFoundError):
        return f"its metadata file is gone ({brief(exc, 200)}); fix: {drop}"
    what = str(exc).split("; fix:", 1)[0] if isinstance(exc, FabricError) else brief(exc, 200)
    return f"cannot be loaded ({what}); fix: make its store reachable from here, or {drop}"


class TableService:
    """Catalog access for one configuration and its stores (see the module docstring)."""

    def __init__(self, config: FabricConfig, stores: dict[str, Store]) -> None:
        self.config = config
        self.stores = stores
        self._catalog: Catalog | None = None
        self._pid = 0
        self._lock = threading.Lock()

    @property
    def catalog(self) -> Catalog:
        """This process's pyiceberg catalog (built on first use).

        Raises:
            CatalogError, MissingDependencyError: see `skyfabric.tables._catalog.build_catalog`.
        """
        pid = os.getpid()
        if self._catalog is None or self._pid != pid:
            with self._lock:
                if self._catalog is None or self._pid != pid:
                    self._catalog = build_catalog(self.config, self.stores)
                    self._pid = pid
        return self._catalog

    # -- names ----------------------------------------------------------------------------

    @property
    def catalog_missing(self) -> bool:
        """True when the catalog is a SQLite file that does not exist yet: it holds no
        tables, and reading it need not create it (nor this configuration's state directory,
        which may be in a read-only folder)."""
        path = self.config.catalog_file
        if path is None or path.exists():
            return False
        warn_about_shared_catalog(self.config, self.stores)  # where its tables may be
        return True

    def namespaces(self) -> list[str]:
        """Every namespace, dotted (nested namespaces included)."""
        if self.catalog_missing:
            return []
        out: list[str] = []
        todo: list[tuple[str, ...]] = [()]
        while todo:
            parent = todo.pop()
            for ns in self.catalog.list_namespaces(parent) if parent else self.catalog.list_namespaces():
                if tuple(ns) != parent and ".".join(ns) not in out:
                    out.append(".".join(ns))
                    todo.append(tuple(ns))
        return sorted(out)

    def table_names(self, namespace: str | None = None) -> list[str]:
        """``namespace.table`` of every table (in ``namespace`` only, if given)."""
        from pyiceberg.exceptions import NoSuchNamespaceError

        if namespace is None and self.catalog_missing:
            return []
        spaces = [namespace] if namespace else self.namespaces()
        names: list[str] = []
        for ns in spaces:
            try:
                names += [".".join(ident) for ident in self.catalog.list_tables(ns)]
            except NoSuchNamespaceError as exc:
                raise NamespaceNotFoundError(
                    f"no namespace {ns!r}; namespaces: {', '.join(self.namespaces()) or 'none'}"
                ) from exc
        return sorted(names)

    # -- locations ------------------------------------------------------------------------

    def store_of(self, location: str, preferred: str | None = None) -> Store | None:
        """The configured store holding a native location (None: none does)."""
        return store_for_location(self.stores, location, preferred)

    def store_of_table(self, tbl: IcebergTable) -> Store | None:
        """The store holding a table's files (its ``skyfabric.store`` property breaks ties)."""
        return self.store_of(tbl.location(), tbl.properties.get(STORE_PROPERTY))

    def fabric_url(self, location: str, preferred: str | None = None) -> str:
        """``fabric://`` URL of a native location (itself if no store holds it)."""
        return fabric_url(self.stores, location, preferred)

    def native(self, url: str) -> str:
        """Native URL of ``fabric://store/path`` (other URLs unchanged)."""
        return native_location(self.stores, url)

    # -- tables ---------------------------------------------------------------------------

    def load(self, name: str | tuple[str, ...]) -> IcebergTable:
        """The pyiceberg table called ``name``.

        Raises:
            TableNotFoundError: no such table; the message names the closest existing ones.
        """
        from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

        ident = split_name(name)
        try:
            return self.catalog.load_table(ident)
        except (NoSuchTableError, NoSuchNamespaceError) as exc:
            wanted = ".".join(ident)
            try:
                known = self.table_names()
            except Exception:
                known = []
            raise TableNotFoundError(
                f"no table {wanted!r} in the catalog.{near_matches(wanted, known)} "
                f"Tables: {', '.join(known[:10]) or 'none'}{' ...' if len(known) > 10 else ''}. "
                "Fix: check the name (namespace.table) or create it with fab.create_table"
            ) from exc

    def load_or_skip(self, name: str, doing: str) -> IcebergTable | None:
        """The pyiceberg table ``name``, or ``None`` with one `UnreadableTableWarning` when it
        cannot be loaded (dropped meanwhile: silently). ``doing`` names the caller's work in
        the warning, e.g. ``"listing datasets"``.

        A broken entry (metadata on a store that no longer answers or is not configured
        here, no credentials, a missing metadata file) must not block commands over other
        tables; the clients' connect/read timeouts bound how long finding that out takes.
        """
        try:
            return self.load(name)
        except TableNotFoundError:
            return None
        except Exception as exc:  # any client or metadata error: this one table is unreadable
            warnings.warn(
                f"{doing}: skipped table {name!r}: {unreadable_reason(name, exc)}",
                UnreadableTableWarning,
                stacklevel=2,
            )
            return None

    def table_or_skip(self, name: str, doing: str) -> Table | None:
        """`table`, or ``None`` with one warning as `load_or_skip` when it cannot be loaded."""
        from skyfabric.tables.table import Table

        tbl = self.load_or_skip(name, doing)
        return None if tbl is None else Table(self, split_name(name), tbl)

    def metadata_location(self, ident: tuple[str, ...]) -> str | None:
        """Current metadata location straight from a SQL catalog (None: not a SQL catalog)."""
        catalog = self.catalog
        engine = getattr(catalog, "engine", None)
        if engine is None:
            return None
        from pyiceberg.catalog.sql import IcebergTables
        from sqlalchemy import select

        stmt = select(IcebergTables.metadata_location).where(
            IcebergTables.catalog_name == catalog.name,
            IcebergTables.table_namespace == ".".join(ident[:-1]),
            IcebergTables.table_name == ident[-1],
        )
        with engine.connect() as con:  # a Core connection: ~0.1 ms, an ORM Session ~0.5 ms
            return con.execute(stmt).scalar_one_or_none()

    def table(self, name: str | tuple[str, ...]) -> Table:
        """The `skyfabric.tables.Table` called ``name``. Raises TableNotFoundError."""
        from skyfabric.tables.table import Table

        ident = split_name(name)
        return Table(self, ident, self.load(ident))

    def create_namespace(self, name: str, location: str | None = None, exist_ok: bool = True) -> None:
        """Create namespace ``name``; ``location`` (``fabric://store/path``) puts its tables'
        default location on that store.

        Raises:
            TableExistsError: it exists and ``exist_ok`` is False.
        """
        from pyiceberg.exceptions import NamespaceAlreadyExistsError

        props = {"location": self.native(location)} if location else {}
        if location and self._store_named_by(location):
            props[STORE_PROPERTY] = str(self._store_named_by(location))
        try:
            self.catalog.create_namespace(tuple(name.split(".")), props)
        except NamespaceAlreadyExistsError as exc:
            if not exist_ok:
                raise TableExistsError(f"namespace {name!r} already exists") from exc
            if props:
                self.catalog.update_namespace_properties(tuple(name.split(".")), updates=props)

    def create_table(self, name: str, schema: Any, *, partition_by: Sequence[str] = (),
                     location: str | None = None, key: Sequence[str] = (),
                     properties: dict[str, str] | None = None, exist_ok: bool = False) -> Table:
        """See `skyfabric.tables.TablesMixin.create_table`."""
        from pyiceberg.exceptions import TableAlreadyExistsError

        from skyfabric.tables._create import iceberg_schema, seed_data

        ident = split_name(name)
        data = seed_data(schema)
        ice_schema = iceberg_schema(schema if data is None else data.schema, key)
        self.create_namespace(ident[0] if len(ident) == 2 else ".".join(ident[:-1]))
        if location:
            native, store = self.native(location), self._store_named_by(location)
        else:
            native, store = self._default_location(ident)
        props = dict(properties or {})
        if store is None and native:
            found = self.store_of(native)
            store = found.name if found else None
        if store is not None:
            props.setdefault(STORE_PROPERTY, store)
        from pyiceberg.exceptions import CommitFailedException

        if self.catalog.table_exists(ident):
            if exist_ok:
                return self.table(ident)
            raise TableExistsError(f"table {'.'.join(ident)!r} already exists; fix: use "
                                   "fab.table(name), pass exist_ok=True, or drop it first")
        if native:
            self._refuse_overlap(ident, native, store)
        try:
            with self.catalog.create_table_transaction(
                ident, ice_schema, location=native, properties=props
            ) as tx:
                if partition_by:
                    from skyfabric.tables._schema import parse_partition

                    with tx.update_spec() as spec:
                        for field in partition_by:
                            column, transform, field_name = parse_partition(field)
                            spec.add_field(column, transform, field_name)
                if data is not None and len(data):  # one commit: the table never exists empty
                    from skyfabric.tables._schema import conform

                    meta = tx.table_metadata
                    tx.append(conform(data, meta.schema(), meta.format_version))
        except (TableAlreadyExistsError, CommitFailedException) as exc:
            if "exists" not in str(exc):
                raise
            if exist_ok:  # another process created it in the meantime
                return self.table(ident)
            raise TableExistsError(f"table {'.'.join(ident)!r} was created concurrently; "
                                   "fix: use fab.table(name) or pass exist_ok=True") from exc
        return self.table(ident)

    def table_locations(self) -> list[tuple[str, str]]:
        """``(name, native location)`` of every table. On SQL catalogs one query: the
        location is the folder holding the current metadata's ``metadata/`` folder (tables
        whose metadata lives elsewhere are loaded); other catalogs load every table."""
        from skyfabric.tables.errors import TableNotFoundError

        engine = getattr(self.catalog, "engine", None)
        rows: list[tuple[str, str | None]] = []
        if engine is not None:
            from pyiceberg.catalog.sql import IcebergTables
            from sqlalchemy import select

            stmt = select(IcebergTables.table_namespace, IcebergTables.table_name,
                          IcebergTables.metadata_location).where(
                IcebergTables.catalog_name == self.catalog.name)
            with engine.connect() as con:
                rows = [(f"{ns}.{name}", meta) for ns, name, meta in con.execute(stmt)]
        else:
            rows = [(name, None) for name in self.table_names()]
        out = []
        for name, meta in sorted(rows):
            if meta and "/metadata/" in meta:
                out.append((name, meta.rsplit("/metadata/", 1)[0]))
                continue
            try:
                out.append((name, self.load(name).location()))
            except TableNotFoundError:
                continue
        return out

    def _refuse_overlap(self, ident: tuple[str, ...], native: str, store: str | None) -> None:
        """Raise TableError when ``native`` equals, lies inside or contains another table's
        location: gc and ``drop_table(purge=True)`` of one would take the other's files."""
        from skyfabric.tables._maintenance import _place

        mine = _place(native)
        if mine is None:
            return
        for name, location in self.table_locations():
            theirs = _place(location)
            if theirs is None or theirs[0] != mine[0]:
                continue
            a, b = mine[1], theirs[1]
            if a == b:
                how = "is the location of"
            elif a.startswith(b + "/"):
                how = "lies inside the location of"
            elif b.startswith(a + "/"):
                how = "contains the location of"
            else:
                continue
            raise TableError(
                f"cannot create {'.'.join(ident)!r} at {self.fabric_url(native, store)}: it {how} "
                f"table {name!r} ({self.fabric_url(location)}); tables sharing a folder would "
                "delete each other's files (gc, drop_table(purge=True)); fix: pass a location= "
                f"outside every other table's folder (e.g. a sibling of {self.fabric_url(location)})"
            )

    @staticmethod
    def _store_named_by(url: str | None) -> str | None:
        from skyfabric.storage.paths import PREFIX, parse

        return parse(url).store if url and url.startswith(PREFIX) else None

    def _default_location(self, ident: tuple[str, ...]) -> tuple[str | None, str | None]:
        """``(native location, store name)`` a SQL catalog would give the table (namespace
        location, else warehouse), so its store is known before creation; ``(None, None)``
        for REST catalogs (the server decides)."""
        if getattr(self.catalog, "engine", None) is None:
            return None, None
        namespace = ".".join(ident[:-1])
        ns_props = self.catalog.load_namespace_properties(namespace)
        if ns_props.get("location"):
            native = f"{ns_props['location'].rstrip('/')}/{ident[-1]}"
            return native, ns_props.get(STORE_PROPERTY)
        warehouse = self.catalog.properties.get("warehouse")
        if not warehouse:
            return None, None
        from skyfabric.tables._catalog import _default_warehouse

        return (f"{warehouse.rstrip('/')}/{namespace}/{ident[-1]}",
                self._store_named_by(_default_warehouse(self.config)))

    def drop_table(self, name: str, purge: bool = False) -> None:
        """Remove the table from the catalog; with ``purge`` also delete all its files.

        Without ``purge`` the table is not loaded: a broken entry (metadata on a store that
        is gone) can always be removed.

        Raises:
            TableNotFoundError: no such table.
        """
        ident = split_name(name)
        if not purge:
            from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

            try:
                self.catalog.drop_table(ident)
            except (NoSuchTableError, NoSuchNamespaceError):
                self.load(ident)  # raises TableNotFoundError naming the near matches
                raise
            return
        tbl = self.load(name)
        from skyfabric.tables._datasets import external_roots
        from skyfabric.tables._maintenance import (
            _delete,
            _key,
            _kind,
            _places,
            _sizes,
            _under_any,
            foreign_places,
        )

        store = self.store_of_table(tbl)
        # another table's folders (or registered parquet) inside this one are not ours
        keep = foreign_places(self, tbl) + _places(external_roots(tbl))
        self.catalog.drop_table(ident)
        if store is not None:
            kind = _kind(tbl.location())
            _delete(store, sorted(k for k in _sizes(store, _key(tbl.location()))
                                  if not _under_any((kind, k), keep)))
