"""Creating the bucket, container or directory a store names (``skyfabric stores --create``).

One function per store kind, through the client the store already has (so the same
endpoint, credentials and timeouts apply):

- ``s3`` (AWS and S3-compatible endpoints such as MinIO): ``HeadBucket``, then
  ``CreateBucket`` with a ``LocationConstraint`` of the store's ``region``, except in
  ``us-east-1``, where S3 refuses one (AWS S3 API reference, "CreateBucket":
  "If you don't specify a Region, the bucket is created in US East (N. Virginia)").
- ``gcs``: ``buckets.get``, then ``buckets.insert`` in the store's ``project`` with
  ``location`` = the store's ``region`` and ``storageClass`` = its ``storage_class``, which
  becomes the bucket's default class (Cloud Storage JSON API, "Buckets: insert").
- ``azure``: ``Create Container`` (Blob service REST API); an existing one answers
  ``ContainerAlreadyExists``.
- ``local``: the directory (with parents), ``memory``: the root folder.

Creating is idempotent: an existing bucket you own is reported, not an error.
"""

from __future__ import annotations

import socket
import urllib.parse
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from skyfabric.config import AzureStoreConfig, GCSStoreConfig, S3StoreConfig
from skyfabric.errors import ConfigError, StoreError, StoreUnreachableError, brief
from skyfabric.storage.stores import CONNECT_TIMEOUT, Store

__all__ = ["BucketCreation", "create_bucket"]

# Region S3 creates a bucket in when CreateBucket carries no LocationConstraint, and which it
# refuses as an explicit constraint (InvalidLocationConstraint).
_S3_DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class BucketCreation:
    """What `create_bucket` did.

    Attributes:
        store: the store name.
        kind: the store kind.
        location: what was created, e.g. ``s3://telemetry-raw``, ``gs://acme-archive``,
            ``abfs://features``, ``/data/scratch``, ``memory://skyfabric``.
        created: ``True`` when it was created now, ``False`` when it existed already.
        details: what it was created with (region/location, storage class, endpoint).
    """

    store: str
    kind: str
    location: str
    created: bool
    details: str = ""

    @property
    def message(self) -> str:
        """One line for people, e.g. ``created s3://x for store 'lake' (region eu-west-1)``."""
        extra = f" ({self.details})" if self.details else ""
        if self.created:
            return f"created {self.location} for store {self.store!r}{extra}"
        return f"{self.location} of store {self.store!r} already exists; nothing to do{extra}"


def create_bucket(store: Store) -> BucketCreation:
    """Create the bucket / container / directory ``store`` names, if it does not exist.

    Returns:
        A `BucketCreation` saying whether it was created now or existed already.

    Raises:
        ConfigError: the configuration lacks what creation needs (a GCS ``project``), or the
            store refused a setting (region, storage class, bucket name); the message names
            the field to change.
        StoreError: the name is taken by another account (bucket names are global on S3
            and GCS).
        StoreUnreachableError: the endpoint cannot be reached, or the credentials may not
            create buckets.
    """
    creator = _CREATORS[store.kind]
    _check_endpoint(store)
    try:
        return creator(store)
    except (StoreError, ConfigError):
        raise
    except PermissionError as exc:
        raise StoreUnreachableError(
            f"store {store.name!r}: not allowed to create {_where(store)} ({brief(exc)}); "
            "fix: use credentials that may create buckets/containers, or ask an administrator"
        ) from exc
    except Exception as exc:  # botocore/azure-core/aiohttp errors: ours at this boundary
        raise StoreUnreachableError(
            f"store {store.name!r}: could not create {_where(store)}: {brief(exc)}; fix: check "
            "that the endpoint answers and the credentials are right (skyfabric stores)"
        ) from exc


def _check_endpoint(store: Store) -> None:
    """One TCP connect to a store's ``endpoint``: a closed port fails now, not after the
    client's retries (s3fs takes ~12 s to give up on a refused connection)."""
    endpoint = getattr(store.config, "endpoint", None)
    if not endpoint:
        return
    url = urllib.parse.urlsplit(endpoint)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise StoreUnreachableError(
            f"store {store.name!r}: cannot connect to its endpoint {host}:{port} "
            f"({exc.strerror or exc}); fix: start the server or correct `endpoint` in "
            f"[stores.{store.name}]"
        ) from exc


def _where(store: Store) -> str:
    cfg = store.config
    if isinstance(cfg, AzureStoreConfig):
        return f"container {cfg.container!r}"
    if isinstance(cfg, S3StoreConfig | GCSStoreConfig):
        endpoint = f" at {cfg.endpoint}" if cfg.endpoint else ""
        return f"bucket {cfg.bucket!r}{endpoint}"
    return store.native_url()


# -- s3 --------------------------------------------------------------------------------------


def _s3_error_code(exc: BaseException) -> str:
    from botocore.exceptions import ClientError

    while exc is not None:
        if isinstance(exc, ClientError):
            return str(exc.response.get("Error", {}).get("Code", ""))
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return ""


def _create_s3(store: Store) -> BucketCreation:
    from botocore.exceptions import ClientError

    cfg = store.config
    assert isinstance(cfg, S3StoreConfig)
    fs = store.fs
    details = [f"region {cfg.region or _S3_DEFAULT_REGION}"]
    if cfg.endpoint:
        details.append(f"endpoint {cfg.endpoint}")
    result = BucketCreation(
        store.name, store.kind, f"s3://{cfg.bucket}", created=True, details=", ".join(details)
    )
    try:
        fs.call_s3("head_bucket", Bucket=cfg.bucket)
    except FileNotFoundError:
        pass  # s3fs translates 404 NoSuchBucket
    except PermissionError as exc:
        raise StoreError(
            f"store {store.name!r}: bucket {cfg.bucket!r} exists but these credentials may not "
            f"use it ({brief(exc)}); fix: bucket names are global on S3, pick another `bucket` "
            f"in [stores.{store.name}], or use the owner's credentials"
        ) from exc
    else:
        return replace(result, created=False)
    params: dict[str, Any] = {"Bucket": cfg.bucket}
    if cfg.region and cfg.region != _S3_DEFAULT_REGION:
        params["CreateBucketConfiguration"] = {"LocationConstraint": cfg.region}
    try:
        fs.call_s3("create_bucket", **params)
    except (ClientError, OSError, ValueError) as exc:
        code = _s3_error_code(exc)
        if code == "BucketAlreadyOwnedByYou":  # created meanwhile, by us
            return replace(result, created=False)
        if code == "BucketAlreadyExists":
            raise StoreError(
                f"store {store.name!r}: bucket name {cfg.bucket!r} is taken by another account "
                f"(bucket names are global); fix: choose another `bucket` in [stores.{store.name}]"
            ) from exc
        if code in ("InvalidLocationConstraint", "IllegalLocationConstraintException"):
            raise ConfigError(
                f"store {store.name!r}: the endpoint refused region {cfg.region!r} for a new "
                f"bucket ({brief(exc)}); fix: set `region` in [stores.{store.name}] to the "
                "endpoint's region"
            ) from exc
        if code == "InvalidBucketName":
            raise ConfigError(
                f"store {store.name!r}: the endpoint refused the bucket name {cfg.bucket!r} "
                f"({brief(exc)}); fix: choose another `bucket` in [stores.{store.name}]"
            ) from exc
        raise
    fs.invalidate_cache()
    return result


# -- gcs -------------------------------------------------------------------------------------


def _create_gcs(store: Store) -> BucketCreation:
    cfg = store.config
    assert isinstance(cfg, GCSStoreConfig)
    if not cfg.project:
        raise ConfigError(
            f"store {store.name!r}: creating GCS bucket {cfg.bucket!r} needs the project to "
            f'bill it to; fix: set project = "<project id>" in [stores.{store.name}]'
        )
    fs = store.fs
    details = [f"project {cfg.project}"]
    body: dict[str, Any] = {"name": cfg.bucket}
    if cfg.region:
        body["location"] = cfg.region
        details.append(f"location {cfg.region}")
    if cfg.storage_class:
        body["storageClass"] = cfg.storage_class
        details.append(f"default storage class {cfg.storage_class}")
    if cfg.endpoint:
        details.append(f"endpoint {cfg.endpoint}")
    result = BucketCreation(
        store.name, store.kind, f"gs://{cfg.bucket}", created=True, details=", ".join(details)
    )
    try:
        fs.call("GET", "b/{}", cfg.bucket, json_out=True)
    except FileNotFoundError:
        pass
    else:
        return replace(result, created=False)
    try:
        fs.call("POST", "b", project=cfg.project, json=body, json_out=True)
    except (OSError, ValueError) as exc:
        code = getattr(exc, "code", None)
        if code == 409:  # exists: ours, created meanwhile, or someone else's
            try:
                fs.call("GET", "b/{}", cfg.bucket, json_out=True)
            except OSError:
                raise StoreError(
                    f"store {store.name!r}: bucket name {cfg.bucket!r} is taken by another "
                    f"project (bucket names are global); fix: choose another `bucket` in "
                    f"[stores.{store.name}]"
                ) from exc
            return replace(result, created=False)
        if isinstance(exc, ValueError) or code == 400:
            raise ConfigError(
                f"store {store.name!r}: GCS refused to create bucket {cfg.bucket!r} with "
                f"{', '.join(details)} ({brief(exc)}); fix: check `region` (a GCS location such "
                f"as US or EUROPE-WEST3), `storage_class` and `bucket` in [stores.{store.name}]"
            ) from exc
        raise
    fs.invalidate_cache()
    return result


# -- azure -----------------------------------------------------------------------------------


def _create_azure(store: Store) -> BucketCreation:
    from azure.core.exceptions import ResourceExistsError
    from fsspec.asyn import sync

    cfg = store.config
    assert isinstance(cfg, AzureStoreConfig)
    fs = store.fs
    details = f"endpoint {cfg.endpoint}" if cfg.endpoint else (f"account {cfg.account}" if cfg.account else "")
    result = BucketCreation(
        store.name, store.kind, f"abfs://{cfg.container}", created=True, details=details
    )

    async def create() -> None:
        await fs.service_client.create_container(cfg.container)

    try:
        sync(fs.loop, create)
    except ResourceExistsError:
        return replace(result, created=False)
    except Exception as exc:
        status = getattr(exc, "status_code", None)
        if status in (401, 403):
            raise PermissionError(brief(exc)) from exc
        if status == 400:
            raise ConfigError(
                f"store {store.name!r}: Azure refused to create container {cfg.container!r} "
                f"({brief(exc)}); fix: check `container` in [stores.{store.name}] (3-63 "
                "lowercase letters, digits and single hyphens)"
            ) from exc
        raise OSError(brief(exc)) from exc
    fs.invalidate_cache()
    return result


# -- local and memory ------------------------------------------------------------------------


def _create_local(store: Store) -> BucketCreation:
    path = Path(store.root)
    existed = path.is_dir()
    if path.exists() and not existed:
        raise ConfigError(
            f"store {store.name!r}: {path} exists and is not a directory; fix: point `path` "
            f"in [stores.{store.name}] at a directory"
        )
    path.mkdir(parents=True, exist_ok=True)
    return BucketCreation(store.name, store.kind, str(path), created=not existed)


def _create_memory(store: Store) -> BucketCreation:
    fs = store.fs
    existed = fs.isdir(store.root)
    if not existed:
        fs.makedirs(store.root, exist_ok=True)
    return BucketCreation(store.name, store.kind, f"memory://{store.root}", created=not existed)


_CREATORS = {
    "s3": _create_s3,
    "gcs": _create_gcs,
    "azure": _create_azure,
    "local": _create_local,
    "memory": _create_memory,
}
