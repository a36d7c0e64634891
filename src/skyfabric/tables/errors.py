"""Errors of the table layer, rooted at `skyfabric.errors.FabricError`.

::

    FabricError
    └── TableError                      a problem with an Iceberg table or the catalog
        ├── CatalogError                catalog misconfigured or unreachable (URI, driver, server)
        ├── TableNotFoundError          (LookupError) no such table; names the near matches
        ├── NamespaceNotFoundError      (LookupError) no such namespace
        ├── TableExistsError            (ValueError) create_table on a name already taken
        ├── SchemaMismatchError         (ValueError) data does not fit the table's schema; lists
        │                               the columns that differ and how to evolve
        ├── DuplicateKeysError          (ValueError) upsert data holds a key more than once
        ├── SnapshotNotFoundError       (LookupError) time travel to a snapshot that is not there
        ├── CommitConflictError         concurrent writers kept winning; nothing was committed
        └── UnreachableLocationError    (ConnectionError) a table's files are in no configured
                                        store, so nothing is sent there

pyiceberg and SQLAlchemy errors are translated where they cross into skyfabric with
``raise ... from exc``; the original stays in ``__cause__``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from skyfabric.errors import FabricError

__all__ = [
    "CatalogError",
    "CommitConflictError",
    "DuplicateKeysError",
    "NamespaceNotFoundError",
    "SchemaMismatchError",
    "SnapshotNotFoundError",
    "TableError",
    "TableExistsError",
    "TableNotFoundError",
    "UnreachableLocationError",
    "near_matches",
]


class TableError(FabricError):
    """A problem with an Iceberg table or the catalog."""


class CatalogError(TableError):
    """The catalog cannot be built or reached: bad URI, missing driver, server down."""


class TableNotFoundError(TableError, LookupError):
    """No table has that name; the message lists the closest existing names."""

    def __str__(self) -> str:  # LookupError/KeyError would repr() the message
        return Exception.__str__(self)


class NamespaceNotFoundError(TableError, LookupError):
    """No namespace has that name."""

    def __str__(self) -> str:
        return Exception.__str__(self)


class TableExistsError(TableError, ValueError):
    """``create_table`` was asked for a name that is already taken."""


class SchemaMismatchError(TableError, ValueError):
    """Data does not fit the table's schema.

    Attributes:
        extra: columns in the data but not in the table.
        missing: required table columns absent from the data.
        changed: ``(column, table type, data type)`` for columns whose types cannot be written.
    """

    def __init__(
        self,
        message: str,
        *,
        extra: list[str] | None = None,
        missing: list[str] | None = None,
        changed: list[tuple[str, str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.extra = extra or []
        self.missing = missing or []
        self.changed = changed or []


class DuplicateKeysError(TableError, ValueError):
    """Upsert data holds the same key more than once, so which row wins is undefined."""


class SnapshotNotFoundError(TableError, LookupError):
    """A time-travel request names a snapshot or instant the table does not have."""

    def __str__(self) -> str:
        return Exception.__str__(self)


class CommitConflictError(TableError):
    """Concurrent writers kept changing the table; after all retries nothing was committed.

    Files written for the failed attempts were removed (or are unreferenced and removed by
    ``gc``), so readers never see a half-written change.
    """


def near_matches(name: str, choices: Iterable[str], n: int = 3) -> str:
    """`` Did you mean a, b?`` for the closest of ``choices`` to ``name``, else ``""``."""
    choices = list(choices)
    near = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    if not near:  # also match on the bare table name: "telemetry" -> "sensors.telemetry"
        short = name.rsplit(".", 1)[-1]
        near = [c for c in choices if c.rsplit(".", 1)[-1] == short][:n]
    return f" Did you mean {', '.join(near)}?" if near else ""


class UnreachableLocationError(TableError, ConnectionError):
    """A table's metadata or data file lies in no configured store (e.g. a bucket on an
    endpoint only another configuration names): skyfabric sends no request there rather than
    guess credentials (which would reach the cloud's instance-metadata address)."""
