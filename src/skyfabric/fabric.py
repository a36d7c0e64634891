"""``Fabric``: the one object a user holds; every capability hangs off it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from skyfabric.config import FabricConfig, load_config
from skyfabric.storage import transfer
from skyfabric.storage.buckets import BucketCreation, create_bucket
from skyfabric.storage.datasets import open_dataset
from skyfabric.storage.filesystem import FabricFileSystem
from skyfabric.storage.paths import parse
from skyfabric.storage.resolve import Resolved, resolve_store_path
from skyfabric.storage.stores import Store
from skyfabric.tables._fabric_api import TablesMixin

if TYPE_CHECKING:
    from skyfabric.placement.service import Placement
    from skyfabric.views.service import ViewService

__all__ = ["Fabric", "connect"]


class Fabric(TablesMixin):
    """Stores, the ``fabric://`` filesystem, verified transfer and Iceberg tables (``catalog``,
    ``table``, ``create_table``, ``datasets``, ``register_parquet``: see
    `skyfabric.tables.TablesMixin`), from one configuration.

    A ``Fabric`` pickles as its configuration, never as live clients, so it can be sent to
    Dask workers and process pools; each process builds its own clients on first use.
    """

    def __init__(self, config: FabricConfig) -> None:
        self.config = config
        self.fs = FabricFileSystem(config=config)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (Fabric, (self.config,))

    def __repr__(self) -> str:
        return f"Fabric(stores={sorted(self.config.stores)}, config={self.config.source!r})"

    @property
    def stores(self) -> dict[str, Store]:
        """Configured stores by name."""
        return self.fs.stores

    def store(self, name: str) -> Store:
        """The store called ``name``. Raises `UnknownStoreError`."""
        return self.fs.store(name)

    def create_bucket(self, store: str) -> BucketCreation:
        """Create the bucket / container / directory that store ``store`` names, unless it
        exists; see `skyfabric.storage.buckets.create_bucket`.

        Raises:
            UnknownStoreError: no store has that name.
            ConfigError, StoreError, StoreUnreachableError: as ``create_bucket``.
        """
        return create_bucket(self.fs.store(store))

    def resolve(self, url: str) -> Resolved:
        """Native URL and per-engine options for ``url`` (for polars, pyarrow.fs, pyiceberg).

        Raises:
            UnknownStoreError, InvalidPathError: as `skyfabric.storage.paths.parse`.
        """
        fp = parse(url)
        return resolve_store_path(self.fs.store(fp.store), fp.key, trailing_slash=url.endswith("/"))

    def open(self, url: str, mode: str = "rb", **kwargs: Any) -> Any:
        """Open an object like ``fsspec.open(url).open()``."""
        return self.fs.open(url, mode, **kwargs)

    def ls(self, url: str, detail: bool = False) -> list[Any]:
        """List a store or prefix (``fabric://`` alone lists the stores)."""
        return self.fs.ls(url, detail=detail)

    @property
    def views(self) -> ViewService:
        """Federated views over these stores: build, render for Trino, run locally on DuckDB,
        apply to a cluster; see `skyfabric.views.ViewService`."""
        from skyfabric.views.service import ViewService

        return ViewService(self)

    @property
    def placement(self) -> Placement:
        """Hot/cold placement over these stores from ``[placement]``: plan, apply, status,
        audit log; see `skyfabric.placement.Placement`.

        Raises:
            RuleError: a placement rule is invalid.
        """
        from skyfabric.placement.service import Placement

        return Placement(self)

    def dataset(self, url: str, **kwargs: Any) -> Any:
        """A ``pyarrow.dataset.Dataset`` over the parquet/CSV at ``url`` (file, prefix or glob)."""
        return open_dataset(self.fs, url, **kwargs)

    def copy(
        self,
        src: str,
        dst: str,
        *,
        recursive: bool = False,
        workers: int = 8,
        progress: transfer.Progress | None = None,
    ) -> transfer.TransferResult:
        """Verified copy between any two stores; see `skyfabric.storage.transfer.copy`."""
        return transfer.copy(
            self.fs, src, dst, recursive=recursive, workers=workers, progress=progress
        )

    def sync(
        self,
        src: str,
        dst: str,
        *,
        dry_run: bool = False,
        delete: bool = False,
        checksum: bool = False,
        workers: int = 8,
        progress: transfer.Progress | None = None,
    ) -> transfer.TransferResult:
        """Verified one-way sync of a prefix; see `skyfabric.storage.transfer.sync`."""
        return transfer.sync(
            self.fs,
            src,
            dst,
            dry_run=dry_run,
            delete=delete,
            checksum=checksum,
            workers=workers,
            progress=progress,
        )


def connect(config: FabricConfig | str | os.PathLike[str] | dict[str, Any] | None = None) -> Fabric:
    """Build a `Fabric` from ``config`` (see `skyfabric.config.load_config`).

    Raises:
        ConfigError: the configuration is missing or invalid.
    """
    return Fabric(load_config(config))
