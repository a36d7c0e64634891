"""`Store`: one configured store. ``Store(name, config)`` builds the class of the store's
kind (`skyfabric.storage.kinds`: ``S3Store``, ``GCSStore``, ``AzureStore``, ``LocalStore``,
``MemoryStore``), which owns everything about that kind; every store is a `Store`.
"""

from __future__ import annotations

from skyfabric.storage.kinds import kind_class
from skyfabric.storage.kinds._base import StoreKind
from skyfabric.storage.kinds._support import CONNECT_TIMEOUT, READ_TIMEOUT

__all__ = ["CONNECT_TIMEOUT", "READ_TIMEOUT", "Store", "native_protocol"]

Store = StoreKind
"""The base class of every store kind; ``Store(name, config)`` returns the kind's class."""


def native_protocol(kind: str) -> str:
    """The URL scheme engines use for a store kind (``s3``, ``gs``, ``abfs``, ``file``, ``memory``).

    Raises:
        ConfigError: ``kind`` is not a registered store kind.
    """
    return kind_class(kind).scheme
