"""Store kind ``local``: a directory on this machine's disk (or a mounted filesystem).

Transport: fsspec's ``LocalFileSystem``; engines get plain absolute paths and pyarrow's own
``LocalFileSystem``. No storage classes, no prices (0 until overridden), no Trino catalog
(a cluster cannot reach this machine's disk).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from skyfabric.config import LocalStoreConfig
from skyfabric.errors import ConfigError
from skyfabric.storage.kinds._base import StoreKind
from skyfabric.storage.kinds._bucket_creation import BucketCreation
from skyfabric.storage.paths import join

__all__ = ["LocalStore"]


class LocalStore(StoreKind):
    """A directory (plus prefix) on local disk."""

    kind = "local"
    scheme = "file"
    schemes = ("file",)
    fsspec_impl = ("fsspec.implementations.local", "LocalFileSystem")
    hierarchical = True
    local_disk = True
    bucket_word = "directory"
    config: LocalStoreConfig

    @property
    def root(self) -> str:
        cfg = self.config
        return join(cfg.path.as_posix(), cfg.prefix) if cfg.prefix else cfg.path.as_posix()

    def key_of(self, native: str) -> str:
        """Inverse of `native_path`; a ``file://`` URL is taken as its path."""
        if native.rstrip("/").startswith("file://"):
            native = native.rstrip("/")[len("file://") :]
        return super().key_of(native)

    def fs_path(self, path: str) -> str:
        return "/" + path.lstrip("/")

    @classmethod
    def location_path(cls, netloc: str, path: str) -> str:
        """``file:///abs/path`` -> ``/abs/path``."""
        return path

    def storage_options(self) -> dict[str, Any]:
        return {"auto_mkdir": True}

    def client_arguments(self, options: dict[str, Any]) -> dict[str, Any]:
        return {}  # fsspec's local filesystem has no listing cache to turn off

    def rename_exact(self, src: str, dst: str) -> None:
        os.replace(src, dst)  # atomic on one filesystem

    def engine_url(self, key: str) -> str:
        """A plain absolute path: every engine reads those."""
        return self.native_path(key)

    def engine_storage_options(self) -> dict[str, Any]:
        return {}  # auto_mkdir is our local client's own setting, not something engines accept

    def pyarrow_filesystem(self, path: str) -> tuple[Any, str]:
        import pyarrow.fs as pafs

        return pafs.LocalFileSystem(), path

    def location_label(self) -> str:
        return str(self.config.path)

    def access_time(self, native: str, info: dict[str, Any]) -> float | None:
        """The file's ``st_atime``."""
        try:
            return os.stat(self.native_path(self.key_of(native))).st_atime
        except OSError:
            return None

    def spark_settings(self, conf: dict[str, str], notes: list[str]) -> None:
        notes.append(f"{self.name}: a local directory: Spark reads it as file:// only where every "
                     "executor mounts the same path (local mode does)")

    # -- the bucket itself (skyfabric stores --create) ------------------------------------

    def create_bucket(self) -> BucketCreation:
        path = Path(self.root)
        existed = path.is_dir()
        if path.exists() and not existed:
            raise ConfigError(
                f"store {self.name!r}: {path} exists and is not a directory; fix: point `path` "
                f"in [stores.{self.name}] at a directory"
            )
        path.mkdir(parents=True, exist_ok=True)
        return BucketCreation(self.name, self.kind, str(path), created=not existed)
