"""Policy-driven hot/cold placement that never loses data.

Rules (``[[placement.rules]]``) select objects by store and glob, age, last access, size and
tags, and either move them to another store or change their storage class in place. The
planner prices the change (`costs`); the mover copies, verifies, journals, switches and only
then deletes, so a killed run is finished by the next one. See ``docs/placement.md``.

    >>> from skyfabric.placement import Placement
    >>> placement = Placement(fabric)            # rules from fabric.config.placement
    >>> plan = placement.plan(); print(plan)     # table; plan.to_json() for scripts
    >>> placement.apply(plan, max_bytes=10 * 2**30)
"""

from skyfabric.placement.costs import Price, PriceTable
from skyfabric.placement.errors import (
    MoveError,
    PlacementError,
    ResidencyError,
    RuleError,
    StorageClassError,
)
from skyfabric.placement.mover import CRASH_ENV, ApplyResult
from skyfabric.placement.plan import Move, Plan
from skyfabric.placement.policy import PlacementSettings, PriceOverride, ResidencySpec, Rule
from skyfabric.placement.service import Placement

__all__ = [
    "CRASH_ENV",
    "ApplyResult",
    "Move",
    "MoveError",
    "Placement",
    "PlacementError",
    "PlacementSettings",
    "Plan",
    "Price",
    "PriceOverride",
    "PriceTable",
    "ResidencyError",
    "ResidencySpec",
    "Rule",
    "RuleError",
    "StorageClassError",
]
