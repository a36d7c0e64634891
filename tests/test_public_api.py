"""The public surface is what we mean it to be (httpx-style locked exports)."""

from __future__ import annotations

import subprocess
import sys

import skyfabric
import skyfabric.errors


def test_top_level_exports() -> None:
    assert sorted(skyfabric.__all__) == sorted(
        ["Fabric", "FabricConfig", "FabricError", "__version__", "connect", "load_config"]
    )
    for name in skyfabric.__all__:
        assert hasattr(skyfabric, name)


def test_every_error_is_a_fabric_error() -> None:
    for name in skyfabric.errors.__all__:
        obj = getattr(skyfabric.errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, skyfabric.errors.FabricError)


def test_missing_object_is_file_not_found() -> None:
    assert issubclass(skyfabric.errors.ObjectNotFoundError, FileNotFoundError)


def test_fabric_protocol_registered_by_entry_point() -> None:
    code = "import fsspec; print(fsspec.get_filesystem_class('fabric').__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "skyfabric.storage.filesystem"


def test_import_is_light() -> None:
    code = (
        "import sys, skyfabric; heavy = [m for m in ('matplotlib', 'dask', 'numba', 's3fs', 'gcsfs',"
        " 'adlfs', 'pandas') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
