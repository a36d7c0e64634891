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

import base64
import contextlib
import io
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fsspec import AbstractFileSystem

from skyfabric.errors import (
    FabricError,
    InvalidPathError,
    ObjectExistsError,
    ObjectNotFoundError,
    StoreError,
    StoreUnreachableError,
    brief,
)

if TYPE_CHECKING:
    from skyfabric.storage.stores import Store

__all__ = ["PART_SIZE", "ObstoreFileSystem", "map_errors", "obstore_addressable"]

#: Bytes per part of a multipart upload and per ranged request of a large read. 8 MiB: above
#: S3's 5 MiB minimum part, 1,250 parts for 10 GB (S3 allows 10,000 parts per upload).
PART_SIZE = 8 * 2**20
#: Ranged reads longer than this are split into concurrent `PART_SIZE` requests (a whole
#: object is one GET, as obstore reads it: emulators answer each range by copying the object).
PARALLEL_SPAN = 64 * 2**20
#: Requests one transfer keeps in flight (parts of one object, or objects of a batch).
CONCURRENCY = 16
# Server-side copy is one request up to S3's 5 GiB CopyObject limit; larger goes to fsspec.
MAX_COPY = 5 * 2**30

# object_store's `Path` percent-encodes these in a key segment (path/parts.rs, INVALID: the
# characters AWS and GCS advise against) and drops empty segments, so such keys are not
# reachable byte-for-byte through obstore.
_UNADDRESSABLE = re.compile(r'[\x00-\x1f\x7f\\{}^%`\]"<>\[~#|*?]')


def obstore_addressable(key: str) -> bool:
    """True when obstore reads and writes ``key`` byte-for-byte (no characters it
    percent-encodes, no empty, ``.`` or ``..`` segments, no leading or trailing ``/``)."""
    if not key or _UNADDRESSABLE.search(key):
        return False
    return all(part not in ("", ".", "..") for part in key.split("/"))


@contextlib.contextmanager
def map_errors(what: str) -> Iterator[None]:
    """Translate obstore's exceptions raised inside the block into skyfabric's.

    ``what`` names the object or prefix for the message (a native path). Mapping:
    ``FileNotFoundError``/``NotFoundError`` and a missing bucket -> `ObjectNotFoundError`;
    ``AlreadyExistsError``/``PreconditionError`` -> `ObjectExistsError`;
    ``PermissionDeniedError``/``UnauthenticatedError`` -> `StoreUnreachableError`
    (credentials refused); ``InvalidPathError`` -> `InvalidPathError`; timeouts and
    connection failures (``GenericError``) -> `StoreUnreachableError`; other obstore errors
    -> `StoreError`. Messages are redacted; the original stays in ``__cause__``.
    """
    from obstore import exceptions as ox

    try:
        yield
    except FabricError:
        raise
    except (FileNotFoundError, ox.NotFoundError) as exc:
        raise ObjectNotFoundError(f"no object at {what}") from exc
    except (ox.AlreadyExistsError, ox.PreconditionError) as exc:
        raise ObjectExistsError(
            f"an object already exists at {what} (conditional write refused): {brief(exc)}"
        ) from exc
    except (ox.PermissionDeniedError, ox.UnauthenticatedError) as exc:
        raise StoreUnreachableError(
            f"the store refused the credentials for {what}: {brief(exc)}; fix: check the "
            "store's credentials (the env vars it names) and their permissions"
        ) from exc
    except ox.InvalidPathError as exc:
        raise InvalidPathError(f"{what} is not a valid object path: {brief(exc)}") from exc
    except ox.GenericError as exc:
        text = str(exc).lower()
        if any(s in text for s in ("nosuchbucket", "containernotfound", "404 not found")):
            raise ObjectNotFoundError(
                f"no object at {what}: the bucket/container does not exist"
            ) from exc
        if any(s in text for s in ("timed out", "timeout", "connect", "dns", "broken pipe")):
            raise StoreUnreachableError(
                f"the store did not answer for {what}: {brief(exc)}; fix: check the "
                "endpoint and the network (retries stopped at the deadline)"
            ) from exc
        raise StoreError(f"{what}: {brief(exc)}") from exc
    except ox.BaseError as exc:
        raise StoreError(f"{what}: {brief(exc)}") from exc


class _Pools:
    """This process's worker threads: ``objects`` run one request chain per object (many
    objects at once), ``parts`` fetch the parts of one large object; an object task may wait
    on parts, never the reverse, so neither pool can deadlock the other.

    Threads around obstore's blocking calls (which release the GIL), not its ``*_async``
    calls: those run on a tokio runtime that a forked child (a process pool) inherits dead,
    and hang there.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.objects = ThreadPoolExecutor(CONCURRENCY * 2, thread_name_prefix="skyfabric-obj")
        self.parts = ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="skyfabric-part")


_pools_lock = threading.Lock()
_pools_now: _Pools | None = None


def _pools() -> _Pools:
    global _pools_now
    pools = _pools_now
    if pools is None or pools.pid != os.getpid():
        with _pools_lock:
            if _pools_now is None or _pools_now.pid != os.getpid():
                _pools_now = _Pools()
            pools = _pools_now
    return pools


if hasattr(os, "register_at_fork"):  # the lock may be held by a thread that is not forked
    os.register_at_fork(after_in_child=lambda: globals().update(_pools_lock=threading.Lock()))


def _etag(meta: dict[str, Any]) -> str | None:
    tag = meta.get("e_tag")
    return tag if tag is None else str(tag)


def _base64_md5(tag: str | None) -> str | None:
    """``tag`` when it is a base64-encoded 16-byte digest, else ``None``."""
    if not tag:
        return None
    tag = tag.strip('"')
    if len(tag) != 24 or not tag.endswith("=="):
        return None
    try:
        return tag if len(base64.b64decode(tag, validate=True)) == 16 else None
    except ValueError:
        return None


class ObstoreFileSystem(AbstractFileSystem):
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
        self.bucket: str = cfg.bucket if store.kind in ("s3", "gcs") else cfg.container
        # fake-gcs-server refuses obstore's XML-API PUT/copy (FINDINGS.md): on a GCS store
        # with an endpoint (emulators only, per the config) writes go through gcsfs.
        self.writes_via_fsspec = store.kind == "gcs" and bool(cfg.endpoint)
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


    def _file_entry(self, meta: dict[str, Any]) -> dict[str, Any]:
        tag = _etag(meta)
        entry = {
            "name": self._native(str(meta["path"])),
            "size": int(meta["size"]),
            "type": "file",
            "ETag": tag,
            "LastModified": meta["last_modified"],
            "version": meta.get("version"),
        }
        md5 = _base64_md5(tag) if self._store.kind == "gcs" else None
        if md5 is not None:  # fake-gcs-server's XML ETag is the base64 MD5 (GCS's is hex)
            entry["md5Hash"] = md5
        return entry

    def _listed(self, metas: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Entries of listed objects. object_store drops a key's trailing ``/``, so a folder
        marker ``d/`` lists as an empty ``d``: empty entries that HEAD does not find are
        such markers, and become directories."""
        import obstore as obs

        out = []
        for meta in metas:
            entry = self._file_entry(meta)
            if entry["size"] == 0:
                try:
                    obs.head(self.client, str(meta["path"]))
                except FileNotFoundError:
                    entry = self._dir_entry(str(meta["path"]))
            out.append(entry)
        return out

    def _dir_entry(self, key: str) -> dict[str, Any]:
        return {"name": self._native(key.rstrip("/")), "size": 0, "type": "directory"}

    # -- metadata ----------------------------------------------------------------------------

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        key = self._key(path)
        if not key:
            return self._dir_entry("")
        if not obstore_addressable(key):
            return self.fallback.info(self._native(key), **kwargs)
        import obstore as obs

        with contextlib.suppress(FileNotFoundError), map_errors(self._native(key)):
            return self._file_entry(obs.head(self.client, key))
        if self._has_children(key):
            return self._dir_entry(key)
        raise ObjectNotFoundError(f"no object or prefix at {self._native(key)}")

    def _has_children(self, key: str) -> bool:
        import obstore as obs

        with map_errors(self._native(key)):
            stream = obs.list(self.client, key.rstrip("/") + "/", chunk_size=1)
            return any(True for _ in next(iter(stream), []))

    def object_exists(self, path: str) -> bool:
        """True when an object (not a prefix) is at ``path``: one HEAD."""
        key = self._direct(path)
        if key is None:
            return bool(self.fallback.isfile(self._native(self._key(path))))
        import obstore as obs

        try:
            with map_errors(self._native(key)):
                obs.head(self.client, key)
        except FileNotFoundError:
            return False
        return True

    def modified(self, path: str) -> datetime:
        info = self.info(path)
        if info["type"] != "file":
            raise IsADirectoryError(path)
        return info["LastModified"]

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        import obstore as obs

        key = self._key(path).rstrip("/")
        if key and not obstore_addressable(key):
            return self.fallback.ls(self._native(key), detail=detail, **kwargs)
        prefix = key + "/" if key else None
        with map_errors(self._native(key)):
            listed = obs.list_with_delimiter(self.client, prefix)
        entries = [self._dir_entry(p) for p in listed["common_prefixes"]]
        names = {e["name"] for e in entries}
        entries += [e for e in self._listed(listed["objects"]) if e["name"] not in names]
        if not entries and key:
            # an object (fsspec's ls of a file lists that file) or nothing at all
            with map_errors(self._native(key)):
                entries = [self._file_entry(obs.head(self.client, key))]
        return entries if detail else [e["name"] for e in entries]

    def find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        import obstore as obs

        key = self._key(path).rstrip("/")
        if maxdepth is not None or (key and not obstore_addressable(key)):
            return super().find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail)
        out: dict[str, dict[str, Any]] = {}
        with map_errors(self._native(key)):
            for chunk in obs.list(self.client, key + "/" if key else None, chunk_size=1000):
                for entry in self._listed(chunk):
                    if entry["type"] == "directory" and not withdirs:
                        continue
                    out[entry["name"]] = entry
        if withdirs:
            for name in list(out):
                parent = name.rpartition("/")[0]
                while len(parent) > len(self._native(key)):
                    out.setdefault(parent, self._dir_entry(self._key(parent)))
                    parent = parent.rpartition("/")[0]
        if not out and key:
            with contextlib.suppress(FileNotFoundError), map_errors(self._native(key)):
                entry = self._file_entry(obs.head(self.client, key))
                out[entry["name"]] = entry
        names = sorted(out)
        return {n: out[n] for n in names} if detail else names

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
        if end is None and self._store.kind != "azure":  # Azure has no suffix ranges
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
        parts = _pools().parts.map(
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

        return list(_pools().objects.map(one, zip(paths, starts, ends, strict=True)))

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

        list(_pools().objects.map(one, items.items()))  # re-raises the first failure

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

        if self._store.kind == "s3" and self.info(path1)["size"] > MAX_COPY:
            return self.fallback.cp_file(self._native(k1), self._native(k2), **kwargs)
        with map_errors(self._native(k1)):
            obs.copy(self.client, k1, k2, overwrite=kwargs.get("overwrite", True))

    def copy_if_absent(self, path1: str, path2: str) -> None:
        """Server-side copy that refuses to replace an object at ``path2``.

        Raises:
            ObjectExistsError: ``path2`` exists (or the store cannot copy conditionally).
        """
        import obstore as obs

        k1, k2 = self._key(path1), self._key(path2)
        with map_errors(self._native(k2)):
            obs.copy(self.client, k1, k2, overwrite=False)

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


class ObstoreReadFile(io.RawIOBase):
    """A seekable, read-only file over one object: each ``read`` is one ranged request
    (large ones split into concurrent parts). Buffering belongs to callers (pyarrow and
    pandas read in large blocks); small reads go through a `PART_SIZE` read-ahead unless
    opened with ``cache_type="none"`` (exact ranges, as the drift scan asks)."""

    def __init__(
        self, fs: ObstoreFileSystem, key: str, size: int, read_ahead: bool = True
    ) -> None:
        super().__init__()
        self.read_ahead = read_ahead
        self.fs = fs
        self.key = key
        self.path = fs._native(key)
        self.size = size
        self.loc = 0
        self._ahead = b""
        self._ahead_at = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.loc

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.loc, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"seek before the start of {self.path}")
        self.loc = base + offset
        return self.loc

    def read(self, size: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError(f"I/O operation on closed file {self.path}")
        end = self.size if size is None or size < 0 else min(self.size, self.loc + size)
        if end <= self.loc:
            return b""
        ahead_end = self._ahead_at + len(self._ahead)
        if self._ahead_at <= self.loc and end <= ahead_end:
            data = self._ahead[self.loc - self._ahead_at : end - self._ahead_at]
        elif self.read_ahead and end - self.loc < PART_SIZE // 8:
            # a small read: fetch a whole part once, serve the following small reads from it
            hi = min(self.size, self.loc + PART_SIZE)
            with map_errors(self.path):
                self._ahead = self.fs._read(self.key, self.loc, hi)
            self._ahead_at = self.loc
            data = self._ahead[: end - self.loc]
        else:  # to the end: one GET from here, as obstore reads a whole object
            with map_errors(self.path):
                data = self.fs._read(self.key, self.loc, None if end == self.size else end)
        self.loc += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._ahead = b""
        super().close()

    def __reduce__(self) -> Any:
        raise TypeError("an open fabric:// file does not pickle; pickle the URL instead")


class ObstoreWriteFile(io.RawIOBase):
    """A write-only file becoming one object on ``close``: data is uploaded in parts of
    ``part_size`` bytes while it is written (a multipart upload, up to `CONCURRENCY` parts
    in flight), and the object appears under its name only when ``close`` completes the
    upload. `discard` (and leaving a ``with`` block by an exception) aborts: nothing
    appears under the name."""

    def __init__(self, fs: ObstoreFileSystem, key: str, part_size: int) -> None:
        super().__init__()
        import obstore as obs

        self.fs = fs
        self.key = key
        self.path = fs._native(key)
        with map_errors(self.path):
            self._writer = obs.open_writer(
                fs.client, key, buffer_size=max(part_size, 5 * 2**20),
                max_concurrency=CONCURRENCY, **fs._put_kwargs(),
            )  # fmt: skip
        self.size = 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.size

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError(f"I/O operation on closed file {self.path}")
        with map_errors(self.path):
            n = int(self._writer.write(data))
        self.size += n
        return n

    def flush(self) -> None:
        pass  # parts go up as they fill; only close completes the object

    def close(self) -> None:
        if self.closed:
            return
        try:
            with map_errors(self.path):
                self._writer.close()
        finally:
            super().close()

    def discard(self) -> None:
        """Abandon the upload: nothing appears under the object's name."""
        if self.closed:
            return
        with contextlib.suppress(Exception):
            self._writer.__exit__(RuntimeError, RuntimeError("discarded"), None)
        super().close()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.discard()
        else:
            self.close()

    def __del__(self) -> None:
        # never commit a half-written object because the writer was dropped
        if not self.closed:
            self.discard()

    def __reduce__(self) -> Any:
        raise TypeError("an open fabric:// file does not pickle")

