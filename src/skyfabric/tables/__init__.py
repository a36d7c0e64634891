"""Iceberg tables over every store, and one catalog interface.

::

    import skyfabric
    fab = skyfabric.connect()                   # every Fabric has the table layer
    t = fab.create_table("sensors.telemetry", arrow_table, partition_by=["day(ts)"],
                         location="fabric://onprem/warehouse/telemetry")
    t.append(more_rows)
    t.upsert(changes, on=["sensor_id", "ts"])
    t.to_polars().filter(...).collect()
    t.scan(snapshot_id=t.snapshots()[0].snapshot_id).to_arrow()   # time travel
    t.compact(target_file_size="128MiB")        # small files -> target-sized, one snapshot
    t.expire_snapshots(older_than="7d"); t.gc()
    fab.datasets()                               # Iceberg tables + plain parquet/CSV, all stores
    SparkSession.builder.config(map=skyfabric.tables.spark_config(fab))  # the same tables in Spark

Exports are loaded lazily, so ``import skyfabric`` does not import pyiceberg.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skyfabric.tables._compact import CompactGroup, CompactResult
    from skyfabric.tables._fabric_api import TablesMixin, connect
    from skyfabric.tables._fileio import FabricFileIO, fileio_properties
    from skyfabric.tables._model import (
        DatasetInfo,
        ExpireResult,
        GcResult,
        Snapshot,
        UpsertResult,
        parse_duration,
        parse_size,
    )
    from skyfabric.tables._spark import SparkSettings, spark_config, spark_settings
    from skyfabric.tables.errors import (
        CatalogError,
        CommitConflictError,
        DuplicateKeysError,
        NamespaceNotFoundError,
        SchemaMismatchError,
        SnapshotNotFoundError,
        TableError,
        TableExistsError,
        TableNotFoundError,
    )
    from skyfabric.tables.scan import Scan
    from skyfabric.tables.table import Table

__all__ = [
    "CatalogError",
    "CommitConflictError",
    "CompactGroup",
    "CompactResult",
    "DatasetInfo",
    "DuplicateKeysError",
    "ExpireResult",
    "FabricFileIO",
    "GcResult",
    "NamespaceNotFoundError",
    "Scan",
    "SchemaMismatchError",
    "Snapshot",
    "SnapshotNotFoundError",
    "SparkSettings",
    "Table",
    "TableError",
    "TableExistsError",
    "TableNotFoundError",
    "TablesMixin",
    "UpsertResult",
    "connect",
    "fileio_properties",
    "parse_duration",
    "parse_size",
    "spark_config",
    "spark_settings",
]

_WHERE = {
    "TablesMixin": "_fabric_api", "connect": "_fabric_api",
    "FabricFileIO": "_fileio", "fileio_properties": "_fileio",
    "DatasetInfo": "_model", "ExpireResult": "_model", "GcResult": "_model", "Snapshot": "_model",
    "UpsertResult": "_model", "parse_duration": "_model", "parse_size": "_model",
    "CompactGroup": "_compact", "CompactResult": "_compact",
    "SparkSettings": "_spark", "spark_config": "_spark", "spark_settings": "_spark",
    "Scan": "scan", "Table": "table",
    **{name: "errors" for name in (
        "CatalogError", "CommitConflictError", "DuplicateKeysError", "NamespaceNotFoundError",
        "SchemaMismatchError", "SnapshotNotFoundError", "TableError", "TableExistsError",
        "TableNotFoundError")},
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'skyfabric.tables' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"skyfabric.tables.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
