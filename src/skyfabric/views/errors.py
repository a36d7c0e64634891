"""Errors of the views layer, rooted at `skyfabric.errors.FabricError`.

::

    FabricError
    └── ViewError                       a problem with a view definition or applying it
        ├── UnknownSourceError          (KeyError) a view names a source it does not have
        ├── UnknownColumnError          (ValueError) a column no source has; lists near matches
        ├── AmbiguousColumnError        (ValueError) an unqualified column more than one source has
        ├── InvalidViewError            (ValueError) the definition or its SQL is not valid
        └── ViewApplyError              the engine (Trino, DuckDB) refused a statement

Every error is raised before any SQL is sent when the fault is in the definition; errors from
the ``trino`` client and DuckDB are translated with ``raise ... from exc`` (the original stays
in ``__cause__``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from skyfabric.errors import FabricError

__all__ = [
    "AmbiguousColumnError",
    "InvalidViewError",
    "UnknownColumnError",
    "UnknownSourceError",
    "ViewApplyError",
    "ViewError",
    "did_you_mean",
]


class ViewError(FabricError):
    """A problem with a view definition, its rendering, or applying it to an engine."""


class UnknownSourceError(ViewError, KeyError):
    """A view (or one of its columns) names a source alias or table it does not have."""

    def __str__(self) -> str:  # KeyError.__str__ would repr() the message
        return Exception.__str__(self)


class UnknownColumnError(ViewError, ValueError):
    """A column exists in none of the sources it could come from."""


class AmbiguousColumnError(ViewError, ValueError):
    """An unqualified column exists in more than one source; qualify it as ``alias.column``."""


class InvalidViewError(ViewError, ValueError):
    """The definition is malformed: bad name, unparsable expression, duplicate output column."""


class ViewApplyError(ViewError):
    """The engine refused a statement; the message names the statement and the engine's error."""


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """`` Did you mean a, b?`` for the closest of ``choices`` to ``name`` (case-insensitive)."""
    by_lower = {c.lower(): c for c in choices}
    near = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.6)
    return f" Did you mean {', '.join(by_lower[m] for m in near)}?" if near else ""
