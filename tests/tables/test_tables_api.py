"""The table layer's public surface is what we mean it to be, and importing it is light."""

from __future__ import annotations

import subprocess
import sys

import skyfabric.tables
import skyfabric.tables.errors
from skyfabric.errors import FabricError


def test_exports_are_locked_and_resolve() -> None:
    assert sorted(skyfabric.tables.__all__) == sorted([
        "CatalogError", "CommitConflictError", "CompactGroup", "CompactResult", "DatasetInfo", "DuplicateKeysError",
        "ExpireResult", "FabricFileIO", "GcResult", "NamespaceNotFoundError", "Scan",
        "SchemaMismatchError", "Snapshot", "SnapshotNotFoundError", "SparkSettings", "Table", "TableError",
        "TableExistsError", "TableNotFoundError", "TablesMixin", "UpsertResult", "connect",
        "fileio_properties", "parse_duration", "parse_size", "spark_config", "spark_settings",
    ])
    for name in skyfabric.tables.__all__:
        assert getattr(skyfabric.tables, name) is not None


def test_every_table_error_is_a_fabric_error() -> None:
    for name in skyfabric.tables.errors.__all__:
        obj = getattr(skyfabric.tables.errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, FabricError)
    assert issubclass(skyfabric.tables.TableNotFoundError, LookupError)
    assert issubclass(skyfabric.tables.SchemaMismatchError, ValueError)


def test_import_and_mixin_are_light() -> None:
    code = (
        "import sys, skyfabric, skyfabric.tables; from skyfabric.tables._fabric_api import "
        "TablesMixin; heavy = [m for m in ('pyiceberg', 'pandas', 'polars', 'sqlalchemy', "
        "'pyarrow') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
