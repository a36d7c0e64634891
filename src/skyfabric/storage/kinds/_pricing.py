"""`Price`: one list-price entry of a storage class (the kinds hold their providers' tables;
`skyfabric.placement.costs` prices plans with them)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Price", "price"]


@dataclass(frozen=True)
class Price:
    """One price-table entry.

    Attributes:
        storage_gb_month: USD per GB-month stored (a GB is 2**30 bytes, a month 30 days).
        transition_per_1000: USD per 1,000 write / transition requests into the class.
        retrieval_per_gb: USD per GB read out of the class.
        egress_per_gb: USD per GB leaving the provider or region.
        min_days: minimum storage duration, days (early deletion is billed up to it).
        offline: objects must be restored / rehydrated before they can be read.
    """

    storage_gb_month: float = 0.0
    transition_per_1000: float = 0.0
    retrieval_per_gb: float = 0.0
    egress_per_gb: float = 0.0
    min_days: float = 0.0
    offline: bool = False


def price(
    storage: float, req: float, retr: float, egress: float, days: float, offline: bool = False
) -> Price:
    """A `Price` from positional values, for compact price tables."""
    return Price(storage, req, retr, egress, days, offline)
