"""One exception tree for skyfabric.

Every error a user can see is a `FabricError`; where a builtin fits, the error
subclasses it too, so ``except FileNotFoundError`` keeps working::

    FabricError
    ├── ConfigError                 invalid or missing configuration (field, value, fix)
    ├── MissingDependencyError      an optional extra is not installed (names the pip command)
    ├── StoreError
    │   ├── UnknownStoreError       (KeyError)  fabric://<store>/... names no configured store
    │   ├── InvalidPathError        (ValueError) path escapes the store, empty bucket, bad URL
    │   ├── ObjectNotFoundError     (FileNotFoundError)
    │   ├── ObjectExistsError       (FileExistsError) a conditional write found an object
    │   ├── StoreUnreachableError   (ConnectionError) endpoint down, credentials refused
    │   └── StorageClassChangeError an object's class / tier cannot be changed in place
    ├── TransferError               an object failed to copy or verify
    │   └── VerificationError       size or checksum of the copy differs from the source
    ├── DriftError
    │   ├── BaselineError           (ValueError) baseline cannot be fitted or loaded
    │   ├── MonitorSettingError     (ValueError) a history name or window that cannot work
    │   └── DriftThresholdExceeded  raised by callers that want an exception on drift
    └── CaptureError                live inputs cannot be captured: a type that cannot be
                                    widened, rows of an unknown kind, a store that failed

Errors raised by botocore, google-cloud, azure and pyiceberg are translated at the layer
boundary with ``raise ... from exc`` so the original stays in ``__cause__``. Messages never
contain secrets: `redact` scrubs any configured secret value that slipped into text.
"""

from __future__ import annotations

import re
import threading

__all__ = [
    "BaselineError",
    "CaptureError",
    "ConfigError",
    "DriftError",
    "DriftThresholdExceeded",
    "FabricError",
    "InvalidPathError",
    "MissingDependencyError",
    "MonitorSettingError",
    "ObjectExistsError",
    "ObjectNotFoundError",
    "StorageClassChangeError",
    "StoreError",
    "StoreUnreachableError",
    "TransferError",
    "UnknownStoreError",
    "VerificationError",
    "redact",
]

_secrets_lock = threading.Lock()
_known_secrets: set[str] = set()
# Well-known secret shapes, scrubbed even when we never saw the value (e.g. in botocore text).
_SECRET_PATTERNS = [
    re.compile(r"(AccountKey=)[^;\s]+", re.IGNORECASE),
    re.compile(r"(SharedAccessSignature=)[^;\s]+", re.IGNORECASE),
    re.compile(r"(sig=)[^&\s]+", re.IGNORECASE),
    re.compile(r"(://[^/\s:@]+:)[^/\s@]+(?=@)"),  # a password in a URL's user info
]


def register_secret(value: str | None) -> None:
    """Remember a secret value so that `redact` scrubs it from any message."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _known_secrets.add(value)


def redact(text: str) -> str:
    """Return ``text`` with every registered secret and well-known secret shape replaced."""
    with _secrets_lock:
        secrets = sorted(_known_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


def brief(exc: BaseException, limit: int = 300) -> str:
    """``"Type: first line"`` of ``exc``, cut to ``limit`` characters and redacted: client
    errors (botocore, azure-core) carry multi-line bodies with headers that do not belong in
    a one-line message."""
    lines = str(exc).strip().splitlines() or [""]
    return redact(f"{type(exc).__name__}: {lines[0][:limit]}")


class FabricError(Exception):
    """Root of every skyfabric error. The message says what, with which input, and the fix."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))

    def __str__(self) -> str:
        return redact(super().__str__())


class ConfigError(FabricError, ValueError):
    """The configuration is invalid: names the field, the value and what to write instead."""


class MissingDependencyError(FabricError, ImportError):
    """An optional dependency is missing; the message names the ``pip install`` to run."""


class StoreError(FabricError):
    """A problem reaching or addressing a store."""


class UnknownStoreError(StoreError, KeyError):
    """A ``fabric://<store>/...`` URL names a store that is not configured."""

    def __str__(self) -> str:  # KeyError.__str__ would repr() the message
        return redact(Exception.__str__(self))


class InvalidPathError(StoreError, ValueError):
    """A path escapes its store, has an empty bucket, or is not a fabric URL."""


class ObjectNotFoundError(StoreError, FileNotFoundError):
    """No object at the path."""


class ObjectExistsError(StoreError, FileExistsError):
    """A write that must not replace an object (``mode="create"``) found one at the path."""


class StoreUnreachableError(StoreError, ConnectionError):
    """The store's endpoint cannot be reached or refused the credentials."""


class StorageClassChangeError(StoreError):
    """An in-place storage class / access tier change is not possible for this store or
    failed (placement raises it as `skyfabric.placement.StorageClassError`)."""


class TransferError(FabricError):
    """An object could not be copied; nothing was left under the destination's final name."""


class VerificationError(TransferError):
    """The copy's size or checksum differs from the source; the copy was discarded."""


class DriftError(FabricError):
    """A problem computing drift."""


class BaselineError(DriftError, ValueError):
    """A baseline cannot be fitted, saved or loaded."""


class MonitorSettingError(DriftError, ValueError):
    """A monitor setting cannot work: a history name that is not ``namespace.table`` or names
    a table of another kind, a window so small the source makes too many windows."""


class DriftThresholdExceeded(DriftError):
    """Drift crossed the configured threshold (raised only when the caller asks for it)."""


class CaptureError(FabricError):
    """Rows cannot be captured (`skyfabric.capture.Capture`): a column whose type changed in
    a way that cannot be widened, rows of an unsupported kind, or files the store refused."""
