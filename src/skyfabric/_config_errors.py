"""Validation errors of the configuration as one message that says what to fix, and never
echoes a value that may be a pasted secret."""

from __future__ import annotations

import re
from functools import cache
from typing import get_args

from pydantic import ValidationError

_SECRETISH = re.compile(r"secret|password|token|key|connection_string|sas", re.IGNORECASE)


@cache
def _store_kinds() -> tuple[str, ...]:
    """The ``kind`` of every store config model in `skyfabric.config.StoreConfig`, in order
    (imported here, not at the top: config imports this module)."""
    from skyfabric.config import StoreConfig

    models = get_args(get_args(StoreConfig)[0])
    return tuple(get_args(m.model_fields["kind"].annotation)[0] for m in models)


def _format_validation_error(exc: ValidationError, source: str) -> str:
    kinds = _store_kinds()
    lines = [f"invalid configuration in {source}:"]
    for err in exc.errors():
        parts = [str(p) for p in err["loc"]]
        if len(parts) > 2 and parts[0] == "stores" and parts[2] in kinds:
            del parts[2]  # pydantic puts the union tag (the kind) into the location
        loc = ".".join(parts)
        value = err.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        msg = err["msg"].removeprefix("Value error, ")
        if repr(value) in msg:
            shown = ""  # the message already quotes the value
        if err["type"] == "extra_forbidden":
            shown = ""  # never echo: an unknown key may hold a pasted secret
            msg = "unknown key; fix: remove it or check its spelling against the configuration reference"
            if _SECRETISH.search(parts[-1]):
                msg = (
                    "unknown key, and secrets never go in the file; fix: put the value in an "
                    "environment variable and name it with the `*_env` key (e.g. secret_key_env)"
                )
        elif err["type"] == "union_tag_invalid":
            tag = (err.get("ctx") or {}).get("tag")
            msg = f"unknown store kind {tag!r}; fix: use one of {', '.join(kinds)}"
            shown = ""
        elif err["type"] == "union_tag_not_found":
            msg = f"the store has no `kind`; fix: add kind = one of {', '.join(kinds)}"
            shown = ""
        elif err["type"] == "missing":
            shown = ""
            msg = "required key is missing; fix: add it"
        lines.append(f"  {loc}: {msg}{shown}")
    return "\n".join(lines)
