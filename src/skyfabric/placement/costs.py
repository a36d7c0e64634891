"""The cost model: USD per GB-month stored, per-request transitions, retrieval and egress per
GB, and minimum storage duration with its early-deletion charge.

Default list prices (USD; a GB is 2**30 bytes, a month is 30 days, as the providers bill):

- AWS S3, US East (N. Virginia), https://aws.amazon.com/s3/pricing/ (first 50 TB tier),
  as published in 2024-10: STANDARD 0.023/GB-mo; STANDARD_IA 0.0125 (30 days minimum,
  retrieval 0.01/GB); ONEZONE_IA 0.01 (30 d, 0.01/GB); INTELLIGENT_TIERING 0.023 (frequent
  tier); GLACIER_IR 0.004 (90 d, 0.03/GB); GLACIER (Flexible Retrieval) 0.0036 (90 d,
  0.01/GB, **offline**: restore before read); DEEP_ARCHIVE 0.00099 (180 d, 0.02/GB,
  **offline**). PUT/COPY 0.005 per 1000; lifecycle transitions 0.01 (IA), 0.02 (GLACIER_IR),
  0.03 (GLACIER), 0.05 (DEEP_ARCHIVE) per 1000. Internet egress 0.09/GB.
- Google Cloud Storage, regional us-east1, https://cloud.google.com/storage/pricing,
  as published in 2024-10: STANDARD 0.020; NEARLINE 0.010 (30 d, retrieval 0.01/GB);
  COLDLINE 0.004 (90 d, 0.02/GB); ARCHIVE 0.0012 (365 d, 0.05/GB; online). Class A
  operations 0.005 / 0.01 / 0.02 / 0.05 per 1000. Internet egress 0.12/GB.
- Azure Blob Storage, LRS, East US, https://azure.microsoft.com/pricing/details/storage/blobs/,
  as published in 2024-10: Hot 0.018; Cool 0.010 (30 d, retrieval 0.01/GB); Cold 0.0036
  (90 d, 0.03/GB); Archive 0.00099 (180 d, 0.02/GB, **offline**: rehydrate before read).
  Write operations 0.05 / 0.10 / 0.18 / 0.10 per 10,000. Internet egress 0.087/GB.
- On-prem S3-compatible endpoints (MinIO), local disks and memory have no list price: 0,
  until overridden in ``[placement.prices]``.

Early deletion (all three providers): an object removed or re-classed before its class's
minimum duration is billed for the remaining days:
``GB * storage_gb_month * (min_days - age_days) / 30``; age is counted from last modified.
A move's one-time cost = retrieval out of the source class + early deletion + egress (when
provider or region change) + one write request into the target class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from skyfabric.config import S3StoreConfig

__all__ = ["GB", "Price", "PriceTable", "default_class", "provider_of"]

GB = 2**30
DAY = 86400.0


@dataclass(frozen=True)
class Price:
    """One price-table entry; see the module docstring for units and sources."""

    storage_gb_month: float = 0.0
    transition_per_1000: float = 0.0
    retrieval_per_gb: float = 0.0
    egress_per_gb: float = 0.0
    min_days: float = 0.0
    offline: bool = False


def _p(
    storage: float, req: float, retr: float, egress: float, days: float, offline: bool = False
) -> Price:
    return Price(storage, req, retr, egress, days, offline)


DEFAULT_PRICES: dict[str, dict[str, Price]] = {
    "aws": {
        "STANDARD": _p(0.023, 0.005, 0.0, 0.09, 0),
        "INTELLIGENT_TIERING": _p(0.023, 0.01, 0.0, 0.09, 0),
        "STANDARD_IA": _p(0.0125, 0.01, 0.01, 0.09, 30),
        "ONEZONE_IA": _p(0.01, 0.01, 0.01, 0.09, 30),
        "GLACIER_IR": _p(0.004, 0.02, 0.03, 0.09, 90),
        "GLACIER": _p(0.0036, 0.03, 0.01, 0.09, 90, offline=True),
        "DEEP_ARCHIVE": _p(0.00099, 0.05, 0.02, 0.09, 180, offline=True),
    },
    "gcs": {
        "STANDARD": _p(0.020, 0.005, 0.0, 0.12, 0),
        "NEARLINE": _p(0.010, 0.01, 0.01, 0.12, 30),
        "COLDLINE": _p(0.004, 0.02, 0.02, 0.12, 90),
        "ARCHIVE": _p(0.0012, 0.05, 0.05, 0.12, 365),
    },
    "azure": {
        "Hot": _p(0.018, 0.005, 0.0, 0.087, 0),
        "Cool": _p(0.010, 0.01, 0.01, 0.087, 30),
        "Cold": _p(0.0036, 0.018, 0.03, 0.087, 90),
        "Archive": _p(0.00099, 0.01, 0.02, 0.087, 180, offline=True),
    },
}
_DEFAULT_CLASS = {"aws": "STANDARD", "gcs": "STANDARD", "azure": "Hot"}
# S3-compatible servers accept the S3 class names but bill nothing per class.
_S3_OFFLINE = {"GLACIER", "DEEP_ARCHIVE"}


def provider_of(store_config: Any) -> str:
    """``aws``, ``s3-compatible``, ``gcs``, ``azure``, ``local`` or ``memory``."""
    kind = store_config.kind
    if isinstance(store_config, S3StoreConfig):
        endpoint = store_config.endpoint or ""
        return "aws" if not endpoint or "amazonaws.com" in endpoint else "s3-compatible"
    return str(kind)


def default_class(store_config: Any) -> str | None:
    """The class new objects get in a store: its configured class/tier, else the provider's."""
    configured = getattr(store_config, "storage_class", None) or getattr(
        store_config, "access_tier", None
    )
    if configured:
        return str(configured)
    if store_config.kind == "s3":
        return "STANDARD"
    return _DEFAULT_CLASS.get(provider_of(store_config))


class PriceTable:
    """Prices per (store, class): defaults from `DEFAULT_PRICES`, then overrides.

    ``overrides`` maps a store name or ``provider:CLASS`` (e.g. ``aws:STANDARD_IA``,
    ``s3-compatible:STANDARD``) to a mapping/object with any of `Price`'s fields; a store
    name wins over ``provider:CLASS``.
    """

    def __init__(
        self, stores: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
    ) -> None:
        self._stores = stores
        self._overrides: dict[str, dict[str, Any]] = {}
        # Prices never change during a plan; the planner asks for the same few per object.
        self._cache: dict[tuple[str, str | None], Price] = {}
        self._moves_cross: dict[tuple[str, str], bool] = {}
        for key, value in (overrides or {}).items():
            fields = (
                value.model_dump(exclude_none=True) if hasattr(value, "model_dump") else dict(value)
            )
            self._overrides[key] = fields

    def price(self, store: str, storage_class: str | None) -> Price:
        """The `Price` of an object of ``storage_class`` (``None``: store default) in ``store``."""
        found = self._cache.get((store, storage_class))
        if found is None:
            found = self._cache[(store, storage_class)] = self._lookup(store, storage_class)
        return found

    def _lookup(self, store: str, storage_class: str | None) -> Price:
        cfg = self._stores[store]
        provider = provider_of(cfg)
        cls = storage_class or default_class(cfg) or "-"
        base = DEFAULT_PRICES.get(provider, {}).get(cls)
        if base is None:
            base = Price(offline=provider == "s3-compatible" and cls in _S3_OFFLINE)
        for key in (f"{provider}:{cls}", store):
            if key in self._overrides:
                base = replace(base, **self._overrides[key])
        return base

    def monthly(self, store: str, storage_class: str | None, size: int) -> float:
        """USD per month to keep ``size`` bytes of ``storage_class`` in ``store``."""
        return size / GB * self.price(store, storage_class).storage_gb_month

    def one_time(
        self,
        src: str,
        src_class: str | None,
        dst: str,
        dst_class: str | None,
        size: int,
        age_seconds: float,
    ) -> tuple[float, float]:
        """(one-time USD of moving ``size`` bytes, of which early-deletion USD).

        Counts retrieval out of the source class, early deletion when ``age_seconds`` is under
        the source class's minimum duration, egress when provider or region differ, and one
        write request into the target class.
        """
        sp, dp = self.price(src, src_class), self.price(dst, dst_class)
        gb = size / GB
        early = 0.0
        age_days = age_seconds / DAY
        if sp.min_days and age_days < sp.min_days:
            early = gb * sp.storage_gb_month * (sp.min_days - age_days) / 30.0
        cost = gb * sp.retrieval_per_gb + early + dp.transition_per_1000 / 1000.0
        if self._crosses(src, dst):
            cost += gb * sp.egress_per_gb
        return cost, early

    def _crosses(self, src: str, dst: str) -> bool:
        """Whether data leaves the provider or the region going from ``src`` to ``dst``."""
        found = self._moves_cross.get((src, dst))
        if found is None:
            s_cfg, d_cfg = self._stores[src], self._stores[dst]
            found = src != dst and (
                provider_of(s_cfg) != provider_of(d_cfg)
                or getattr(s_cfg, "region", None) != getattr(d_cfg, "region", None)
            )
            self._moves_cross[(src, dst)] = found
        return found
