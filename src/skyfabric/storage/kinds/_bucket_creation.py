"""What creating a store's bucket did (`StoreKind.create_bucket`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BucketCreation"]


@dataclass(frozen=True)
class BucketCreation:
    """What `skyfabric.storage.buckets.create_bucket` did.

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
