"""pyiceberg's PyArrowFileIO for Azure stores (imported only when pyiceberg is in use)."""

from __future__ import annotations

from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.typedef import EMPTY_DICT, Properties

from skyfabric.storage.kinds.azure import AzureStore

__all__ = ["AzurePyArrowFileIO"]


class AzurePyArrowFileIO(PyArrowFileIO):
    """PyArrowFileIO that also reads ``abfs://container@account.dfs.core.windows.net/p``.

    pyiceberg 0.12 keeps ``container@account...`` as the first path segment, which pyarrow's
    AzureFileSystem rejects (InvalidResourceName); Spark and Trino write that form.
    """

    @staticmethod
    def parse_location(location: str, properties: Properties = EMPTY_DICT) -> tuple[str, str, str]:
        scheme, netloc, path = PyArrowFileIO.parse_location(location, properties)
        if scheme in AzureStore.schemes and "@" in netloc:
            container = netloc.split("@", 1)[0]
            return scheme, container, container + path[len(netloc):]
        return scheme, netloc, path
