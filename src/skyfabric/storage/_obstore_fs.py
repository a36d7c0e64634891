"""An fsspec filesystem over one store's obstore client: the data path of cloud stores.

`ObstoreFileSystem` takes the same native paths as s3fs/gcsfs/adlfs (``<bucket>/<key>``,
``<container>/<blob>``), so `FabricFileSystem` routes to it exactly as it routes to them,
and answers with the same shapes (``info`` entries with ``name``, ``size``, ``type``,
``ETag``, ``LastModified``). What it adds is speed: obstore (Rust, object_store) moves the
bytes, reads of large objects are split into concurrent ranged requests, many objects are
read or written concurrently, and writes are multipart uploads that appear under their name
only when complete (a failed or abandoned write leaves nothing there).

Some requests stay on the store's fsspec client (``fallback``), as docs/storage.md lists:
keys object_store cannot address byte-for-byte (it percent-encodes ``%#[]*?~`` and the like,
and folds ``//`` and a trailing ``/``: folder markers), writes to a GCS emulator
(fake-gcs-server refuses the XML API's ``PUT``), and copies too large for one server-side
request. obstore's exceptions are mapped to skyfabric's (`map_errors`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fsspec import AbstractFileSystem

from skyfabric.errors import InvalidPathError, ObjectExistsError
from skyfabric.storage._obstore_files import ObstoreReadFile, ObstoreWriteFile
from skyfabric.storage._obstore_listing import ObstoreListing
from skyfabric.storage._obstore_support import (
    CONCURRENCY,
    PARALLEL_SPAN,
    PART_SIZE,
    map_errors,
    obstore_addressable,
    pools,
)

if TYPE_CHECKING:
    from skyfabric.storage.stores import Store

__all__ = ["ObstoreFileSystem", "map_errors", "obstore_addressable"]


class ObstoreFileSystem(ObstoreListing, AbstractFileSystem):
    """fsspec filesystem over a `Store`'s obstore client, for that store's native paths.

    Args:
        store: the store (kind ``s3``, ``gcs`` or ``azure``); its ``obstore`` client moves
            the bytes and its fsspec client ``fs`` serves the requests obstore cannot.

    Raises (from every method): `ObjectNotFoundError` (a ``FileNotFoundError``),
    `ObjectExistsError`, `StoreUnreachableError`, `InvalidPathError`, `StoreError`.
    """

    protocol = "skyfabric-obstore"  # not registered: reached only through fabric://
    root_marker = ""
    cachable = False

    def __init__(self, store: Store) -> None:
        super().__init__()
        self._store = store
        cfg: Any = store.config
        self.bucket: str = store.root.partition("/")[0]  # the bucket / container
        self.writes_via_fsspec = store.obstore_writes_via_fsspec
        storage_class = getattr(cfg, "storage_class", None) or getattr(cfg, "access_tier", None)
        # obstore sends it as x-amz-storage-class / x-goog-storage-class / x-ms-access-tier
        self.attributes: dict[str, str] = {"Storage-Class": storage_class} if storage_class else {}

    # -- plumbing ----------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        return self._store.obstore

    @property
    def fallback(self) -> AbstractFileSystem:
        """The store's fsspec client, for what obstore cannot do (docs/storage.md)."""
        return self._store.fs

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = str(path)
        for scheme in ("s3://", "gs://", "gcs://", "abfs://", "az://"):
            if path.startswith(scheme):
                path = path[len(scheme) :]
        return path.lstrip("/")

    def _key(self, path: str) -> str:
        path = self._strip_protocol(path)
        if path == self.bucket or path == self.bucket + "/":
            return ""
        if not path.startswith(self.bucket + "/"):
            raise InvalidPathError(f"{path!r} is not inside bucket/container {self.bucket!r}")
        return path[len(self.bucket) + 1 :]

    def _native(self, key: str) -> str:
        return f"{self.bucket}/{key}" if key else self.bucket

    def _direct(self, path: str) -> str | None:
        """The key of ``path`` when obstore can address it, else ``None`` (use `fallback`)."""
        key = self._key(path)
        return key if obstore_addressable(key) else None


    # -- reading -----------------------------------------------------------------------------

    def _read(self, key: str, start: int, end: int | None) -> bytes:
        """Bytes ``[start, end)`` of ``key`` (``end=None``: to the object's end; negative
        offsets count from the end). One request, as obstore itself reads; a span of more
        than `PARALLEL_SPAN` bytes is fetched as concurrent `PART_SIZE` ranged requests.
        Peak memory: two copies of the span (obstore's buffer, or the parts, and the
        ``bytes`` returned)."""
        import obstore as obs

        if end is None and start >= 0:
            options: dict[str, Any] = {"range": {"offset": start}} if start else {}
            return bytes(obs.get(self.client, key, options=options or None).bytes())
        if end is None and self._store.suffix_ranges:
            return bytes(obs.get(self.client, key, options={"range": {"suffix": -start}}).bytes())
        if end is None or start < 0 or end < 0:
            size = int(obs.head(self.client, key)["size"])
            start = max(size + start, 0) if start < 0 else start
            end = size if end is None else (size + end if end < 0 else end)
        if end <= start:
            return b""
        if end - start <= PARALLEL_SPAN:
            return bytes(obs.get_range(self.client, key, start=start, end=end))
        spans = [(lo, min(lo + PART_SIZE, end)) for lo in range(start, end, PART_SIZE)]
        parts = pools().parts.map(
            lambda span: obs.get_range(self.client, key, start=span[0], end=span[1]), spans
        )
        return b"".join(list(parts))

    def _span(self, start: int | None, end: int | None) -> tuple[int, int | None]:
        return (start or 0), end

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        key = self._direct(path)
        if key is None:
            return self.fallback.cat_file(self._native(self._key(path)), start, end, **kwargs)
        lo, hi = self._span(start, end)
        with map_errors(self._native(key)):
            return self._read(key, lo, hi)

    def cat_ranges(
        self,
        paths: list[str],
        starts: list[int] | int | None,
        ends: list[int] | int | None,
        max_gap: Any = None,
        on_error: str = "return",
        **kwargs: Any,
    ) -> list[Any]:
        n = len(paths)
        starts = starts if isinstance(starts, list) else [starts or 0] * n  # type: ignore[list-item]
        ends = ends if isinstance(ends, list) else [ends] * n  # type: ignore[list-item]

        def one(item: tuple[str, int | None, int | None]) -> Any:
            path, lo, hi = item
            key = self._direct(path)
            try:
                with map_errors(self._native(self._key(path))):
                    if key is None:
                        return self.fallback.cat_file(self._native(self._key(path)), lo, hi)
                    return self._read(key, *self._span(lo, hi))
            except Exception as exc:
                if on_error == "raise":
                    raise
                return exc

        return list(pools().objects.map(one, zip(paths, starts, ends, strict=True)))

    def cat(
        self, path: Any, recursive: bool = False, on_error: str = "raise", **kwargs: Any
    ) -> Any:
        if recursive or not isinstance(path, list):
            return super().cat(path, recursive=recursive, on_error=on_error, **kwargs)
        results = self.cat_ranges(path, None, None, on_error="return")
        out = {}
        for p, value in zip(path, results, strict=True):
            if isinstance(value, BaseException):
                if on_error == "raise":
                    raise value
                if on_error == "omit":
                    continue
            out[p] = value
        return out

    def iter_bytes(self, path: str, chunk: int = PART_SIZE) -> Iterator[bytes]:
        """The bytes of the object at native ``path`` as one streamed GET, in pieces of at
        least ``chunk`` bytes (the last may be shorter). Memory: about one piece."""
        key = self._direct(path)
        if key is None:
            with self.fallback.open(self._native(self._key(path)), "rb", block_size=chunk) as f:
                while piece := f.read(chunk):
                    yield piece
            return
        import obstore as obs

        with map_errors(self._native(key)):
            response = obs.get(self.client, key)
            yield from response.stream(min_chunk_size=chunk)

    def get_file(self, rpath: str, lpath: str, callback: Any = None, **kwargs: Any) -> None:
        key = self._direct(rpath)
        if key is None or os.path.isdir(lpath):
            return self.fallback.get_file(self._native(self._key(rpath)), lpath, **kwargs)
        import obstore as obs

        folder = os.path.dirname(os.path.abspath(lpath))
        os.makedirs(folder, exist_ok=True)
        # streamed to a temporary file beside lpath, renamed when complete
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".skyfabric-get-")
        try:
            with os.fdopen(fd, "wb") as out, map_errors(self._native(key)):
                for chunk in obs.get(self.client, key).stream(min_chunk_size=PART_SIZE):
                    out.write(chunk)
            os.replace(tmp, lpath)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    # -- writing -----------------------------------------------------------------------------

    def _put_kwargs(self) -> dict[str, Any]:
        return {"attributes": self.attributes} if self.attributes else {}

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        """Write ``value`` to ``path`` in one atomic put (multipart above `PART_SIZE`);
        ``mode="create"`` refuses to replace an object (`ObjectExistsError`)."""
        key = self._direct(path)
        if key is None or self.writes_via_fsspec:
            if mode == "create" and self.fallback.exists(self._native(self._key(path))):
                raise ObjectExistsError(f"an object already exists at {path}")
            return self.fallback.pipe_file(self._native(self._key(path)), value, **kwargs)
        import obstore as obs

        with map_errors(self._native(key)):
            if mode == "create":  # a conditional put is one request (If-None-Match: *)
                obs.put(self.client, key, value, mode="create", **self._put_kwargs())
            else:
                obs.put(
                    self.client, key, value, chunk_size=PART_SIZE, max_concurrency=CONCURRENCY,
                    **self._put_kwargs(),
                )  # fmt: skip

    def put_whole(self, path: str, buffers: list[bytes]) -> None:
        """Write the concatenation of ``buffers`` to ``path`` in one request (no multipart
        upload: Azure then computes the blob's Content-MD5). Memory: the buffers."""
        key = self._direct(path)
        if key is None or self.writes_via_fsspec:
            self.fallback.pipe_file(self._native(self._key(path)), b"".join(buffers))
            return
        import obstore as obs

        with map_errors(self._native(key)):
            obs.put(self.client, key, buffers, use_multipart=False, **self._put_kwargs())

    def pipe(self, path: Any, value: bytes | None = None, **kwargs: Any) -> None:
        items = path if isinstance(path, dict) else {path: value}
        if self.writes_via_fsspec:
            self.fallback.pipe({self._native(self._key(p)): v for p, v in items.items()})
            return
        import obstore as obs

        def one(item: tuple[str, bytes]) -> None:
            p, data = item
            key = self._direct(p)
            if key is None:
                self.fallback.pipe_file(self._native(self._key(p)), data)
                return
            with map_errors(self._native(key)):
                obs.put(
                    self.client, key, data, chunk_size=PART_SIZE, max_concurrency=CONCURRENCY,
                    **self._put_kwargs(),
                )  # fmt: skip

        list(pools().objects.map(one, items.items()))  # re-raises the first failure

    def put_file(self, lpath: str, rpath: str, callback: Any = None, **kwargs: Any) -> None:
        key = self._direct(rpath)
        if os.path.isdir(lpath):
            return  # object stores have no directories to create
        if key is None or self.writes_via_fsspec:
            return self.fallback.put_file(lpath, self._native(self._key(rpath)), **kwargs)
        import obstore as obs

        with map_errors(self._native(key)):
            obs.put(
                self.client, key, Path(lpath), chunk_size=PART_SIZE, max_concurrency=CONCURRENCY,
                **self._put_kwargs(),
            )  # fmt: skip

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        key = self._direct(path)
        native = self._native(self._key(path))
        if key is None or ("r" not in mode and self.writes_via_fsspec):
            return self.fallback.open(native, mode, block_size=block_size, **kwargs)
        if "r" in mode:
            import obstore as obs

            size = kwargs.get("size")
            if size is None:  # callers that listed the object pass its size: no HEAD
                with map_errors(native):
                    size = obs.head(self.client, key)["size"]
            ahead = kwargs.get("cache_type") != "none"
            return ObstoreReadFile(self, key, int(size), read_ahead=ahead)
        if "a" in mode:
            raise InvalidPathError(f"{native}: objects cannot be appended to; fix: rewrite it")
        return ObstoreWriteFile(self, key, block_size or PART_SIZE)

    # -- copying and deleting ---------------------------------------------------------------

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        k1, k2 = self._direct(path1), self._direct(path2)
        if k1 is None or k2 is None or self.writes_via_fsspec:
            return self.fallback.cp_file(
                self._native(self._key(path1)), self._native(self._key(path2)), **kwargs
            )
        import obstore as obs

        limit = self._store.max_server_copy
        if limit is not None and self.info(path1)["size"] > limit:
            return self.fallback.cp_file(self._native(k1), self._native(k2), **kwargs)
        with map_errors(self._native(k1)):
            obs.copy(self.client, k1, k2, overwrite=kwargs.get("overwrite", True))

    def rm_file(self, path: str) -> None:
        key = self._direct(path)
        if key is None:
            return self.fallback.rm_file(self._native(self._key(path)))
        import obstore as obs

        with map_errors(self._native(key)):
            obs.delete(self.client, key)

    def _rm(self, path: str) -> None:
        self.rm_file(path)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        paths = path if isinstance(path, list) else [path]
        if recursive:
            paths = [f for p in paths for f in ([p, *self.find(p)] if self.isdir(p) else [p])]
        keys = [self._direct(p) for p in paths]
        direct = [k for k in keys if k is not None]
        for p, k in zip(paths, keys, strict=True):
            if k is None:
                self.fallback.rm_file(self._native(self._key(p)))
        if direct:
            import obstore as obs

            with map_errors(self.bucket):
                obs.delete(self.client, direct)  # batched (S3 DeleteObjects, 1,000 a request)

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        pass  # object stores have no directories

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        pass

    def invalidate_cache(self, path: str | None = None) -> None:
        pass  # nothing cached
