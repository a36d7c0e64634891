"""Trino federated views over every store, runnable locally on DuckDB.

    from skyfabric.views import View, ViewService, iceberg, parquet

    v = (View("carrier_360", catalog="lake", schema="analytics", security="invoker")
         .from_("f", parquet("fabric://lake/flights/"))
         .join("a", parquet("fabric://features/airlines/"), keys="carrier")
         .select("a.name", flights="count(*)")
         .group_by("a.name"))
    print(v.to_trino())          # CREATE OR REPLACE VIEW "lake"."analytics"... (Trino)
    v.to_arrow()                 # the same view, run on embedded DuckDB

See ``docs/views.md``.
"""

from __future__ import annotations

from skyfabric.views._exprs import col, lit
from skyfabric.views.catalogs import DEFAULT_TRINO_VERSION, CatalogFiles, trino_catalogs
from skyfabric.views.errors import (
    AmbiguousColumnError,
    InvalidViewError,
    UnknownColumnError,
    UnknownSourceError,
    ViewApplyError,
    ViewError,
)
from skyfabric.views.local import LocalSession, LocalView
from skyfabric.views.model import View
from skyfabric.views.render import check_trino_sql
from skyfabric.views.service import ApplyResult, ViewService
from skyfabric.views.sources import IcebergSource, ParquetSource, Source, iceberg, parquet
from skyfabric.views.trino_engine import TrinoConnection

__all__ = [
    "DEFAULT_TRINO_VERSION",
    "AmbiguousColumnError",
    "ApplyResult",
    "CatalogFiles",
    "IcebergSource",
    "InvalidViewError",
    "LocalSession",
    "LocalView",
    "ParquetSource",
    "Source",
    "TrinoConnection",
    "UnknownColumnError",
    "UnknownSourceError",
    "View",
    "ViewApplyError",
    "ViewError",
    "ViewService",
    "check_trino_sql",
    "col",
    "iceberg",
    "lit",
    "parquet",
    "trino_catalogs",
]
