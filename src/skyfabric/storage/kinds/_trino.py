"""Helpers the kinds share to render Trino catalog properties.

Property names follow the Trino docs ("S3/GCS/Azure file system support"); they depend on the
release: ``fs.native-<x>.enabled`` was renamed ``fs.<x>.enabled`` in 481
(trinodb/trino#29070), and ``azure.endpoint`` exists from 455 (trinodb/trino#23071).
"""

from __future__ import annotations

__all__ = ["AZURE_ENDPOINT_SINCE", "RENAMED_FS_SWITCHES", "env_ref", "fs_switch"]

RENAMED_FS_SWITCHES = 481  # fs.native-<x>.enabled -> fs.<x>.enabled
AZURE_ENDPOINT_SINCE = 455


def env_ref(var: str) -> str:
    """``${ENV:VAR}``: Trino substitutes environment variables in catalog files."""
    return "${ENV:" + var + "}"


def fs_switch(fs_kind: str, version: int) -> str:
    """The line that turns on Trino's native ``fs_kind`` (s3, gcs, azure) file system."""
    if version >= RENAMED_FS_SWITCHES:
        return f"fs.{fs_kind}.enabled=true"
    return f"fs.native-{fs_kind}.enabled=true"
