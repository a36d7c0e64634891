"""pyiceberg FileIO for every configured store, rendered from the one store config.

An Iceberg table records native URLs (``s3://bucket/wh/t/data/x.parquet``, ``gs://...``,
``abfs://container/...``, ``file:///...``). `FabricFileIO` is the catalog's
``py-io-impl``: for each location it finds the configured store that holds it (scheme and
bucket/container plus prefix; a table property ``skyfabric.store`` breaks ties between two
stores with the same bucket name on different endpoints) and hands the call to a per-store
delegate the store's kind class builds (``store.fileio(...)`` from
``store.fileio_properties()``, in `skyfabric.storage.kinds`) — pyiceberg's own FileIO
classes with the property names pyiceberg documents:

=========  ==================  ===============================================================
kind       delegate            properties
=========  ==================  ===============================================================
local      PyArrowFileIO       (none)
s3         PyArrowFileIO       s3.endpoint, s3.region, s3.access-key-id, s3.secret-access-key,
                               s3.session-token, s3.anonymous, s3.force-virtual-addressing
s3+profile FsspecFileIO        s3.profile-name (pyarrow's S3 client cannot select a profile)
gcs        FsspecFileIO        gcs.project-id, gcs.oauth2.token, gcs.service.host
azure      PyArrowFileIO       adls.account-name, adls.account-key, adls.sas-token,
                               adls.blob-storage-authority/-scheme, adls.dfs-storage-*
memory     FsspecFileIO        (the store's own fsspec client)
=========  ==================  ===============================================================

Why these: pyiceberg's ``PyArrowFileIO`` cannot make an anonymous GCS client (it hangs
looking for credentials against an emulator), so GCS uses gcsfs; its ``FsspecFileIO``
derives an Azure account name from the URL host, which for ``abfs://container/path`` is the
container, so Azure uses pyarrow's ``AzureFileSystem``, which is also faster.

Secrets are read from the environment variables the store config names when a delegate is
built, live only in this process's memory and are never written to catalog tables or table
metadata. A local path that no store holds is read with pyarrow's local filesystem; a cloud
location no store holds raises `UnreachableLocationError` at once: guessing a client for it
would use the provider's default chain, which on a machine outside that cloud waits on the
instance-metadata address (169.254.169.254) and then on an endpoint that may not answer.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from pyiceberg.io import PY_IO_IMPL, FileIO, InputFile, OutputFile, load_file_io
from pyiceberg.typedef import EMPTY_DICT, Properties

from skyfabric.config import FabricConfig
from skyfabric.storage.kinds import kind_class, kind_for_scheme
from skyfabric.storage.kinds.local import LocalStore
from skyfabric.storage.stores import Store

__all__ = [
    "CONFIG_PROPERTY",
    "STORE_PROPERTY",
    "FabricFileIO",
    "Location",
    "candidate_stores",
    "fileio_properties",
    "parse_location",
    "register_config",
    "store_for_location",
]

FILEIO_IMPL = "skyfabric.tables._fileio.FabricFileIO"
CONFIG_PROPERTY = "skyfabric.config-token"
STORE_PROPERTY = "skyfabric.store"

_registry: dict[str, FabricConfig] = {}
_registry_lock = threading.Lock()


def register_config(config: FabricConfig) -> str:
    """Remember ``config`` for the FileIOs of this process; return its token.

    The token is a hash of the configuration (which holds env-var *names*, never secrets),
    so the same configuration gets the same token in every process.
    """
    token = hashlib.sha256(config.model_dump_json(exclude={"source"}).encode()).hexdigest()[:24]
    with _registry_lock:
        _registry[token] = config
    return token


@dataclass(frozen=True)
class Location:
    """A native URL split into store kind and protocol-less path (``bucket/key``, ``/abs``)."""

    kind: str
    path: str

    @property
    def bucket(self) -> str:
        return self.path.lstrip("/").split("/", 1)[0]


def parse_location(location: str) -> Location | None:
    """Split a native URL (or local path) into a `Location`; None for unknown schemes."""
    if "://" not in location:
        # Hadoop (Spark) writes local files as ``file:/abs/path``
        if location.startswith("file:/"):
            location = location[len("file:"):]
        # a bare absolute path is a path on this machine's disk: the local kind's
        return Location(LocalStore.kind, os.path.abspath(location)) if location.startswith("/") else None
    uri = urlparse(location)
    kind = kind_for_scheme(uri.scheme)
    if kind is None:
        return None
    return Location(kind.kind, kind.location_path(uri.netloc, uri.path))


def _under(path: str, root: str) -> bool:
    path, root = path.strip("/"), root.strip("/")
    return path == root or path.startswith(root + "/") or root == ""


def candidate_stores(stores: dict[str, Store], location: str) -> list[Store]:
    """The stores that could hold ``location``, best first-equal: same kind and the longest
    root containing it (bucket/container + prefix, or directory), else the same bucket."""
    loc = parse_location(location)
    if loc is None:
        return []
    same_kind = [s for s in stores.values() if s.kind == loc.kind]
    for candidates in (
        [s for s in same_kind if _under(loc.path, s.root)],
        [s for s in same_kind if not s.hierarchical  # buckets: object stores only
         and s.root.strip("/").split("/", 1)[0] == loc.bucket],
    ):
        if candidates:
            longest = max(len(s.root.strip("/")) for s in candidates)
            return [s for s in candidates if len(s.root.strip("/")) == longest]
    return []


def store_for_location(
    stores: dict[str, Store], location: str, preferred: str | None = None
) -> Store | None:
    """The configured store holding ``location``, or None.

    Among several candidates (`candidate_stores`) the one named ``preferred`` (the
    table property ``skyfabric.store``) wins.

    Raises:
        TableError: two stores hold the location equally well (the same bucket name on two
            endpoints) and ``preferred`` names neither.
    """
    best = candidate_stores(stores, location)
    # Only a tie-breaker: a table's home store must not claim files placement moved to
    # another store in the same bucket or under the same parent directory.
    if preferred is not None and any(s.name == preferred for s in best):
        return stores[preferred]
    if len(best) > 1:
        from skyfabric.tables.errors import TableError

        names = ", ".join(sorted(s.name for s in best))
        raise TableError(
            f"{location} could be in any of the stores {names} (same bucket or path); "
            f"fix: set the table property {STORE_PROPERTY} to the store that holds it"
        )
    return best[0] if best else None


def fileio_properties(store: Store) -> dict[str, str]:
    """pyiceberg FileIO properties that reach ``store`` (contain secrets: never persist them).

    Raises:
        ConfigError: an environment variable the store config names is not set.
    """
    return store.fileio_properties()


def _delegate(store: Store, base: Properties) -> FileIO:
    """Build the pyiceberg FileIO for one store (see the module docstring's table)."""
    return store.fileio({**base, **store.fileio_properties()})


def _refuse_unheld(location: str, stores: dict[str, Store]) -> None:
    """Raise `UnreachableLocationError` for a location no store holds, unless it is local."""
    loc = parse_location(location)
    if loc is not None and kind_class(loc.kind).local_disk:
        return
    from skyfabric.tables.errors import UnreachableLocationError

    names = ", ".join(sorted(stores)) or "none"
    raise UnreachableLocationError(
        f"{location} is in no store of this configuration (stores: {names}), so skyfabric "
        "sends no request there; fix: add the store that holds it to this configuration, or "
        "use the configuration the table belongs to"
    )


class FabricFileIO(FileIO):
    """The catalog's FileIO: routes each location to the FileIO of the store holding it.

    Built by pyiceberg from catalog (+ table) properties; ``skyfabric.config-token`` names the
    configuration registered with `register_config`. Pickles as that configuration, so
    Dask/Ray workers rebuild their clients, credentials included, from their own environment.
    """

    def __init__(self, properties: Properties = EMPTY_DICT) -> None:
        super().__init__(properties=properties)
        token = properties.get(CONFIG_PROPERTY)
        with _registry_lock:
            config = _registry.get(token) if token else None
        self._setup(config)

    def _setup(self, config: FabricConfig | None) -> None:
        self._config = config
        self._stores = {n: Store(n, c) for n, c in config.stores.items()} if config else {}
        self._delegates: dict[str, FileIO] = {}
        self._lock = threading.Lock()
        self._base = {k: v for k, v in self.properties.items()
                      if k != PY_IO_IMPL and not k.startswith("skyfabric.")}

    def store_for(self, location: str) -> Store | None:
        """The configured store holding ``location`` (None: not in any store)."""
        return store_for_location(self._stores, location, self.properties.get(STORE_PROPERTY))

    def _io_for(self, location: str) -> FileIO:
        return self._delegate_for(self.store_for(location), location)

    def _delegate_for(self, store: Store | None, location: str) -> FileIO:
        if store is None:
            _refuse_unheld(location, self._stores)
        name = store.name if store is not None else ""
        io = self._delegates.get(name)
        if io is None:
            with self._lock:
                io = self._delegates.get(name)
                if io is None:
                    io = _delegate(store, self._base) if store else load_file_io(self._base, location)
                    self._delegates[name] = io
        return io

    def new_input(self, location: str) -> InputFile:
        """An `InputFile` for ``location`` through its store's FileIO.

        When two stores could hold it (same bucket name on two endpoints) and no table
        property says which — the catalog reading a metadata file before it knows the
        table — the one where the file exists is used.
        """
        from skyfabric.tables.errors import TableError

        try:
            return self._io_for(location).new_input(location)
        except TableError:
            candidates = candidate_stores(self._stores, location)
            for store in candidates:
                found = self._delegate_for(store, location).new_input(location)
                if found.exists():
                    return found
            raise

    def new_output(self, location: str) -> OutputFile:
        """An `OutputFile` for ``location`` through its store's FileIO."""
        return self._io_for(location).new_output(location)

    def delete(self, location: str | InputFile | OutputFile) -> None:
        """Delete the file at ``location``. Raises FileNotFoundError when it does not exist."""
        path = location.location if isinstance(location, InputFile | OutputFile) else location
        self._io_for(path).delete(path)

    def __getstate__(self) -> dict[str, Any]:
        return {"properties": dict(self.properties), "config": self._config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.properties = state["properties"]
        config = state["config"]
        if config is not None:
            register_config(config)
        self._setup(config)
