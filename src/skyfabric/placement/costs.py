"""The cost model: USD per GB-month stored, per-request transitions, retrieval and egress per
GB, and minimum storage duration with its early-deletion charge.

List prices come from the store's kind (`skyfabric.storage.kinds`: each kind module gives
its provider's table and the page and date it was taken from): AWS S3 US East, GCS regional
us-east1, Azure Blob LRS East US, all as published in 2024-10. On-prem S3-compatible
endpoints (MinIO), local disks and memory have no list price: 0, until overridden in
``[placement.prices]``. A GB is 2**30 bytes, a month is 30 days, as the providers bill.

Early deletion (all three providers): an object removed or re-classed before its class's
minimum duration is billed for the remaining days:
``GB * storage_gb_month * (min_days - age_days) / 30``; age is counted from last modified.
A move's one-time cost = retrieval out of the source class + early deletion + egress (when
provider or region change) + one write request into the target class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from skyfabric.storage.kinds import Price
from skyfabric.storage.stores import Store

__all__ = ["GB", "Price", "PriceTable", "default_class", "provider_of"]

GB = 2**30
DAY = 86400.0


def _store(store_or_config: Any, name: str = "") -> Store:
    """A `Store` for a store config (stores pass through): its kind class has the prices."""
    return store_or_config if isinstance(store_or_config, Store) else Store(name, store_or_config)


def provider_of(store_config: Any) -> str:
    """``aws``, ``s3-compatible``, ``gcs``, ``azure``, ``local`` or ``memory`` (the store
    kind's ``price_provider``) of a store config or `Store`."""
    return _store(store_config).price_provider


def default_class(store_config: Any) -> str | None:
    """The class new objects get in a store: its configured class/tier, else the provider's."""
    return _store(store_config).default_class


class PriceTable:
    """Prices per (store, class): the list prices of the store's kind, then overrides.

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
        kind = _store(self._stores[store], store)
        provider = kind.price_provider
        cls = storage_class or kind.default_class or "-"
        base = kind.list_price(cls)
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
