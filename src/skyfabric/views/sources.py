"""What a view reads: parquet datasets and Iceberg tables, behind one small interface.

A `Source` knows three things: its Trino name (``catalog.schema.table``), its Arrow schema
(to check column names before any SQL is sent), and how to read itself into Arrow (for the
local DuckDB engine). A `View` is a source too, so views build on views.

- `ParquetSource` (``parquet("fabric://onprem/tickets/")``): a prefix of parquet files,
  read through `Fabric.dataset`. In Trino it is an external table of the store's Hive
  catalog ``<store>_hive`` (schema ``raw`` by default), created by the setup statements
  `trino_setup` renders, because Trino reads raw parquet only through a Hive table.
- `IcebergSource` (``iceberg("crm.customers")``): a table of the fabric catalog, read
  through the table layer (``Fabric.table``). In Trino it lives in the Iceberg catalog of the
  store holding its files, so ``crm.customers`` on store ``features`` is
  ``features.crm.customers``. A pinned ``snapshot_id`` renders ``FOR VERSION AS OF``.
"""

from __future__ import annotations

import re
import weakref
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from skyfabric.views._idents import catalog_for_store, check_name, ident, table_ref
from skyfabric.views._types import trino_type
from skyfabric.views.errors import InvalidViewError, UnknownSourceError, ViewError

if TYPE_CHECKING:
    import pyarrow as pa

    from skyfabric.fabric import Fabric

__all__ = ["IcebergSource", "ParquetSource", "Source", "iceberg", "parquet"]

HIVE_SUFFIX = "_hive"
DEFAULT_FILES_SCHEMA = "raw"
_NAME_CHARS = re.compile(r"[^a-z0-9_]+")


class Source(ABC):
    """One relation a view reads. Implementations are small, immutable and hashable."""

    @abstractmethod
    def describe(self) -> str:
        """Short text naming the source in messages, e.g. ``parquet fabric://onprem/t/``."""

    @abstractmethod
    def trino_name(self, fabric: Fabric) -> tuple[str, str, str]:
        """``(catalog, schema, table)`` of the source in Trino."""

    @abstractmethod
    def arrow_schema(self, fabric: Fabric) -> pa.Schema:
        """The source's columns and types, read from metadata (no data is read)."""

    @abstractmethod
    def to_arrow(self, fabric: Fabric, columns: Sequence[str] | None = None) -> pa.Table:
        """The rows, only ``columns`` if given (in that order), as one Arrow table."""

    def trino_version(self) -> exp.Version | None:
        """Time-travel clause for Trino (``FOR VERSION AS OF n``), or None."""
        return None

    def trino_setup(self, fabric: Fabric) -> list[exp.Expression]:
        """Statements Trino needs before a view can read this source (default: none)."""
        return []


def _split_trino_table(text: str) -> tuple[str | None, str | None, str]:
    parts = text.split(".")
    if not 1 <= len(parts) <= 3 or any(not p for p in parts):
        raise InvalidViewError(
            f"trino_table {text!r} is not 'table', 'schema.table' or 'catalog.schema.table'"
        )
    padded: list[str | None] = [None] * (3 - len(parts)) + list(parts)
    return padded[0], padded[1], str(padded[2])


def _default_table_name(key: str) -> str:
    segments = [s for s in key.split("/") if s and not set("*?[") & set(s) and "=" not in s]
    if not segments:
        raise InvalidViewError("cannot name a Trino table after a store root; fix: pass trino_table=")
    last = segments[-1].rsplit(".", 1)[0] if "." in segments[-1] else segments[-1]
    return _NAME_CHARS.sub("_", last.lower()).strip("_") or "dataset"


class ParquetSource(Source):
    """A parquet dataset at a ``fabric://`` prefix (hive partitions are discovered).

    Args:
        url: ``fabric://<store>/<prefix>/`` (a single file or glob runs locally, but Trino's
            Hive connector can only read a whole prefix).
        trino_table: a table already registered in Trino to use instead of the generated
            external table ``<store>_hive.raw.<last segment>``: ``table``, ``schema.table``
            or ``catalog.schema.table`` (missing parts default as above); no setup
            statements are rendered for it.

    Raises:
        InvalidPathError: ``url`` is not a fabric URL.
    """

    def __init__(self, url: str, *, trino_table: str | None = None) -> None:
        from skyfabric.storage.paths import PREFIX, parse

        if not isinstance(url, str) or not url.startswith(PREFIX):
            raise InvalidViewError(
                f"parquet source {url!r} is not a fabric URL; fix: write fabric://<store>/<prefix>/ "
                "(configure the bucket as a store in skyfabric.toml)"
            )
        self.url = url
        self._path = parse(url)
        self._trino = _split_trino_table(trino_table) if trino_table else (None, None, None)

    def __repr__(self) -> str:
        return f"parquet({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParquetSource) and (self.url, self._trino) == (other.url, other._trino)

    def __hash__(self) -> int:
        return hash(("parquet", self.url, self._trino))

    def describe(self) -> str:
        return f"parquet {self.url}"

    @property
    def store(self) -> str:
        """Name of the store holding the dataset."""
        return self._path.store

    def trino_name(self, fabric: Fabric) -> tuple[str, str, str]:
        catalog, schema, table = self._trino
        return (
            catalog or catalog_for_store(self.store) + HIVE_SUFFIX,
            schema or DEFAULT_FILES_SCHEMA,
            table or _default_table_name(self._path.key),
        )

    def _dataset(self, fabric: Fabric) -> Any:
        try:
            return fabric.dataset(self.url)
        except FileNotFoundError as exc:
            raise UnknownSourceError(
                f"{self.describe()}: {exc}; fix: check the URL (skyfabric ls {self.url})"
            ) from exc

    def arrow_schema(self, fabric: Fabric) -> pa.Schema:
        return self._dataset(fabric).schema

    def to_arrow(self, fabric: Fabric, columns: Sequence[str] | None = None) -> pa.Table:
        return self._dataset(fabric).to_table(columns=list(columns) if columns is not None else None)

    def trino_setup(self, fabric: Fabric) -> list[exp.Expression]:
        """``CREATE SCHEMA IF NOT EXISTS``, ``CREATE TABLE IF NOT EXISTS ... WITH
        (external_location, format = 'PARQUET'[, partitioned_by])`` and, for a partitioned
        dataset, ``CALL system.sync_partition_metadata`` to register its partitions. Nothing
        when ``trino_table`` was given: that table is registered by its owner.

        Raises:
            InvalidViewError: the URL is a file or glob, or the store is local/memory (Trino
                cannot reach it), or a column type has no Trino equivalent.
        """
        if self._trino != (None, None, None):
            return []
        if set("*?[") & set(self._path.key) or self._path.key.lower().endswith(".parquet"):
            raise InvalidViewError(
                f"{self.url}: Trino's Hive connector reads a whole prefix, not a file or glob; "
                "fix: point the source at the dataset's prefix, or pass trino_table= for a "
                "table you registered yourself"
            )
        catalog, schema, table = self.trino_name(fabric)
        dataset = self._dataset(fabric)
        part_cols = _partition_columns(dataset)
        cols = [f for f in dataset.schema if f.name not in part_cols]
        cols += [dataset.schema.field(c) for c in part_cols]  # Hive wants partition keys last
        defs = [
            exp.ColumnDef(this=ident(f.name), kind=exp.DataType.build(trino_type(f.type, f.name), dialect="trino"))
            for f in cols
        ]
        props: list[exp.Expression] = [
            exp.Property(this=exp.var("external_location"),
                         value=exp.Literal.string(trino_location(fabric, self.url))),
            exp.Property(this=exp.var("format"), value=exp.Literal.string("PARQUET")),
        ]
        if part_cols:
            props.append(exp.Property(this=exp.var("partitioned_by"),
                                      value=exp.Array(expressions=[exp.Literal.string(c) for c in part_cols])))
        out: list[exp.Expression] = [
            exp.Create(this=exp.Table(this=ident(schema), db=ident(catalog)), kind="SCHEMA", exists=True),
            exp.Create(
                this=exp.Schema(this=table_ref(catalog, schema, table), expressions=defs),
                kind="TABLE", exists=True, properties=exp.Properties(expressions=props),
            ),
        ]
        if part_cols:
            call = (
                f"{ident(catalog).sql('trino')}.system.sync_partition_metadata("
                f"schema_name => {exp.Literal.string(schema).sql('trino')}, "
                f"table_name => {exp.Literal.string(table).sql('trino')}, mode => 'ADD')"
            )
            out.append(exp.Command(this="CALL", expression=exp.Literal.string(call)))
        return out


def _partition_columns(dataset: Any) -> list[str]:
    """Hive partition keys of a dataset: discovered fields that appear as ``key=`` in its paths
    (pyarrow reports the file schema as the partitioning schema when there is none)."""
    schema = getattr(getattr(dataset, "partitioning", None), "schema", None)
    files = ["/" + f for f in getattr(dataset, "files", [])[:100]]
    if schema is None or not files:
        return []
    return [f.name for f in schema if any(f"/{f.name}=" in path for path in files)]


def trino_location(fabric: Fabric, url: str) -> str:
    """The URL Trino's native file systems use for a fabric URL.

    ``s3://bucket/key`` and ``gs://bucket/key`` as skyfabric resolves them; Azure needs the
    account in the authority: ``abfs://<container>@<account>.dfs.core.windows.net/<key>``.

    Raises:
        InvalidViewError: the store is local or memory, or an Azure store names no account.
    """
    from skyfabric.errors import ConfigError

    resolved = fabric.resolve(url.rstrip("/"))  # a table location names the prefix itself
    store = fabric.store(resolved.store)
    try:
        found = store.trino_url(store.key_of(resolved.path))
    except ConfigError as exc:  # e.g. an Azure store that names no account
        raise InvalidViewError(f"{url}: {exc}") from exc
    if found is None:
        raise InvalidViewError(
            f"{url}: store {resolved.store!r} is kind {resolved.kind!r}, which a Trino cluster "
            "cannot reach; fix: copy the data to an s3/gcs/azure store (skyfabric cp) first"
        )
    return found


_TABLE_FABRICS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _tables_api(fabric: Fabric) -> Any:
    """``fabric.table``; for a Fabric without the table layer, that of a table-layer Fabric
    on the same configuration (``skyfabric.tables.connect``), built once per fabric."""
    getter = getattr(fabric, "table", None)
    if getter is not None:
        return getter
    tables_fabric = _TABLE_FABRICS.get(fabric)
    if tables_fabric is None:
        try:
            import skyfabric.tables as tables
        except ImportError as exc:
            raise ViewError(
                "Iceberg sources need the table layer; fix: pip install 'skyfabric[tables]', "
                "or use parquet(...) sources"
            ) from exc
        tables_fabric = _TABLE_FABRICS.setdefault(fabric, tables.connect(fabric.config))
    return tables_fabric.table


class IcebergSource(Source):
    """An Iceberg table of the fabric catalog, optionally pinned to a snapshot.

    Args:
        table: ``namespace.table`` (a bare name means namespace ``default``).
        snapshot_id: read this snapshot (Trino: ``FOR VERSION AS OF``); None: the current one.
        trino_catalog: Trino catalog to use instead of the one of the table's store.
    """

    def __init__(self, table: str, *, snapshot_id: int | None = None,
                 trino_catalog: str | None = None) -> None:
        self.table = check_name(table, "Iceberg table name")
        self.snapshot_id = snapshot_id
        self.trino_catalog = trino_catalog

    def __repr__(self) -> str:
        pin = f", snapshot_id={self.snapshot_id}" if self.snapshot_id is not None else ""
        return f"iceberg({self.table!r}{pin})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IcebergSource) and (
            self.table, self.snapshot_id, self.trino_catalog
        ) == (other.table, other.snapshot_id, other.trino_catalog)

    def __hash__(self) -> int:
        return hash(("iceberg", self.table, self.snapshot_id, self.trino_catalog))

    def describe(self) -> str:
        return f"iceberg {self.table}"

    def _load(self, fabric: Fabric) -> Any:
        try:
            return _tables_api(fabric)(self.table)
        except LookupError as exc:
            raise UnknownSourceError(f"{self.describe()}: {exc}") from exc

    def trino_name(self, fabric: Fabric) -> tuple[str, str, str]:
        tbl = self._load(fabric)
        *namespace, name = tbl.name.split(".")
        catalog = self.trino_catalog
        if catalog is None:
            if tbl.store is None:
                raise InvalidViewError(
                    f"{self.describe()}: its files ({tbl.location}) are in no configured store, "
                    "so no Trino catalog reaches them; fix: pass trino_catalog="
                )
            catalog = catalog_for_store(tbl.store)
        return catalog, ".".join(namespace), name

    def trino_version(self) -> exp.Version | None:
        if self.snapshot_id is None:
            return None
        return exp.Version(this="VERSION", kind="AS OF",
                           expression=exp.Literal.number(self.snapshot_id))

    def arrow_schema(self, fabric: Fabric) -> pa.Schema:
        return self._load(fabric).arrow_schema

    def to_arrow(self, fabric: Fabric, columns: Sequence[str] | None = None) -> pa.Table:
        scan = self._load(fabric).scan(columns=list(columns) if columns else None,
                                       snapshot_id=self.snapshot_id)
        table = scan.to_arrow()
        return table.select(list(columns)) if columns else table


def parquet(url: str, *, trino_table: str | None = None) -> ParquetSource:
    """A `ParquetSource` over the parquet dataset at ``url`` (see its docs)."""
    return ParquetSource(url, trino_table=trino_table)


def iceberg(table: str, *, snapshot_id: int | None = None,
            trino_catalog: str | None = None) -> IcebergSource:
    """An `IcebergSource` for the fabric catalog table ``table`` (see its docs)."""
    return IcebergSource(table, snapshot_id=snapshot_id, trino_catalog=trino_catalog)
