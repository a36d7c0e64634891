"""Store kind ``memory``: fsspec's in-process memory filesystem (tests and notebooks).

No storage classes, no prices, no Trino catalog; pyiceberg reads it through the store's
own fsspec client (the memory filesystem is per process).
"""

from __future__ import annotations

from typing import Any

from skyfabric.config import MemoryStoreConfig
from skyfabric.storage.kinds._base import StoreKind
from skyfabric.storage.kinds._bucket_creation import BucketCreation
from skyfabric.storage.paths import join

__all__ = ["MemoryStore"]


class MemoryStore(StoreKind):
    """A folder of fsspec's memory filesystem."""

    kind = "memory"
    scheme = "memory"
    schemes = ("memory",)
    fsspec_impl = ("fsspec.implementations.memory", "MemoryFileSystem")
    hierarchical = True
    bucket_word = "folder"
    config: MemoryStoreConfig

    @property
    def root(self) -> str:
        return join("/" + self.config.root.strip("/"), self.config.prefix)

    def fs_path(self, path: str) -> str:
        return "/" + path.lstrip("/")

    @classmethod
    def location_path(cls, netloc: str, path: str) -> str:
        """``memory://root/key`` and ``memory:///root/key`` -> ``/root/key``."""
        return "/" + f"{netloc}{path}".lstrip("/")

    def client_arguments(self, options: dict[str, Any]) -> dict[str, Any]:
        return {}  # one shared in-process filesystem: no instance or listing cache to skip

    def fileio(self, properties: dict[str, str]) -> Any:
        """pyiceberg's FsspecFileIO on this store's own client (memory is per process)."""
        from pyiceberg.io.fsspec import FsspecFileIO

        io = FsspecFileIO(properties)
        io._scheme_to_fs["memory"] = lambda _props: self.fs
        return io

    def location_label(self) -> str:
        return f"memory://{self.config.root}"

    def spark_settings(self, conf: dict[str, str], notes: list[str]) -> None:
        notes.append(f"{self.name}: skipped, a memory store lives in one Python process")

    # -- the bucket itself (skyfabric stores --create) ------------------------------------

    def create_bucket(self) -> BucketCreation:
        fs = self.fs
        existed = fs.isdir(self.root)
        if not existed:
            fs.makedirs(self.root, exist_ok=True)
        return BucketCreation(self.name, self.kind, f"memory://{self.root}", created=not existed)
