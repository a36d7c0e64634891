"""skyfabric's warnings: something was skipped or left behind, and the work went on.

::

    UserWarning
    └── FabricWarning                   root: filter every skyfabric warning with it
        ├── UnreadableTableWarning      a listing, plan, quickstart or gc skipped a table that
        │                               cannot be loaded, and says which, why and the fix
        ├── UnreachableStoreWarning     a listing over every store skipped one that did not
        │                               answer (within the clients' timeouts)
        └── LegacyStateWarning          the shared state of earlier versions holds something
                                        this configuration no longer sees, and the line that
                                        points back at it

Each message, like an error's, says what, with which input, and what to do; secrets are
redacted. The CLI prints them as one ``warning: ...`` line on stderr.
"""

from __future__ import annotations

__all__ = [
    "FabricWarning",
    "LegacyStateWarning",
    "UnreachableStoreWarning",
    "UnreadableTableWarning",
]


class FabricWarning(UserWarning):
    """Root of skyfabric's warnings."""


class UnreadableTableWarning(FabricWarning):
    """A table that cannot be loaded was skipped by a listing, plan, quickstart or gc."""


class LegacyStateWarning(FabricWarning):
    """The shared state of earlier versions holds something this configuration no longer sees."""


class UnreachableStoreWarning(FabricWarning):
    """A listing over every store skipped one that did not answer."""
