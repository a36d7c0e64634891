"""`StoreKind`: the base class of every store kind, and what all kinds share.

A store kind (``s3``, ``gcs``, ``azure``, ``local``, ``memory``) is one subclass that owns
everything about the kind: its root and native URLs, its fsspec client, its options for
each engine (fsspec, pyarrow, polars, pyiceberg FileIO, Trino), its storage classes and list
prices. Callers ask the store (``store.fileio_properties()``, ``store.read_class(...)``)
instead of branching on ``store.kind``; the base class gives the answer of a kind that has
no such thing (no storage classes, no Trino catalog, no credentials).

``StoreKind(name, config)`` called on the base class builds the subclass registered for
``config.kind`` (see `skyfabric.storage.kinds`), so ``Store(name, config)`` keeps working.
A store pickles as ``(name, config)``; its clients are rebuilt lazily in each process
(s3fs/gcsfs event loops are not fork-safe), with fsspec's listing cache off: a cached
listing hands back stale sizes after an overwrite (s3fs #424, #492), and we cannot
invalidate writes that do not go through us.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from skyfabric.storage.kinds._pricing import Price
from skyfabric.storage.kinds._support import import_optional, metadata_tags
from skyfabric.storage.paths import join

if TYPE_CHECKING:
    from collections.abc import Iterable

    from fsspec import AbstractFileSystem

    from skyfabric.storage.kinds._bucket_creation import BucketCreation

__all__ = ["StoreKind"]


class StoreKind:
    """One configured store: its name, config, native root and (lazily) its clients.

    ``root`` is the protocol-less native path of the store's top, e.g. ``bucket/prefix`` for
    object stores, ``/data/scratch`` for local disk.

    Class attributes a kind sets:
        kind: the config's ``kind`` value.
        scheme: the URL scheme engines use (``s3``, ``gs``, ``abfs``, ``file``, ``memory``).
        schemes: every scheme a native URL of this kind may carry (``s3a``, ``wasbs``, ...).
        fsspec_impl: ``(module, class)`` of the fsspec implementation.
        extra: the pip extra that installs it (``None``: fsspec itself).
        hierarchical: a filesystem with real directories and absolute ``/`` paths (local
            disk, fsspec memory), as opposed to an object store of ``bucket/key`` names.
        local_disk: native paths are paths on this machine's disk.
        bucket_word: what the top of a store is called (``bucket``, ``container``).
        storage_classes: classes / access tiers an object can be moved to in place.
        class_setting: the config field naming the class of new objects (``storage_class``).
        provider_default_class: the class new objects get when the config names none.
        list_prices: the provider's list `Price` per class (source in the kind's module).
        listing_has_class: an fsspec listing carries each object's class.
        trino_reachable: a Trino cluster reads this kind through its native file systems.
        default_credentials: what is used when the config names no credentials.
    """

    kind: ClassVar[str]
    scheme: ClassVar[str]
    schemes: ClassVar[tuple[str, ...]] = ()
    fsspec_impl: ClassVar[tuple[str, str]]
    extra: ClassVar[str | None] = None
    hierarchical: ClassVar[bool] = False
    local_disk: ClassVar[bool] = False
    bucket_word: ClassVar[str] = "bucket"
    storage_classes: ClassVar[tuple[str, ...]] = ()
    class_setting: ClassVar[str | None] = None
    provider_default_class: ClassVar[str | None] = None
    list_prices: ClassVar[dict[str, Price]] = {}
    listing_has_class: ClassVar[bool] = True
    trino_reachable: ClassVar[bool] = False
    default_credentials: ClassVar[str] = "none needed"

    name: str
    config: Any

    def __new__(cls, name: str, config: Any) -> StoreKind:
        if cls is StoreKind:  # Store(name, config): build the kind's own class
            from skyfabric.storage.kinds import kind_class

            cls = kind_class(config.kind)
        return super().__new__(cls)

    def __init__(self, name: str, config: Any) -> None:
        self.name = name
        self.config = config
        self._fs: AbstractFileSystem | None = None
        self._pid = 0
        # obstore client and the data-path filesystem over it, built per process
        self._obstore: tuple[Any, AbstractFileSystem] | None = None
        self._obstore_pid = 0
        self._lock = threading.Lock()

    # -- identity, pickling, repr ------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StoreKind):
            return NotImplemented
        return (self.name, self.config) == (other.name, other.config)

    __hash__ = None  # type: ignore[assignment]  # mutable clients; equal by (name, config)

    def __reduce__(self) -> tuple[Any, tuple[str, Any]]:
        # Pickle configuration only: clients are rebuilt in the receiving process.
        return (type(self), (self.name, self.config))

    def __repr__(self) -> str:
        # The config holds env-var *names*, never secrets; clients are left out.
        return f"{type(self).__name__}(name={self.name!r}, config={self.config!r})"

    # -- where things are --------------------------------------------------------------------

    @property
    def root(self) -> str:
        """Protocol-less native path of the store's top (bucket + prefix, or a directory)."""
        raise NotImplementedError

    def native_path(self, key: str) -> str:
        """Protocol-less native path of ``key`` inside this store."""
        return join(self.root, key) if key else self.root

    def native_url(self, key: str = "") -> str:
        """Full native URL, e.g. ``s3://bucket/prefix/key``, ``file:///data/key``."""
        return f"{self.scheme}://{self.native_path(key)}"

    def key_of(self, native: str) -> str:
        """Inverse of `native_path`: the store-relative key of a native path."""
        root = self.root.rstrip("/")
        native = native.rstrip("/")
        if native == root:
            return ""
        if native.startswith(root + "/"):
            return native[len(root) + 1 :]
        # s3fs/gcsfs may hand back paths without a leading slash; memory adds one
        stripped_root = root.lstrip("/")
        stripped = native.lstrip("/")
        if stripped.startswith(stripped_root + "/"):
            return stripped[len(stripped_root) + 1 :]
        return native

    def fs_path(self, path: str) -> str:
        """A protocol-less native path (with or without a leading ``/``) as this store's
        fsspec client takes it: ``bucket/key`` for object stores."""
        return path

    @classmethod
    def location_path(cls, netloc: str, path: str) -> str:
        """The protocol-less path of a native URL ``<scheme>://<netloc><path>`` of this kind."""
        return f"{netloc}{path}"

    # -- fsspec ------------------------------------------------------------------------------

    def storage_options(self) -> dict[str, Any]:
        """fsspec keyword arguments for this store's implementation (contains secrets)."""
        return {}

    @property
    def fs(self) -> AbstractFileSystem:
        """This process's fsspec client for the store, built on first use."""
        pid = os.getpid()
        if self._fs is None or self._pid != pid:
            with self._lock:
                if self._fs is None or self._pid != pid:
                    self._fs = self._build()
                    self._pid = pid
        return self._fs

    def fsspec_class(self) -> type[AbstractFileSystem]:
        """The fsspec implementation class (imported now).

        Raises:
            MissingDependencyError: its package is not installed (names the pip extra).
        """
        module_name, class_name = self.fsspec_impl
        return getattr(import_optional(module_name, self.kind, self.extra), class_name)

    def _build(self) -> AbstractFileSystem:
        cls = self.fsspec_class()
        opts = self.storage_options()
        return cls(**opts, **self.client_arguments(opts))

    def client_arguments(self, options: dict[str, Any]) -> dict[str, Any]:
        """Constructor arguments besides `storage_options`: no fsspec instance or listing
        cache for remote stores (see the module docstring); kinds add their timeouts."""
        return {"skip_instance_cache": True, "use_listings_cache": False}

    def rename_exact(self, src: str, dst: str) -> None:
        """Move native path ``src`` to ``dst`` as exact names (fsspec's ``mv`` expands
        ``*?[`` as globs and moves *into* an existing prefix): a copy (server-side on object
        stores: the final name appears whole or not at all), then remove."""
        self.io.cp_file(src, dst)
        self.io.rm_file(src)

    # -- obstore (the fast transport) --------------------------------------------------------

    @property
    def uses_obstore(self) -> bool:
        """True when obstore moves this store's bytes: a kind with an obstore client unless
        its config pins ``transport = "fsspec"``, and not in a process forked after obstore
        was used (`skyfabric.storage._obstore_clients.obstore_usable`)."""
        if not self.has_obstore or getattr(self.config, "transport", "fsspec") != "obstore":
            return False
        from skyfabric.storage._obstore_clients import obstore_usable

        return obstore_usable()

    def _obstore_pair(self) -> tuple[Any, AbstractFileSystem]:
        pid = os.getpid()
        if self._obstore is None or self._obstore_pid != pid:
            with self._lock:
                if self._obstore is None or self._obstore_pid != pid:
                    from skyfabric.storage._obstore_clients import note_runtime
                    from skyfabric.storage._obstore_fs import ObstoreFileSystem

                    note_runtime()
                    self._obstore = (self._build_obstore(), ObstoreFileSystem(self))
                    self._obstore_pid = pid
        return self._obstore

    @property
    def obstore(self) -> Any:
        """This process's obstore client (``S3Store``/``GCSStore``/``AzureStore``), built on
        first use, bound to the bucket/container (keys include the store's ``prefix``);
        ``None`` for kinds without one (local, memory: fsspec is their transport)."""
        return self._obstore_pair()[0] if self.has_obstore else None

    @property
    def io(self) -> AbstractFileSystem:
        """The filesystem ``fabric://`` moves this store's bytes with: obstore-backed where
        `uses_obstore`, else the fsspec client `fs`. Same native paths as `fs`."""
        return self._obstore_pair()[1] if self.uses_obstore else self.fs

    #: whether a multipart upload's ETag is the MD5 of its parts' MD5s plus ``-<parts>`` (S3)
    multipart_etag_is_md5_of_parts: ClassVar[bool] = False
    #: whether the store's Content-MD5 is read through the fsspec client (not obstore's listing)
    content_md5_via_fsspec: ClassVar[bool] = False

    @property
    def single_put_limit(self) -> int:
        """Objects up to this many bytes a verified copy holds whole and puts in one request
        (so the store computes their MD5); 0: always streamed."""
        return 0

    #: whether the kind has an obstore client (`_build_obstore`)
    has_obstore: ClassVar[bool] = False
    #: largest object the obstore transport copies server-side in one request (None: any)
    max_server_copy: ClassVar[int | None] = None
    #: whether the store serves suffix ranges (``bytes=-N``)
    suffix_ranges: ClassVar[bool] = True
    #: whether a listed ETag is the object's MD5 (hex)
    etag_is_md5: ClassVar[bool] = False

    @property
    def obstore_writes_via_fsspec(self) -> bool:
        """True when writes of an obstore-moved store still go through its fsspec client."""
        return False

    def _build_obstore(self) -> Any:
        """The obstore store for this store (``None``: the kind has none, `has_obstore`);
        cloud kinds build it from the same config as `storage_options`
        (`skyfabric.storage._obstore_clients`)."""
        return None

    # -- engines that talk to the store themselves -------------------------------------------

    def engine_url(self, key: str) -> str:
        """The URL engines (polars, pyarrow, pandas) take for ``key``: the native URL."""
        return self.native_url(key)

    def engine_storage_options(self) -> dict[str, Any]:
        """fsspec options an engine is given with `engine_url` (contains secrets)."""
        return self.storage_options()

    def polars_storage_options(self, fsspec_options: dict[str, Any]) -> dict[str, str]:
        """Options in the ``object_store`` names polars' ``scan_parquet(storage_options=)``
        takes, from this store's config and its resolved ``fsspec_options``."""
        return {}

    def pyarrow_filesystem(self, path: str) -> tuple[Any, str]:
        """``(pyarrow.fs.FileSystem, path)`` for ``pyarrow.dataset`` / ``pyarrow.parquet``:
        the store's fsspec client wrapped (``PyFileSystem(FSSpecHandler(...))``), which
        honours the same endpoint, credentials and addressing style as every fabric read."""
        import pyarrow.fs as pafs

        return pafs.PyFileSystem(pafs.FSSpecHandler(self.io)), path

    def fileio_properties(self) -> dict[str, str]:
        """pyiceberg FileIO properties that reach this store (contain secrets: never persist
        them; see `skyfabric.tables._fileio` for the table of names per kind).

        Raises:
            ConfigError: an environment variable the store config names is not set.
        """
        return {}

    def fileio(self, properties: dict[str, str]) -> Any:
        """The pyiceberg FileIO that reads and writes this store's files, given catalog
        ``properties`` merged with `fileio_properties`: pyarrow's by default."""
        from pyiceberg.io.pyarrow import PyArrowFileIO

        return PyArrowFileIO(properties)

    def trino_root(self) -> str | None:
        """The store's root as Trino's native file systems address it (``None``: a Trino
        cluster cannot reach this kind): its native URL by default."""
        return self.native_url() if self.trino_reachable else None

    def trino_url(self, key: str) -> str | None:
        """The URL Trino reads ``key`` at (``None``: a Trino cluster cannot reach this
        kind): its native URL by default.

        Raises:
            ConfigError: the store lacks a setting Trino needs to address it.
        """
        return self.native_url(key) if self.trino_reachable else None

    def trino_filesystem_properties(
        self, version: int, catalog: str, notes: list[str]
    ) -> list[str]:
        """Lines of a Trino catalog ``.properties`` file that give ``catalog`` (the store's
        catalog name) this store's file system in Trino ``version``; secrets are
        ``${ENV:NAME}`` references. What needs a hand on the Trino side goes into ``notes``."""
        return []

    # -- the class of new objects, and the bucket itself ---------------------------------------

    @property
    def write_class(self) -> str | None:
        """The class `apply_write_class` gives objects written through us; ``None`` when there
        is nothing to apply (none configured, or the kind sends it with every write, as S3
        does through ``s3_additional_kwargs``)."""
        return None

    @property
    def write_sends_class(self) -> bool:
        """True when uploads through `io` carry the class themselves (obstore sends
        ``Storage-Class`` with every put), so `apply_write_class` after a write is not owed."""
        return self.uses_obstore and not self.obstore_writes_via_fsspec

    def apply_write_class(self, natives: Iterable[str]) -> None:
        """Give the just-written objects ``natives`` the store's class (see `write_class`)."""

    def create_bucket(self) -> BucketCreation:
        """Create the bucket / container / directory this store names, if it does not exist
        (see `skyfabric.storage.buckets.create_bucket`, which maps client errors)."""
        from skyfabric.errors import StoreError

        raise StoreError(f"store {self.name!r}: a {self.kind} store has no bucket to create")

    # -- Spark (skyfabric.tables.spark_config) -----------------------------------------------

    #: Maven coordinates of the Hadoop connector Spark 3.5 (Hadoop 3.3.4) needs for this kind.
    spark_package: ClassVar[str | None] = None

    def spark_settings(self, conf: dict[str, str], notes: list[str]) -> None:
        """Add to ``conf`` the Spark/Hadoop settings that reach this store (secrets as
        ``${env.NAME}`` references); what needs a hand, or cannot be expressed because
        another store already set a session-wide key, goes into ``notes``."""
        notes.append(f"{self.name}: skipped, Spark cannot reach a {self.kind} store")

    def spark_url(self, key: str) -> str:
        """The URL Spark's Hadoop file systems read ``key`` at: the native URL by default."""
        return self.native_url(key).rstrip("/")

    # -- display -----------------------------------------------------------------------------

    def location_label(self) -> str:
        """Where the store is, for people (``s3://bucket``, a directory)."""
        return self.native_url()

    # -- storage classes and prices ----------------------------------------------------------

    @property
    def configured_class(self) -> str | None:
        """The storage class / access tier the config sets for new objects (``None``: none)."""
        return getattr(self.config, self.class_setting) if self.class_setting else None

    @property
    def default_class(self) -> str | None:
        """The class new objects get: the configured class / tier, else the provider's."""
        return self.configured_class or self.provider_default_class

    @property
    def price_provider(self) -> str:
        """Key of the list-price table (``aws``, ``s3-compatible``, ``gcs``, ``azure``, ...)."""
        return self.kind

    def list_price(self, storage_class: str) -> Price:
        """The provider's list `Price` of ``storage_class`` (zero when it has none)."""
        return self.list_prices.get(storage_class) or Price()

    def read_class(self, native: str, info: dict[str, Any] | None = None) -> str | None:
        """The object's storage class / access tier as the store reports it (``None``:
        unknown or none). ``info`` is a listing entry that may already carry it."""
        return None

    def set_class(self, native: str, storage_class: str, size: int) -> None:
        """Change the object's class in place (``size`` in bytes picks the method).

        Raises:
            StorageClassChangeError: the kind has no storage classes, or the change failed.
        """
        from skyfabric.errors import StorageClassChangeError

        raise StorageClassChangeError(
            f"store {self.name!r} is kind {self.kind}, which has no storage classes; "
            "fix: move the objects to another store with `target` instead"
        )

    def access_time(self, native: str, info: dict[str, Any]) -> float | None:
        """Last access (POSIX seconds) where the store gives it; else ``None``."""
        return None

    def object_tags(self, native: str, info: dict[str, Any]) -> dict[str, str]:
        """The object's tags and user metadata (``info``: its listing entry)."""
        return metadata_tags(info.get("metadata"))
