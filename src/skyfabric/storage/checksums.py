"""Checksums both ends of a transfer agree on.

skyfabric hashes the bytes it streams with MD5 (RFC 1321), because MD5 is the digest the
object stores themselves publish for single-part objects: the S3 ETag of a non-multipart,
non-KMS object (AWS S3 API reference, "Common Response Headers: ETag"), GCS ``md5Hash``
(JSON API object resource) and Azure ``Content-MD5``. Where a store publishes no MD5 for
the object, the copy is read back and hashed.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

from fsspec import AbstractFileSystem

__all__ = ["iter_chunks", "native_md5", "stream_md5"]

CHUNK = 8 * 2**20  # bytes read per request when hashing


def native_md5(info: dict[str, Any]) -> str | None:
    """The object's MD5 (hex) as its store publishes it in ``info()``, or ``None`` if unknown.

    Multipart S3 ETags (``<hex>-<parts>``) are not an MD5 of the content and give ``None``.
    """
    etag = info.get("ETag") or info.get("etag")
    if isinstance(etag, str):
        etag = etag.strip('"')
        if len(etag) == 32 and "-" not in etag:
            return etag.lower()
    md5 = info.get("md5Hash")
    if isinstance(md5, str) and md5:
        return base64.b64decode(md5).hex()
    settings = info.get("content_settings")
    if settings is not None:
        content_md5 = (
            settings.get("content_md5")
            if isinstance(settings, dict)
            else getattr(settings, "content_md5", None)
        )
        if content_md5:
            return bytes(content_md5).hex()
    return None


def iter_chunks(fs: AbstractFileSystem, native_path: str) -> Iterator[bytes]:
    """An object's bytes in pieces of about `CHUNK` (memory bounded): one streamed request
    where the filesystem has ``iter_bytes`` (obstore), else `CHUNK`-sized reads."""
    iter_bytes = getattr(fs, "iter_bytes", None)
    if iter_bytes is not None:
        yield from iter_bytes(native_path, CHUNK)
        return
    with fs.open(native_path, "rb", block_size=CHUNK, cache_type="none") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def stream_md5(fs: AbstractFileSystem, native_path: str) -> str:
    """MD5 (hex) of an object read back in pieces (`iter_chunks`, memory bounded)."""
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in iter_chunks(fs, native_path):
        digest.update(chunk)
    return digest.hexdigest()
