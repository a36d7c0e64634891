"""Errors of the placement capability, all under `skyfabric.errors.FabricError`::

FabricError
└── PlacementError
    ├── RuleError          (ConfigError, ValueError) a rule is invalid: field, value, fix
    ├── ResidencyError     (ValueError) a move would take data outside its allowed regions
    ├── StorageClassError  the store cannot change an object's class / tier in place
    └── MoveError          a move failed; the journal says where it stopped
"""

from __future__ import annotations

from skyfabric.errors import ConfigError, FabricError

__all__ = ["MoveError", "PlacementError", "ResidencyError", "RuleError", "StorageClassError"]


class PlacementError(FabricError):
    """A problem planning or applying placement."""


class RuleError(PlacementError, ConfigError):
    """A placement rule is invalid; the message names the rule, the field and the fix."""


class ResidencyError(PlacementError, ValueError):
    """A planned move would put data in a region its residency does not allow; nothing moved."""


class StorageClassError(PlacementError):
    """An in-place storage class / access tier change is not possible for this store or class."""


class MoveError(PlacementError):
    """A move failed; the source is untouched and the journal records the failure."""
