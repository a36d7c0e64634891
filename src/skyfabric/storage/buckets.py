"""Creating the bucket, container or directory a store names (``skyfabric stores --create``).

Each store kind's class creates its own (`StoreKind.create_bucket`), through the client the
store already has (so the same endpoint, credentials and timeouts apply); this module
checks the endpoint first and maps client errors at one boundary:

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

from skyfabric.errors import ConfigError, StoreError, StoreUnreachableError, brief
from skyfabric.storage.kinds._bucket_creation import BucketCreation
from skyfabric.storage.stores import CONNECT_TIMEOUT, Store

__all__ = ["BucketCreation", "create_bucket"]


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
    _check_endpoint(store)
    try:
        return store.create_bucket()
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
    endpoint = getattr(store.config, "endpoint", None)
    return f"{store.location_label()}" + (f" at {endpoint}" if endpoint else "")
