"""mkdocs hook: the configuration reference, generated from ``skyfabric.config``'s models.

``docs/configuration.md`` holds the prose and the marker :data:`MARKER`; this hook replaces
the marker with one table per TOML table (``[stores.<name>]`` per store kind, ``[catalog]``,
``[[placement.rules]]``, ``[drift]``), each row a field's key, type, default and description,
walked from :class:`skyfabric.config.FabricConfig`. A field added to a model shows up in the
docs on the next build; a missing marker fails the build.
"""

from __future__ import annotations

import logging
import os
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from mkdocs.exceptions import PluginError
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from skyfabric import config as cfgmod

log = logging.getLogger("mkdocs.hooks.config_reference")

MARKER = "<!-- skyfabric:config-reference -->"
DEFAULT_MARKER = "<!-- skyfabric:embedded-default -->"
PAGE = "configuration.md"
# Set by the loader (the file's path), not a key users write.
INTERNAL = {("FabricConfig", "source")}
ENV_NOTE = (
    "Names an environment variable: the file holds the variable's *name*, and skyfabric reads "
    "the value from the environment when the store is first used."
)
_SCALARS = {str: "string", int: "integer", float: "float", bool: "boolean", Path: "path"}
_BOUNDS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models inside ``annotation`` (through Annotated, unions), else []."""
    if get_origin(annotation) is Annotated:
        return _models(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _models(arg)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _type(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type(args[0])
    if origin is Literal:
        return " | ".join(f"`{_toml(a)}`" for a in args)  # `|` escaped by _cell
    if origin in (Union, types.UnionType):
        return " or ".join(_type(a) for a in args if a is not type(None))
    if origin is dict:
        return f"table of {_type(args[1])}"
    if origin is list:
        return f"array of {_type(args[0])}"
    if _models(annotation):
        return "table"
    return _SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | Path):
        return f'"{value}"'
    if isinstance(value, dict):
        return "{}" if not value else repr(value)
    return repr(value)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        return f"`{_toml(field.default_factory())}`"  # type: ignore[call-arg]
    if field.default is None or field.default is PydanticUndefined:
        return "unset"
    return f"`{_toml(field.default)}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _row(model: type[BaseModel], name: str, field: FieldInfo) -> str:
    kind = _type(field.annotation)
    bounds = [f"{sym} {getattr(m, key)}" for m in field.metadata for key, sym in _BOUNDS.items()
              if getattr(m, key, None) is not None]
    if bounds:
        kind += f" ({', '.join(bounds)})"
    doc = field.description or ""
    if not doc and name == "kind":
        doc = "Selects the store kind, and so which keys of this table apply."
    if not doc:
        log.info("config reference: %s.%s has no description", model.__name__, name)
        doc = "*(not documented in the model yet)*"
    if name.endswith("_env"):
        doc = f"{doc} {ENV_NOTE}"
    return f"| `{name}` | {_cell(kind)} | {_default(field)} | {_cell(doc)} |"


def _table(model: type[BaseModel]) -> list[str]:
    fields = [(n, f) for n, f in model.model_fields.items()
              if (model.__name__, n) not in INTERNAL and not _models(_inner(f.annotation))]
    # kind first, then required keys, then the rest in declaration order
    fields.sort(key=lambda nf: (nf[0] != "kind", not nf[1].is_required()))
    if not fields:
        return []
    head = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    return head + [_row(model, n, f) for n, f in fields]


def _inner(annotation: Any) -> Any:
    """dict[str, X] -> X, list[X] -> X, else the annotation itself."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is dict:
        return args[1]
    if origin is list:
        return args[0]
    return annotation


def _sections(model: type[BaseModel], path: str) -> Iterator[tuple[str, type[BaseModel]]]:
    """(TOML header, model) for every table reachable from ``model``."""
    for name, field in model.model_fields.items():
        origin = get_origin(field.annotation)
        key = f"{path}.{name}" if path else name
        for sub in _models(_inner(field.annotation)):
            if origin is dict:
                kind = sub.model_fields.get("kind")
                label = f' (`kind = "{get_args(kind.annotation)[0]}"`)' if kind else ""
                yield f"`[{key}.<name>]`{label}", sub
                yield from _sections(sub, f"{key}.<name>")
            elif origin is list:
                yield f"`[[{key}]]`", sub
                yield from _sections(sub, key)
            else:
                yield f"`[{key}]`", sub
                yield from _sections(sub, key)


def render_reference() -> str:
    """Markdown for every table of the configuration, from the live models."""
    out: list[str] = []
    for header, model in _sections(cfgmod.FabricConfig, ""):
        table = _table(model)
        if not table:
            continue
        doc = " ".join((model.__doc__ or "").split())
        out += [f"### {header}", "", doc, "", *table, ""]
    return "\n".join(out)


def render_default() -> str:
    """The embedded default as TOML, with the machine's data dir shown as ``<data dir>``."""
    saved = os.environ.get(cfgmod.DATA_DIR_ENV)
    os.environ[cfgmod.DATA_DIR_ENV] = placeholder = "/SKYFABRIC-DATA-DIR"
    try:
        default = cfgmod.default_config()
    finally:
        if saved is None:
            del os.environ[cfgmod.DATA_DIR_ENV]
        else:
            os.environ[cfgmod.DATA_DIR_ENV] = saved
    lines: list[str] = []
    tables = [(f"stores.{n}", s) for n, s in default.stores.items()]
    tables.append(("catalog", default.catalog))
    for header, model in tables:
        lines.append(f"[{header}]")
        fields = sorted(type(model).model_fields.items(), key=lambda nf: nf[0] != "kind")
        for name, field in fields:
            value = getattr(model, name)
            if name == "kind" or field.is_required() or (value != field.default and value):
                lines.append(f"{name} = {_toml(value)}")
        lines.append("")
    toml = "\n".join(lines).strip().replace(placeholder, "<data dir>")
    return f"```toml\n{toml}\n```"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any, **kwargs: Any) -> str:
    """Replace the markers on the configuration page with the generated reference."""
    if page.file.src_uri != PAGE:
        return markdown
    for marker in (MARKER, DEFAULT_MARKER):
        if marker not in markdown:
            raise PluginError(f"{PAGE} lost its marker {marker}; the hook has nowhere to write")
    return markdown.replace(MARKER, render_reference()).replace(DEFAULT_MARKER, render_default())
