"""Helpers the store kinds share: secrets from env vars, optional imports, client timeouts,
metadata and time values as the clients report them."""

from __future__ import annotations

import importlib
import os
from datetime import datetime
from typing import Any

from skyfabric.errors import ConfigError, MissingDependencyError, register_secret

__all__ = [
    "CONNECT_TIMEOUT",
    "READ_TIMEOUT",
    "env_secret",
    "import_optional",
    "metadata_tags",
    "posix_seconds",
]

# Seconds a client waits to connect, and for the next bytes of an answer, before the call
# fails (and is retried by the client's own bounded retries): a store that stopped answering
# costs a bounded time, never a hang.
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 30


def env_secret(store: str, field_name: str, var: str | None) -> str | None:
    """Read the secret held by environment variable ``var`` (``None``: not configured).

    The value is registered for redaction (`skyfabric.errors.redact`).

    Raises:
        ConfigError: the store config names ``var`` but it is not set.
    """
    if var is None:
        return None
    value = os.environ.get(var)
    if value is None:
        raise ConfigError(
            f"stores.{store}.{field_name} names the environment variable {var!r}, which is not set; "
            f"fix: export {var}=... or remove {field_name} to use the provider's default credentials"
        )
    register_secret(value)
    return value


def import_optional(module_name: str, kind: str, extra: str | None) -> Any:
    """Import ``module_name`` for store kind ``kind``.

    Raises:
        MissingDependencyError: the module is not installed; the message names the extra.
    """
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        fix = f"pip install 'skyfabric[{extra}]'" if extra else f"pip install {module_name}"
        raise MissingDependencyError(
            f"store kind {kind!r} needs the {module_name!r} package; fix: {fix}"
        ) from exc


def metadata_tags(meta: Any) -> dict[str, str]:
    """User metadata of a listing/info entry as ``{str: str}`` (adlfs' ``is_directory`` flag
    left out); ``{}`` when there is none."""
    if isinstance(meta, dict):
        return {str(k): str(v) for k, v in meta.items() if k != "is_directory"}
    return {}


def posix_seconds(value: Any) -> float | None:
    """A time as the clients report it (datetime, POSIX number, ISO 8601 text) -> POSIX
    seconds; ``None`` when it is none of those."""
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
