"""Reading and changing an object's storage class / access tier in place, per store kind.

- S3: ``CopyObject`` of the object onto itself with ``StorageClass`` and
  ``MetadataDirective=COPY`` (AWS S3 API reference, "CopyObject": the documented way to
  change the class of an existing object; up to 5 GiB per request). Larger objects (over
  `S3_MULTIPART_THRESHOLD`) are copied onto themselves part by part: ``CreateMultipartUpload``
  with the new ``StorageClass`` and the object's content type, headers, user metadata, tags
  and KMS key; ``UploadPartCopy`` of each byte range (`S3_PART_SIZE`, at most 10,000 parts,
  each pinned to the source's ETag/version); ``CompleteMultipartUpload``; on any failure
  ``AbortMultipartUpload``, which leaves the original object as it was (AWS S3 user guide,
  "Copying an object using multipart upload").
- GCS: ``objects.rewrite`` onto itself with ``storageClass`` in the body (Cloud Storage JSON
  API, "Objects: rewrite"; looped on ``rewriteToken`` for large objects).
- Azure: ``Set Blob Tier`` (Blob service REST API) through azure-storage-blob's
  ``set_standard_blob_tier``.

None of these rewrite the bytes a reader sees: size and content stay the same, which the
mover checks after each change. A multipart copy gives the object a composite ETag
(``<md5 of part md5s>-<parts>``), which is not an MD5 of the content; an object over 5 GiB
was itself uploaded in parts, so it had no MD5 ETag before the change either.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from skyfabric.errors import redact
from skyfabric.placement.errors import StorageClassError
from skyfabric.storage.object_classes import rewrite_gcs_class, set_azure_tier
from skyfabric.storage.stores import Store

__all__ = [
    "S3_MULTIPART_THRESHOLD",
    "S3_PART_CONCURRENCY",
    "S3_PART_SIZE",
    "access_time",
    "modified_time",
    "read_class",
    "set_class",
]

S3_COPY_LIMIT = 5 * 2**30
"""Largest object one ``CopyObject`` may copy, bytes (AWS S3 API reference, "CopyObject")."""
S3_MULTIPART_THRESHOLD = S3_COPY_LIMIT
"""Objects larger than this (bytes) change class through a multipart copy. Up to the
``CopyObject`` limit the single request is kept: it is atomic and keeps the MD5 ETag."""
S3_PART_SIZE = 512 * 2**20
"""Bytes per ``UploadPartCopy`` (raised for objects over 5 TiB / 10,000; S3 allows 5 MiB to
5 GiB per part, 10,000 parts: AWS S3 user guide, "Amazon S3 multipart upload limits")."""
S3_PART_CONCURRENCY = 8
"""``UploadPartCopy`` requests in flight at once (each is a server-side copy)."""
_S3_MAX_PARTS = 10_000
# Headers CopyObject keeps with MetadataDirective=COPY that a new multipart upload must be given.
_S3_HEADERS = (
    "ContentType",
    "ContentEncoding",
    "ContentDisposition",
    "ContentLanguage",
    "CacheControl",
    "Expires",
    "WebsiteRedirectLocation",
)


def _kms(head: dict[str, Any]) -> dict[str, Any]:
    """Encryption arguments that keep an object's KMS key through a copy onto itself (SSE-S3
    or none: nothing, the bucket default applies, as it did when the object was written)."""
    if head.get("ServerSideEncryption") != "aws:kms":
        return {}
    out: dict[str, Any] = {"ServerSideEncryption": "aws:kms"}
    for h in ("SSEKMSKeyId", "BucketKeyEnabled"):
        if head.get(h) is not None:
            out[h] = head[h]
    return out


def _split(native: str) -> tuple[str, str]:
    bucket, _, key = native.lstrip("/").partition("/")
    return bucket, key


def _azure_props(store: Store, native: str) -> Any:
    from fsspec.asyn import sync

    container, blob = _split(native)

    async def props() -> Any:
        async with store.fs.service_client.get_blob_client(container, blob) as client:
            return await client.get_blob_properties()

    return sync(store.fs.loop, props)


def read_class(store: Store, native: str, info: dict[str, Any] | None = None) -> str | None:
    """The object's storage class / access tier as the store reports it (``None``: unknown)."""
    info = info or {}
    if store.kind == "s3":
        return info.get("StorageClass") or store.fs.info(native).get("StorageClass") or "STANDARD"
    if store.kind == "gcs":
        return info.get("storageClass") or store.fs.info(native).get("storageClass")
    if store.kind == "azure":
        return getattr(_azure_props(store, native), "blob_tier", None)
    return None


def set_class(store: Store, native: str, storage_class: str, size: int) -> None:
    """Change the object's class in place.

    ``size`` (bytes) picks the S3 method: over `S3_MULTIPART_THRESHOLD`, a multipart copy.

    Raises:
        StorageClassError: the store kind has no classes, or an S3 multipart copy failed
            (the upload is aborted and the object left as it was).
    """
    if store.kind == "s3":
        bucket, key = _split(native)
        if size > S3_MULTIPART_THRESHOLD:
            _s3_multipart_copy(store, bucket, key, storage_class, size)
            return
        # CopyObject re-encrypts with the bucket default unless told the object's KMS key.
        head = store.fs.call_s3("head_object", Bucket=bucket, Key=key)
        store.fs.call_s3(
            "copy_object",
            Bucket=bucket,
            Key=key,
            CopySource={"Bucket": bucket, "Key": key},
            StorageClass=storage_class,
            MetadataDirective="COPY",
            **_kms(head),
        )
        return
    if store.kind == "gcs":
        rewrite_gcs_class(store, native, storage_class)
        return
    if store.kind == "azure":
        set_azure_tier(store, native, storage_class)
        return
    raise StorageClassError(
        f"store {store.name!r} is kind {store.kind}, which has no storage classes; "
        "fix: move the objects to another store with `target` instead"
    )


def part_ranges(size: int, part_size: int | None = None) -> list[tuple[int, int, int]]:
    """``(part number, first byte, last byte)`` (inclusive, as ``x-amz-copy-source-range``)
    covering ``size`` bytes in parts of ``part_size`` (default `S3_PART_SIZE`), raised so that
    there are at most 10,000."""
    part = max(part_size or S3_PART_SIZE, -(-size // _S3_MAX_PARTS), 1)
    return [
        (i + 1, start, min(start + part, size) - 1) for i, start in enumerate(range(0, size, part))
    ]


async def _upload_part_copy(fs: Any, **params: Any) -> dict[str, Any]:
    """One ``UploadPartCopy`` -> ``{"PartNumber", "ETag"}`` (separate so a test can fail one)."""
    out = await fs._call_s3("upload_part_copy", **params)
    return {"PartNumber": params["PartNumber"], "ETag": out["CopyPartResult"]["ETag"]}


async def _copy_parts(
    fs: Any, common: dict[str, Any], ranges: list[tuple[int, int, int]]
) -> list[dict[str, Any]]:
    limit = asyncio.Semaphore(S3_PART_CONCURRENCY)

    async def one(number: int, first: int, last: int) -> dict[str, Any]:
        async with limit:
            return await _upload_part_copy(
                fs, PartNumber=number, CopySourceRange=f"bytes={first}-{last}", **common
            )

    try:
        async with asyncio.TaskGroup() as group:  # the first failure cancels the other parts
            tasks = [group.create_task(one(*r)) for r in ranges]
    except BaseExceptionGroup as grouped:
        raise grouped.exceptions[0] from None
    return [t.result() for t in tasks]


def _s3_multipart_copy(store: Store, bucket: str, key: str, storage_class: str, size: int) -> None:
    from fsspec.asyn import sync

    fs: Any = store.fs
    where = f"{store.name}:{bucket}/{key}"
    try:
        head = fs.call_s3("head_object", Bucket=bucket, Key=key)
        tags = fs.call_s3("get_object_tagging", Bucket=bucket, Key=key).get("TagSet") or []
    except Exception as exc:
        raise StorageClassError(
            f"{where}: cannot read the object's headers and tags before a multipart class "
            f"change ({redact(f'{type(exc).__name__}: {exc}')}); nothing changed. Fix: check "
            "s3:GetObject and s3:GetObjectTagging permissions"
        ) from exc
    if int(head.get("ContentLength") or size) != size:
        raise StorageClassError(
            f"{where} changed size ({head.get('ContentLength')} bytes, planned {size}) before its "
            "class change; nothing changed. Fix: plan again"
        )
    create: dict[str, Any] = {
        "Bucket": bucket,
        "Key": key,
        "StorageClass": storage_class,
        "Metadata": head.get("Metadata") or {},
    }
    create.update({h: head[h] for h in _S3_HEADERS if head.get(h) is not None})
    create.update(_kms(head))
    if tags:
        create["Tagging"] = urlencode([(t["Key"], t["Value"]) for t in tags])
    source: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if head.get("VersionId") and head["VersionId"] != "null":
        source["VersionId"] = head["VersionId"]  # every part from the same version
    try:
        upload_id = fs.call_s3("create_multipart_upload", **create)["UploadId"]
    except Exception as exc:
        raise StorageClassError(
            f"{where}: CreateMultipartUpload for class {storage_class} failed "
            f"({redact(f'{type(exc).__name__}: {exc}')}); nothing changed. Fix: check "
            "s3:PutObject permission and that the store supports the class"
        ) from exc
    common = {
        "Bucket": bucket,
        "Key": key,
        "UploadId": upload_id,
        "CopySource": source,
        "CopySourceIfMatch": head["ETag"],  # and unchanged since the HEAD
    }
    ranges = part_ranges(size)
    try:
        parts = sync(fs.loop, _copy_parts, fs, common, ranges)
        fs.call_s3(
            "complete_multipart_upload",
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )
    except BaseException as exc:
        try:
            fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)
            aborted = "the upload was aborted"
        except Exception as abort_exc:
            aborted = (
                f"aborting upload {upload_id} failed too ({type(abort_exc).__name__}); fix: "
                "abort it (aws s3api abort-multipart-upload) or let a lifecycle rule expire it"
            )
        if not isinstance(exc, Exception):
            raise  # KeyboardInterrupt and the like: aborted, and re-raised as they are
        raise StorageClassError(
            f"{where}: multipart copy to class {storage_class} ({len(ranges)} parts) failed: "
            f"{redact(f'{type(exc).__name__}: {exc}')}; {aborted}, the object is unchanged. "
            "Fix: rerun `skyfabric placement apply`"
        ) from exc


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def modified_time(info: dict[str, Any]) -> float:
    """Last-modified time (POSIX seconds) from an fsspec ``info`` dict of any kind (0 if none)."""
    for key in ("LastModified", "mtime", "last_modified", "updated", "created"):
        got = _seconds(info.get(key))
        if got is not None:
            return got
    return 0.0


def access_time(store: Store, native: str, info: dict[str, Any]) -> float | None:
    """Last access where the store gives it: Azure ``last_accessed_on`` (when access tracking
    is on), a local file's ``st_atime``; else ``None``."""
    if store.kind == "azure":
        return _seconds(info.get("last_accessed_on"))
    if store.kind == "local":
        try:
            return os.stat(native).st_atime
        except OSError:
            return None
    return None
