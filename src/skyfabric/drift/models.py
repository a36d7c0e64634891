"""Baselines beside their models: one folder per model version, on any store.

Layout (``<registry>`` defaults as `registry_root` says)::

    <registry>/<name>/<version>/
        model.*          the model artifact(s), written by the training job
        metadata.json    what the version is: {"name", "version", "baseline", ...}
        baseline.json    the training data's baseline (`skyfabric.drift.save_baseline`)

``skyfabric drift baseline SOURCE --model NAME --version V`` writes ``baseline.json`` there
and adds a ``baseline`` entry to ``metadata.json`` (created when missing, other keys kept);
``skyfabric drift monitor SOURCE --model NAME --version V`` reads it back. A baseline is
thus promoted, copied and deleted with its model, and a monitor always compares against
the data the deployed version was trained on.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from skyfabric.drift.check import load_baseline, save_baseline
from skyfabric.drift.file_io import read_text, write_text
from skyfabric.errors import DriftError, ObjectNotFoundError

if TYPE_CHECKING:
    from skyfabric.drift.baseline import Baseline
    from skyfabric.fabric import Fabric

__all__ = [
    "REGISTRY_ENV",
    "load_model_baseline",
    "model_dir",
    "registry_root",
    "save_model_baseline",
]

#: Environment variable naming the registry root (a ``fabric://`` URL or a local path).
REGISTRY_ENV = "SKYFABRIC_MODEL_REGISTRY"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def registry_root(fabric: Fabric, registry: str | None = None) -> str:
    """Where model folders live: ``registry``, else ``$SKYFABRIC_MODEL_REGISTRY``, else
    ``fabric://registry/models`` when a store is named ``registry``, else
    ``fabric://local/models``.

    Raises:
        DriftError: none of these applies (no ``registry`` nor ``local`` store).
    """
    chosen = registry or os.environ.get(REGISTRY_ENV)
    if chosen:
        return chosen.rstrip("/")
    for store in ("registry", "local"):
        if store in fabric.config.stores:
            return f"fabric://{store}/models"
    raise DriftError(
        "no model registry is configured: there is no store named 'registry' or 'local'; "
        f"fix: pass --registry fabric://<store>/models, or set {REGISTRY_ENV}"
    )


def _part(kind: str, value: str) -> str:
    if not _NAME.match(value or "") or value in (".", ".."):
        raise DriftError(
            f"model {kind} {value!r} is not a plain name; fix: use letters, digits, '.', '_' "
            "and '-', starting with a letter or digit (e.g. --model churn --version 3)"
        )
    return value


def model_dir(fabric: Fabric, name: str, version: str, registry: str | None = None) -> str:
    """``<registry>/<name>/<version>`` (no trailing ``/``).

    Raises:
        DriftError: ``name`` or ``version`` is not a plain name (no ``/``, no ``..``).
    """
    return f"{registry_root(fabric, registry)}/{_part('name', name)}/{_part('version', str(version))}"


def save_model_baseline(
    baseline: Baseline,
    fabric: Fabric,
    name: str,
    version: str,
    *,
    registry: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> str:
    """Write ``baseline.json`` into the model's folder and record it in ``metadata.json``;
    return the baseline's URL. Existing metadata keys are kept (``metadata`` adds to them).
    """
    folder = model_dir(fabric, name, version, registry)
    url = f"{folder}/baseline.json"
    save_baseline(baseline, url, fabric)
    meta_url = f"{folder}/metadata.json"
    try:
        meta = json.loads(read_text(meta_url, fabric=fabric))
    except ObjectNotFoundError:
        meta = {"name": name, "version": str(version)}
    if not isinstance(meta, dict):
        raise DriftError(f"{meta_url} does not hold a JSON object; fix: repair or remove it")
    meta.update(metadata or {})
    meta["baseline"] = {
        "path": "baseline.json",
        "source": baseline.source,
        "rows": baseline.rows,
        "columns": list(baseline.columns),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_text(meta_url, json.dumps(meta, indent=2), fabric=fabric, example="metadata.json")
    return url


def load_model_baseline(
    fabric: Fabric, name: str, version: str, *, registry: str | None = None
) -> tuple[Baseline, str]:
    """(the baseline of model ``name`` version ``version``, its URL).

    Raises:
        ObjectNotFoundError: the folder has no ``baseline.json``; says how to write one.
        BaselineError: the file is not a baseline.
    """
    url = f"{model_dir(fabric, name, version, registry)}/baseline.json"
    try:
        return load_baseline(url, fabric=fabric), url
    except ObjectNotFoundError as exc:
        raise ObjectNotFoundError(
            f"model {name} version {version} has no baseline at {url}; fix: write it with "
            f"skyfabric drift baseline <training data> --model {name} --version {version}"
        ) from exc
