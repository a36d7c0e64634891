"""``TablesMixin``: the table layer's methods on `skyfabric.Fabric`.

``class Fabric(TablesMixin)`` gives every Fabric ``fab.catalog``, ``fab.table``,
``fab.create_table``, ``fab.datasets`` and ``fab.register_parquet``; `connect` is kept as an
alias of `skyfabric.connect` for code written as ``skyfabric.tables.connect()``.

Nothing heavy is imported here: ``import skyfabric`` stays free of pyiceberg and pandas.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from skyfabric.config import FabricConfig
    from skyfabric.fabric import Fabric
    from skyfabric.storage.filesystem import FabricFileSystem
    from skyfabric.tables._model import DatasetInfo
    from skyfabric.tables._service import TableService
    from skyfabric.tables.table import Table

__all__ = ["TablesMixin", "connect"]


class TablesMixin:
    """Iceberg tables and the lake-wide dataset listing, over every configured store."""

    config: FabricConfig
    fs: FabricFileSystem

    @property
    def _table_service(self) -> TableService:
        service = self.__dict__.get("_tables_service")
        if service is None:
            service = _import_service()(self.config, self.fs.stores)
            self.__dict__["_tables_service"] = service
        return service

    @property
    def catalog(self) -> Catalog:
        """The pyiceberg catalog from ``[catalog]``; its FileIO reaches every store.

        Raises:
            CatalogError: the catalog URI is wrong or the catalog cannot be reached.
            MissingDependencyError: SQLAlchemy / the database driver is not installed.
        """
        return self._table_service.catalog

    def table(self, name: str) -> Table:
        """The table ``namespace.name`` (a bare name means namespace ``default``).

        Raises:
            TableNotFoundError: no such table; the message names the closest existing ones.
        """
        return self._table_service.table(name)

    def tables(self, namespace: str | None = None) -> list[str]:
        """Names (``namespace.table``) of every table, or of those in ``namespace``.

        Raises:
            NamespaceNotFoundError: ``namespace`` does not exist.
        """
        return self._table_service.table_names(namespace)

    def create_table(self, name: str, schema: Any, *, partition_by: Sequence[str] = (),
                     location: str | None = None, key: Sequence[str] = (),
                     properties: dict[str, str] | None = None, exist_ok: bool = False) -> Table:
        """Create table ``name`` (its namespace too, if new).

        Args:
            schema: a ``pyarrow.Schema``, a ``pyiceberg.schema.Schema``, or data (Arrow
                table/reader, pandas or polars DataFrame): its schema is used and its rows
                become the first snapshot, in the same commit.
            partition_by: partition fields: ``"site"`` (identity), ``"day(ts)"``,
                ``"month(ts)"``, ``"bucket(16, id)"``, ``"truncate(4, name)"``.
            location: where the table's files go, ``fabric://<store>/<path>`` on any store
                (default: the namespace's location, else ``<warehouse>/<namespace>/<name>``).
            key: identifier columns (made required); ``upsert`` matches on them by default.
            properties: Iceberg table properties (never put credentials here).
            exist_ok: return the existing table instead of raising.

        Raises:
            TableExistsError: the name is taken and ``exist_ok`` is False.
            UnknownStoreError: ``location`` names a store that is not configured.
            ValueError: a partition field or key column is not in the schema.
        """
        return self._table_service.create_table(
            name, schema, partition_by=partition_by, location=location, key=key,
            properties=properties, exist_ok=exist_ok)

    def create_namespace(self, name: str, location: str | None = None, exist_ok: bool = True) -> None:
        """Create a namespace; ``location`` (``fabric://store/path``) is where its tables go.

        Raises:
            TableExistsError: it exists and ``exist_ok`` is False.
        """
        self._table_service.create_namespace(name, location, exist_ok)

    def drop_table(self, name: str, *, purge: bool = False) -> None:
        """Remove a table from the catalog; ``purge=True`` also deletes its files.

        Raises:
            TableNotFoundError: no such table.
        """
        self._table_service.drop_table(name, purge)

    def datasets(self, store: str | None = None) -> list[DatasetInfo]:
        """Every Iceberg table and plain parquet/CSV dataset, across all stores (or one).

        A plain dataset is a prefix holding data files directly or under hive partition
        folders (``month=7/``); prefixes inside Iceberg table locations are not repeated.

        Raises:
            UnknownStoreError: ``store`` is not configured.
        """
        from skyfabric.tables._datasets import list_datasets

        return list_datasets(self._table_service, store)

    def register_parquet(self, name: str, url: str, *, location: str | None = None,
                         exist_ok: bool = False) -> Table:
        """Register the parquet files at ``url`` (file, prefix or glob) as Iceberg table
        ``name`` without copying them (Iceberg ``add_files``).

        The files stay where they are and are never deleted by ``expire_snapshots`` or ``gc``;
        table metadata goes to ``location`` (default: the warehouse).

        Raises:
            ObjectNotFoundError: no parquet file at ``url``.
            TableExistsError: the name is taken and ``exist_ok`` is False.
            SchemaMismatchError: the files' schemas differ from each other.
        """
        from skyfabric.tables._datasets import register_parquet

        return register_parquet(self._table_service, name, url, location=location, exist_ok=exist_ok)


def _import_service() -> type[TableService]:
    """The service class; a missing pyiceberg becomes one error naming the extra to install.

    Raises:
        MissingDependencyError: pyiceberg (or pyarrow) is not installed.
    """
    try:
        from skyfabric.tables._service import TableService
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in ("pyiceberg", "pyarrow"):
            raise
        from skyfabric.errors import MissingDependencyError

        raise MissingDependencyError(
            f"the table layer needs {exc.name!r}; fix: pip install 'skyfabric[tables]'"
        ) from exc
    return TableService


def connect(config: FabricConfig | str | os.PathLike[str] | dict[str, Any] | None = None) -> Fabric:
    """`skyfabric.connect`: every `skyfabric.Fabric` has the table layer (see `TablesMixin`).

    Raises:
        ConfigError: the configuration is missing or invalid.
    """
    from skyfabric.fabric import connect as fabric_connect

    return fabric_connect(config)
