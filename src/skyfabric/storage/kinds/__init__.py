"""Store kinds: one class per kind, registered by name and imported lazily.

=========  ====================================  ==========================================
kind       class                                 fsspec implementation (pip extra)
=========  ====================================  ==========================================
s3         `skyfabric.storage.kinds.s3.S3Store`        s3fs (``skyfabric[s3]``); AWS and MinIO
gcs        `skyfabric.storage.kinds.gcs.GCSStore`      gcsfs (``skyfabric[gcs]``)
azure      `skyfabric.storage.kinds.azure.AzureStore`  adlfs (``skyfabric[azure]``)
local      `skyfabric.storage.kinds.local.LocalStore`  fsspec ``LocalFileSystem``
memory     `skyfabric.storage.kinds.memory.MemoryStore` fsspec ``MemoryFileSystem``
=========  ====================================  ==========================================

The registry maps a kind to ``"module:Class"`` (the fsspec ``registry`` pattern): nothing is
imported until a store of that kind is built, and a missing optional dependency becomes one
`MissingDependencyError` naming the ``pip install 'skyfabric[<extra>]'`` to run. Adding a
kind is one new module with one `StoreKind` subclass, its entry here (or a
`register_kind` call) and its config model in `skyfabric.config`.
"""

from __future__ import annotations

import importlib
import threading

from skyfabric.errors import ConfigError, MissingDependencyError
from skyfabric.storage.kinds._base import StoreKind
from skyfabric.storage.kinds._pricing import Price

__all__ = [
    "Price",
    "StoreKind",
    "kind_class",
    "kind_for_scheme",
    "known_kinds",
    "register_kind",
    "unregister_kind",
]

# kind -> ("module:Class", pip extra that installs what the module needs)
_REGISTRY: dict[str, tuple[str, str | None]] = {
    "s3": ("skyfabric.storage.kinds.s3:S3Store", "s3"),
    "gcs": ("skyfabric.storage.kinds.gcs:GCSStore", "gcs"),
    "azure": ("skyfabric.storage.kinds.azure:AzureStore", "azure"),
    "local": ("skyfabric.storage.kinds.local:LocalStore", None),
    "memory": ("skyfabric.storage.kinds.memory:MemoryStore", None),
}
_loaded: dict[str, type[StoreKind]] = {}
_lock = threading.Lock()


def register_kind(
    kind: str, target: str | type[StoreKind], extra: str | None = None, *, clobber: bool = False
) -> None:
    """Register the class of store kind ``kind``: a `StoreKind` subclass or its
    ``"module:Class"`` path (imported on first use).

    Raises:
        ConfigError: ``kind`` is registered already and ``clobber`` is false, or ``target``
            is a class that is not a `StoreKind` subclass.
    """
    with _lock:
        if kind in _REGISTRY and not clobber:
            raise ConfigError(
                f"store kind {kind!r} is registered already ({_REGISTRY[kind][0]}); "
                "fix: pick another kind name, or pass clobber=True to replace it"
            )
        if isinstance(target, str):
            _REGISTRY[kind] = (target, extra)
            _loaded.pop(kind, None)
            return
        if not (isinstance(target, type) and issubclass(target, StoreKind)):
            raise ConfigError(f"store kind {kind!r}: {target!r} is not a StoreKind subclass")
        _REGISTRY[kind] = (f"{target.__module__}:{target.__qualname__}", extra)
        _loaded[kind] = target


def unregister_kind(kind: str) -> None:
    """Forget store kind ``kind`` (for tests that register a throwaway kind)."""
    with _lock:
        _REGISTRY.pop(kind, None)
        _loaded.pop(kind, None)


def known_kinds() -> list[str]:
    """The registered store kinds, sorted."""
    return sorted(_REGISTRY)


def kind_class(kind: str) -> type[StoreKind]:
    """The `StoreKind` subclass of ``kind``, imported on first use.

    Raises:
        ConfigError: ``kind`` is not a registered store kind.
        MissingDependencyError: the kind's module needs an optional package that is not
            installed; the message names ``pip install 'skyfabric[<extra>]'``.
    """
    found = _loaded.get(kind)
    if found is not None:
        return found
    try:
        target, extra = _REGISTRY[kind]
    except KeyError:
        raise ConfigError(
            f"unknown store kind {kind!r}; fix: use one of {', '.join(known_kinds())}"
        ) from None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if isinstance(exc, MissingDependencyError) or extra is None:
            raise
        raise MissingDependencyError(
            f"store kind {kind!r} needs {exc.name or 'a package'!r}, which is not installed; "
            f"fix: pip install 'skyfabric[{extra}]'"
        ) from exc
    cls = getattr(module, class_name)
    with _lock:
        _loaded[kind] = cls
    return cls


def kind_for_scheme(scheme: str) -> type[StoreKind] | None:
    """The kind whose native URLs use ``scheme`` (``s3a`` -> s3, ``wasbs`` -> azure), or None.

    Imports every registered kind's module (they are light: clients load on first use)."""
    scheme = scheme.lower()
    for kind in known_kinds():
        try:
            cls = kind_class(kind)
        except MissingDependencyError:  # a kind that cannot load holds no location we read
            continue
        if scheme == cls.scheme or scheme in cls.schemes:
            return cls
    return None
