"""Verified copy and sync between any two stores.

Every object is streamed (memory per object is bounded by the chunk and the destination's
upload parts in flight, independent of object size), hashed on the way and verified (size
and MD5, see `skyfabric.storage.checksums`) before it counts as copied. A failed or killed
copy never leaves a partial object under the final name:

- a destination name that holds no object, on a store whose uploads appear only when
  complete (obstore's atomic puts and multipart uploads: cloud stores), is written
  directly; an upload that fails is aborted, one that fails verification is removed;
- otherwise (replacing an object, local and memory stores, ``transport = "fsspec"``) the
  bytes go to a temporary name beside the destination (``.skyfabric-partial-<uuid>-<name>``)
  and are moved to the final name only once verified, so the object being replaced stays
  intact until then. Leftover temporaries are skipped by ``sync`` and removed by
  ``sync(delete=True)``.

Objects are copied concurrently (a thread pool; the clients release the GIL on I/O),
and transient errors are retried with exponential backoff.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from fsspec.spec import AbstractBufferedFile

from skyfabric.errors import (
    ConfigError,
    FabricError,
    InvalidPathError,
    ObjectNotFoundError,
    TransferError,
    VerificationError,
    redact,
)
from skyfabric.storage.checksums import CHUNK, iter_chunks, native_md5, stream_md5
from skyfabric.storage.paths import PARTIAL_MARKER, PREFIX, is_partial, parse
from skyfabric.storage.sync_plan import _target, plan_sync

if TYPE_CHECKING:
    from skyfabric.storage.filesystem import FabricFileSystem

__all__ = ["ObjectResult", "TransferResult", "copy", "copy_object", "sync"]

RETRIES = 3
BACKOFF = 0.25  # seconds, doubled per attempt
_PERMANENT = (
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
    InvalidPathError,
    ConfigError,
)

Progress = Callable[[int], None]


@dataclass
class ObjectResult:
    """Outcome for one object. ``bytes`` is the object size; ``md5`` the verified digest."""

    src: str
    dst: str
    status: Literal["copied", "skipped", "failed", "deleted", "would_copy", "would_delete"]
    bytes: int = 0
    md5: str | None = None
    error: str | None = None


@dataclass
class TransferResult:
    """What a copy or sync did, object by object.

    ``ok`` is ``True`` when no object failed.
    """

    objects: list[ObjectResult] = field(default_factory=list)

    def _with(self, status: str) -> list[ObjectResult]:
        return [o for o in self.objects if o.status == status]

    @property
    def copied(self) -> list[ObjectResult]:
        return self._with("copied")

    @property
    def skipped(self) -> list[ObjectResult]:
        return self._with("skipped")

    @property
    def failed(self) -> list[ObjectResult]:
        return self._with("failed")

    @property
    def deleted(self) -> list[ObjectResult]:
        return self._with("deleted")

    @property
    def bytes_copied(self) -> int:
        return sum(o.bytes for o in self.copied)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for o in self.objects:
            counts[o.status] = counts.get(o.status, 0) + 1
        return {
            "ok": self.ok,
            "counts": counts,
            "bytes_copied": self.bytes_copied,
            "objects": [asdict(o) for o in self.objects],
        }


def _abort(writer: Any) -> None:
    """Abandon an upload without committing it, never raising over the original error.

    Writers with a ``discard`` are discarded: obstore's (`ObstoreWriteFile`) aborts its
    multipart upload, s3fs aborts its multipart upload, gcsfs deletes the resumable session;
    fsspec's buffered writers would commit what was buffered in ``close()`` (also called by
    ``__exit__`` and ``__del__``), so they are also marked closed. adlfs has no
    ``discard``: its uncommitted blocks are never committed and Azure drops them after
    7 days. Local and memory writers are closed: what they wrote sits under the temporary
    name, removed next.
    """
    try:
        discard = getattr(writer, "discard", None)
        if callable(discard):
            discard()
            if isinstance(writer, AbstractBufferedFile):
                writer.closed = True
        elif isinstance(writer, AbstractBufferedFile):
            writer.closed = True
        else:
            writer.close()
    except Exception:  # the caller re-raises the error that made us abort
        pass


def _chunks(store: Any, native: str) -> Iterator[bytes]:
    """The object's bytes in pieces of about `CHUNK` (`checksums.iter_chunks`)."""
    return iter_chunks(store.io, native)


@dataclass
class _Digest:
    """MD5 of a stream, and of each `CHUNK`-sized part of it (the parts of a multipart
    upload whose part size is `CHUNK`, from which S3-style multipart ETags are computed)."""

    size: int = 0
    whole: Any = field(default_factory=lambda: hashlib.md5(usedforsecurity=False))
    parts: list[bytes] = field(default_factory=list)
    #: hash the parts too (only S3 publishes a multipart ETag to compare them with)
    track_parts: bool = True
    _part: Any = field(default_factory=lambda: hashlib.md5(usedforsecurity=False))
    _part_fill: int = 0

    def update(self, chunk: bytes) -> None:
        self.whole.update(chunk)
        self.size += len(chunk)
        if not self.track_parts:
            return
        view = memoryview(chunk)
        while len(view):
            take = min(len(view), CHUNK - self._part_fill)
            self._part.update(view[:take])
            self._part_fill += take
            view = view[take:]
            if self._part_fill == CHUNK:
                self.parts.append(self._part.digest())
                self._part = hashlib.md5(usedforsecurity=False)
                self._part_fill = 0

    def multipart_etag(self) -> str:
        """``md5(part digests)-<parts>``: the ETag S3 gives a multipart upload of these parts."""
        parts = self.parts + ([self._part.digest()] if self._part_fill else [])
        return f"{hashlib.md5(b''.join(parts), usedforsecurity=False).hexdigest()}-{len(parts)}"


# Azure computes a blob's Content-MD5 from the bytes of a single Put Blob (not of a block
# list), so copies to Azure up to this size go up in one put and need no read-back. Memory:


def _stream(
    fs: FabricFileSystem, src: str, tmp_native: str, dst_store: Any, progress: Progress | None
) -> _Digest:
    """Copy src to the (temporary) native path; return its digest. Never commits on error.

    Memory: one `CHUNK` in hand plus the destination writer's parts in flight; objects up
    to the store's `single_put_limit` (Azure through obstore: 64 MiB) are held whole and put
    at once.
    """
    src_store, _, src_native = fs.route(src)
    digest = _Digest(track_parts=dst_store.multipart_etag_is_md5_of_parts)
    single = dst_store.single_put_limit
    held: list[bytes] = []
    writer = None
    try:
        for chunk in _chunks(src_store, src_native):
            digest.update(chunk)
            if writer is None and digest.size <= single:
                held.append(chunk)
            else:
                if writer is None:
                    writer = dst_store.io.open(tmp_native, "wb", block_size=CHUNK)
                    for piece in held:
                        writer.write(piece)
                    held = []
                writer.write(chunk)
            if progress is not None:
                progress(len(chunk))
    except BaseException:
        if writer is not None:
            _abort(writer)
        raise
    if writer is None and single:
        dst_store.io.put_whole(tmp_native, held)
        return digest
    if writer is None:  # an empty object
        writer = dst_store.io.open(tmp_native, "wb", block_size=CHUNK)
    writer.close()
    return digest


def _verify(store: Any, native: str, digest: _Digest, label: str) -> None:
    """Size and MD5 of the copy against the source's. The MD5 is the one the store
    publishes (`native_md5`), else the multipart ETag expected from the parts we sent,
    else the copy is read back and hashed."""
    size, md5 = digest.size, digest.whole.hexdigest()
    info = store.io.info(native)
    if int(info.get("size") or 0) != size:
        raise VerificationError(
            f"{label}: size {info.get('size')} differs from the source's {size} bytes; copy discarded"
        )
    got = native_md5(info)
    if got is None:
        etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
        if "-" in etag and digest.track_parts and etag == digest.multipart_etag():
            return  # the store hashed every part we sent, and they are ours
        if store.content_md5_via_fsspec and store.io is not store.fs:
            got = native_md5(store.fs.info(native))  # Content-MD5: the fsspec client reads it
        if got is None:
            got = stream_md5(store.io, native)
    if got != md5:
        raise VerificationError(
            f"{label}: MD5 {got} differs from the source's {md5}; copy discarded"
        )


def _rename(store: Any, tmp: str, final: str) -> None:
    """Move the verified temporary to its final name, as exact keys (fsspec's ``mv``
    expands ``*?[`` as globs and moves *into* an existing prefix)."""
    store.rename_exact(tmp, final)  # local: os.replace, atomic on one filesystem


def _copy_once(fs: FabricFileSystem, src: str, dst: str, progress: Progress | None) -> ObjectResult:
    dst_store, dst_fp, dst_native = fs.route(dst)
    if not dst_fp.key:
        raise InvalidPathError(
            f"destination {PREFIX}{dst_fp.path} is a store root; fix: name an object"
        )
    # On disk a rename onto a directory would move the copy *into* it; object stores can
    # hold both an object "x" and a prefix "x/", so only filesystems need the check.
    if dst_store.hierarchical and dst_store.io.isdir(dst_native):
        raise InvalidPathError(
            f"destination {PREFIX}{dst_fp.path} is a prefix/directory; "
            "fix: end it with '/' to copy into it, or name an object"
        )
    if dst_store.uses_obstore and not dst_store.io.object_exists(dst_native):
        return _copy_new(fs, src, dst, progress)
    parent, name = posixpath.split(dst_native)
    tmp_native = posixpath.join(parent, f"{PARTIAL_MARKER}{uuid.uuid4().hex[:12]}-{name}")
    try:
        digest = _stream(fs, src, tmp_native, dst_store, progress)
        size, md5 = digest.size, digest.whole.hexdigest()
        _verify(dst_store, tmp_native, digest, f"{PREFIX}{dst_fp.path} (temporary copy)")
        _rename(dst_store, tmp_native, dst_native)
    except BaseException:
        try:
            if dst_store.io.exists(tmp_native):
                dst_store.io.rm_file(tmp_native)
        except Exception:  # best effort: a leftover temporary is never under the final name
            pass
        raise
    final = dst_store.io.info(dst_native)
    if final.get("type") != "file" or int(final.get("size") or 0) != size:
        dst_store.io.rm_file(dst_native)
        raise VerificationError(f"{PREFIX}{dst_fp.path}: size changed during the final rename")
    dst_store.apply_write_class([dst_native])  # the verified object gets the store's class
    return ObjectResult(src=str(parse(src)), dst=str(dst_fp), status="copied", bytes=size, md5=md5)


def _copy_new(fs: FabricFileSystem, src: str, dst: str, progress: Progress | None) -> ObjectResult:
    """Copy to a destination name that holds no object, on a store whose uploads appear
    only when complete (obstore's puts and multipart uploads; the fsspec writers it falls
    back to commit at ``close`` too): the bytes go straight to the final name, with no
    temporary and server-side rename. A failed or killed upload leaves nothing there; a
    complete one that fails verification is removed (nothing was there before)."""
    dst_store, dst_fp, dst_native = fs.route(dst)
    digest = _stream(fs, src, dst_native, dst_store, progress)  # aborts on error
    try:
        _verify(dst_store, dst_native, digest, f"{PREFIX}{dst_fp.path}")
    except BaseException:
        with contextlib.suppress(Exception):
            dst_store.io.rm_file(dst_native)
        raise
    md5 = digest.whole.hexdigest()
    return ObjectResult(str(parse(src)), str(dst_fp), "copied", bytes=digest.size, md5=md5)


def copy_object(
    fs: FabricFileSystem,
    src: str,
    dst: str,
    *,
    progress: Progress | None = None,
    retries: int = RETRIES,
) -> ObjectResult:
    """Copy one object with verification and retries.

    Raises:
        ObjectNotFoundError: the source does not exist (not retried).
        TransferError: every attempt failed; nothing is left under ``dst``.
    """
    src_store, src_fp, src_native = fs.route(src)
    last: BaseException | None = None
    for attempt in range(retries):
        try:
            return _copy_once(fs, src, dst, progress)
        except (FileNotFoundError, IsADirectoryError):
            # Checked only on failure: a HEAD before every copy would double small-object cost.
            if src_store.io.isfile(src_native):
                raise
            raise ObjectNotFoundError(
                f"no object at {src_fp}; fix: check the path, or pass recursive=True for a prefix"
            ) from None
        except _PERMANENT:
            raise
        except Exception as exc:
            last = exc
            if attempt + 1 < retries:
                time.sleep(BACKOFF * 2**attempt)
    assert last is not None
    msg = redact(f"{type(last).__name__}: {last}")
    raise TransferError(
        f"copy {src_fp} -> {PREFIX}{parse(dst).path} failed after {retries} attempts: {msg}"
    ) from last


def _run(
    fs: FabricFileSystem,
    pairs: list[tuple[str, str, int]],
    workers: int,
    progress: Progress | None,
) -> list[ObjectResult]:
    def one(pair: tuple[str, str, int]) -> ObjectResult:
        src, dst, size = pair
        try:
            return copy_object(fs, src, dst, progress=progress)
        except FabricError as exc:
            return ObjectResult(str(parse(src)), str(parse(dst)), "failed", size, error=str(exc))
        except Exception as exc:
            err = redact(f"{type(exc).__name__}: {exc}")
            return ObjectResult(str(parse(src)), str(parse(dst)), "failed", size, error=err)

    if workers <= 1 or len(pairs) <= 1:
        return [one(p) for p in pairs]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="skyfabric-copy") as pool:
        return list(pool.map(one, pairs))


def _listing(fs: FabricFileSystem, root: str) -> dict[str, dict[str, Any]]:
    try:
        return fs.find_all(root)
    except FileNotFoundError:
        return {}


def _identity(fs: FabricFileSystem, path: str) -> tuple[str, str]:
    """(endpoint identity, native path): two stores may share one bucket."""
    store, _, native = fs.route(path)
    cfg = store.config
    endpoint = getattr(cfg, "endpoint", None) or ""
    return f"{store.kind}|{endpoint}", native.rstrip("/")


def _check_pair(fs: FabricFileSystem, src: str, dst: str, tree: bool) -> None:
    """Fail fast, before any object moves: unknown stores, missing credentials, overlap.

    Raises:
        UnknownStoreError, ConfigError: a store is unknown or its credentials are unset.
        InvalidPathError: with ``tree``, one prefix contains the other (a copy would nest
            itself on every run; ``sync --delete`` would delete its own source).
    """
    for path in (src, dst):
        fs.store(parse(path).store).storage_options()
    if not tree:
        return
    (a_id, a), (b_id, b) = _identity(fs, src), _identity(fs, dst)
    if a_id == b_id and (a == b or a.startswith(b + "/") or b.startswith(a + "/")):
        raise InvalidPathError(
            f"{PREFIX}{parse(src).path} and {PREFIX}{parse(dst).path} overlap; "
            "fix: copy/sync between prefixes that do not contain each other"
        )


def copy(
    fs: FabricFileSystem,
    src: str,
    dst: str,
    *,
    recursive: bool = False,
    workers: int = 8,
    progress: Progress | None = None,
) -> TransferResult:
    """Copy an object, or with ``recursive=True`` every object under a prefix, verified.

    A ``dst`` ending in ``/`` receives the object under its own name.

    Raises:
        ObjectNotFoundError: ``src`` does not exist.
    """
    src_path = parse(src).path
    dst_path = parse(dst).path
    _check_pair(fs, src, dst, tree=recursive)
    if recursive:
        listing = _listing(fs, src_path)
        if not listing and not fs.exists(src_path):
            raise ObjectNotFoundError(f"nothing at {PREFIX}{src_path} to copy")
        pairs = [
            (name, _target(src_path, name, dst_path), int(info.get("size") or 0))
            for name, info in sorted(listing.items())
            if not is_partial(name)
        ]
        return TransferResult(_run(fs, pairs, workers, progress))
    if dst.endswith("/"):
        dst_path = f"{dst_path}/{posixpath.basename(src_path)}"
    info = fs.info(src_path)
    if info["type"] == "directory":
        raise InvalidPathError(f"{PREFIX}{src_path} is a prefix; fix: pass recursive=True (cp -r)")
    return TransferResult(_run(fs, [(src_path, dst_path, int(info.get("size") or 0))], 1, progress))


def sync(
    fs: FabricFileSystem,
    src: str,
    dst: str,
    *,
    dry_run: bool = False,
    delete: bool = False,
    checksum: bool = False,
    workers: int = 8,
    progress: Progress | None = None,
) -> TransferResult:
    """Make the prefix ``dst`` hold every object under ``src``, copying only what differs.

    An object is copied when it is missing at ``dst``, differs in size, differs in MD5 where
    both stores publish one (or always compared with ``checksum=True``, which reads both), or
    else is newer at the source. ``delete=True`` also removes objects under ``dst`` that are
    not under ``src`` (and leftover temporaries of interrupted copies). ``dry_run=True``
    reports ``would_copy``/``would_delete`` and changes nothing.
    """
    src_path = parse(src).path
    dst_path = parse(dst).path
    _check_pair(fs, src, dst, tree=True)
    src_list = _listing(fs, src_path)
    if not src_list and not fs.exists(src_path):
        raise ObjectNotFoundError(f"nothing at {PREFIX}{src_path} to sync")
    dst_list = _listing(fs, dst_path)
    plan = plan_sync(fs, src_path, dst_path, src_list, dst_list, checksum=checksum, delete=delete)
    results: list[ObjectResult] = []
    pairs: list[tuple[str, str, int]] = []
    for name, target, size, differs in plan.objects:
        if not differs:
            results.append(ObjectResult(str(parse(name)), str(parse(target)), "skipped", size))
        elif dry_run:
            results.append(ObjectResult(str(parse(name)), str(parse(target)), "would_copy", size))
        else:
            pairs.append((name, target, size))
    results.extend(_run(fs, pairs, workers, progress))
    for name, size in plan.deletions:
        if dry_run:
            results.append(ObjectResult("", str(parse(name)), "would_delete", size))
            continue
        fs.rm_file(name)
        results.append(ObjectResult("", str(parse(name)), "deleted", size))
    return TransferResult(results)
