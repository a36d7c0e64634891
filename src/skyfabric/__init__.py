"""skyfabric: one filesystem and one catalog over S3, GCS, Azure Blob and MinIO.

Start with `connect`::

    import skyfabric
    fab = skyfabric.connect()              # ./skyfabric.toml, $SKYFABRIC_CONFIG or the embedded default
    fab.fs.ls("fabric://local/")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from skyfabric._version import __version__

if TYPE_CHECKING:
    from skyfabric.config import FabricConfig, load_config
    from skyfabric.errors import FabricError
    from skyfabric.fabric import Fabric, connect

__all__ = ["Fabric", "FabricConfig", "FabricError", "__version__", "connect", "load_config"]

# Loaded on first use (PEP 562), so that importing a layer on its own, e.g. skyfabric.drift
# over local parquet, does not pay for pydantic and fsspec (~20 MB and ~0.1 s).
_LAZY = {
    "Fabric": "skyfabric.fabric",
    "connect": "skyfabric.fabric",
    "FabricConfig": "skyfabric.config",
    "load_config": "skyfabric.config",
    "FabricError": "skyfabric.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'skyfabric' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: later lookups skip this hook
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
