"""skyfabric: one filesystem and one catalog over S3, GCS, Azure Blob and MinIO.

Start with `connect`::

    import skyfabric
    fab = skyfabric.connect()              # ./skyfabric.toml, $SKYFABRIC_CONFIG or the embedded default
    fab.fs.ls("fabric://local/")
"""

from __future__ import annotations

from skyfabric._version import __version__
from skyfabric.config import FabricConfig, load_config
from skyfabric.errors import FabricError
from skyfabric.fabric import Fabric, connect

__all__ = ["Fabric", "FabricConfig", "FabricError", "__version__", "connect", "load_config"]
