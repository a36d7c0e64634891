"""Placement rules: validated at load, matched against object facts, ranked by priority.

A rule selects objects by a ``fabric://<store>/<glob>`` pattern (``*`` one path segment,
``**`` any depth, ``?`` one character), age since last modified (``older_than``), age since
last access (``not_accessed_for``), size bounds (bytes) and tags/metadata; its action is a
move to another store (``target``) or an in-place storage class / access tier change
(``storage_class``). A table rule names an Iceberg table (``table``, with an optional
``partition`` filter) instead of a pattern; its data files are found by `table_rules`.
When several rules match an object the winner is the one with the
highest ``priority``, then the most specific pattern (longest literal prefix, as httpx ranks
its mount patterns), then the name; the plan records the winner and the rules it overruled.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from skyfabric.config import (
    FabricConfig,
    PlacementConfig,
    PlacementRuleConfig,
    PriceOverrideConfig,
    ResidencyConfig,
)
from skyfabric.placement.errors import RuleError
from skyfabric.storage.kinds import kind_class
from skyfabric.storage.paths import PREFIX
from skyfabric.storage.placement_state import glob_regex

__all__ = [
    "OFFLINE_CLASSES",
    "ObjectFacts",
    "PlacementSettings",
    "PriceOverride",
    "ResidencySpec",
    "Rule",
    "compile_rules",
    "parse_duration",
    "parse_partition",
    "settings_from_config",
    "storage_classes",
]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")

def storage_classes(kind: str) -> tuple[str, ...]:
    """Storage classes / access tiers a store of ``kind`` can set in place (the kind class's
    ``storage_classes``, from its provider's documentation; ``()``: none)."""
    return kind_class(kind).storage_classes


def parse_duration(text: str, what: str = "duration") -> float:
    """``"30d"`` -> seconds. Units: ``s``, ``m`` (minutes), ``h``, ``d``, ``w``.

    Raises:
        RuleError: the text is not a number followed by one of those units.
    """
    found = _DURATION.match(text)
    if not found:
        raise RuleError(
            f"{what} {text!r} is not a duration; fix: write a number and a unit s/m/h/d/w, e.g. '30d'"
        )
    return float(found.group(1)) * _UNITS[found.group(2)]


# The ``[placement]`` models are the configuration's own: one definition, one validation,
# whether the settings come from skyfabric.toml or are passed to `Placement` as a dict.
PlacementSettings = PlacementConfig
PriceOverride = PriceOverrideConfig
ResidencySpec = ResidencyConfig


def settings_from_config(
    config: FabricConfig, override: PlacementSettings | Mapping[str, object] | None = None
) -> PlacementSettings:
    """The placement settings: ``override`` if given, else the configuration's ``[placement]``.

    Raises:
        RuleError: a key is unknown or a value invalid.
    """
    if isinstance(override, PlacementSettings):
        return override
    if override is None:
        return config.placement  # validated when the configuration was loaded
    try:
        return PlacementSettings.model_validate(dict(override))
    except ValidationError as exc:
        problems = "; ".join(
            f"placement.{'.'.join(str(p) for p in e['loc'])}: "
            + (
                "unknown key; fix: remove it or check its spelling in docs/placement.md"
                if e["type"] == "extra_forbidden"
                else e["msg"]
            )
            for e in exc.errors()
        )
        raise RuleError(f"invalid [placement] settings: {problems}") from None


def split_pattern(pattern: str, where: str) -> tuple[str, str]:
    """``fabric://store/glob`` -> (store, key glob). Raises `RuleError` for other shapes."""
    if not pattern.startswith(PREFIX):
        raise RuleError(
            f"{where}: {pattern!r} must start with {PREFIX}<store>/; fix: e.g. '{PREFIX}lake/logs/**'"
        )
    store, _, key = pattern[len(PREFIX) :].partition("/")
    if not store or any(c in store for c in "*?["):
        raise RuleError(
            f"{where}: {pattern!r} must name one store literally, e.g. '{PREFIX}lake/**'"
        )
    return store, key or "**"


def literal_prefix(key_glob: str) -> str:
    """The part of a key glob before its first wildcard, cut back to a whole segment."""
    cut = min((key_glob.find(c) for c in "*?" if c in key_glob), default=len(key_glob))
    head = key_glob[:cut]
    return head if cut == len(key_glob) else head.rsplit("/", 1)[0] if "/" in head else ""


@dataclass(frozen=True)
class ObjectFacts:
    """What the planner knows of one object. Times are POSIX seconds; ``size`` in bytes."""

    store: str
    key: str
    size: int
    modified: float
    accessed: float | None = None
    storage_class: str | None = None
    tags: Callable[[], dict[str, str]] | None = field(default=None, compare=False)
    table: str | None = None  # a data file of this Iceberg table (found by a table rule)
    rules: tuple[Rule, ...] = field(default=(), compare=False)  # table rules that chose it

    @property
    def url(self) -> str:
        return f"{PREFIX}{self.store}/{self.key}"


@dataclass(frozen=True)
class Rule:
    """A validated, compiled rule (from `PlacementRuleConfig`)."""

    name: str
    store: str
    key_glob: str
    regex: re.Pattern[str]
    older_than: float | None
    not_accessed_for: float | None
    min_size: int | None
    max_size: int | None
    tags: dict[str, str]
    target: str | None
    storage_class: str | None
    priority: int
    table: str | None = None
    partition: str | None = None

    @property
    def specificity(self) -> int:
        return len(literal_prefix(self.key_glob))

    @property
    def prefix(self) -> str:
        return literal_prefix(self.key_glob)

    def rank(self) -> tuple[int, int, str]:
        """Sort key: higher priority, then more specific pattern, then name."""
        return (-self.priority, -self.specificity, self.name)

    def matches(self, obj: ObjectFacts, now: float) -> bool:
        """Whether ``obj`` satisfies every condition of the rule (tags fetched last, lazily).

        A table rule's files were selected by table and partition already (`table_rules`);
        here only the age and size conditions apply to them.
        """
        if self.table is None and (obj.store != self.store or not self.regex.match(obj.key)):
            return False
        if self.min_size is not None and obj.size < self.min_size:
            return False
        if self.max_size is not None and obj.size > self.max_size:
            return False
        if self.older_than is not None and now - obj.modified < self.older_than:
            return False
        if self.not_accessed_for is not None:
            # No access recorded anywhere: the last write is the last known access.
            last = obj.accessed if obj.accessed is not None else obj.modified
            if now - last < self.not_accessed_for:
                return False
        if self.tags:
            have = obj.tags() if obj.tags is not None else {}
            return all(have.get(k) == v for k, v in self.tags.items())
        return True


def _store_kind(config: FabricConfig, store: str, where: str) -> str:
    cfg = config.stores.get(store)
    if cfg is None:
        raise RuleError(
            f"{where} names store {store!r}, which is not configured; "
            f"fix: use one of {', '.join(sorted(config.stores)) or 'none'}"
        )
    return cfg.kind


def compile_rules(settings: PlacementSettings, config: FabricConfig) -> list[Rule]:
    """Validate every rule against the configured stores and compile it.

    Raises:
        RuleError: duplicate name, unknown store, both or neither of ``target`` and
            ``storage_class``, a class the store kind has not, bad duration, min > max.
    """
    rules: list[Rule] = []
    seen: set[str] = set()
    for spec in settings.rules:
        where = f"placement rule {spec.name!r}"
        if spec.name in seen:
            raise RuleError(f"{where} is defined twice; fix: give each rule its own name")
        seen.add(spec.name)
        if (spec.match is None) == (spec.table is None):
            raise RuleError(
                f"{where} needs exactly one of `match` (a glob over fabric URLs) and `table` "
                "(an Iceberg table `namespace.name`); fix: set one of them"
            )
        if spec.table is not None:
            _check_table_rule(spec, where)
            store, key_glob, kind = "", "**", None
        else:
            assert spec.match is not None
            if spec.partition is not None:
                raise RuleError(
                    f"{where}.partition only applies to table rules; fix: set `table` "
                    "instead of `match`, or drop `partition`"
                )
            store, key_glob = split_pattern(spec.match, f"{where}.match")
            kind = _store_kind(config, store, f"{where}.match")
        if (spec.target is None) == (spec.storage_class is None):
            raise RuleError(
                f"{where} needs exactly one action; fix: set `target` (move to a store) "
                "or `storage_class` (change class in place), not both or neither"
            )
        if spec.target is not None:
            _store_kind(config, spec.target, f"{where}.target")
            if spec.target == store:
                raise RuleError(
                    f"{where}.target is the source store {store!r}; fix: name another store"
                )
        if spec.storage_class is not None and kind is not None:
            allowed = storage_classes(kind)
            if not allowed or spec.storage_class not in allowed:
                raise RuleError(
                    f"{where}.storage_class {spec.storage_class!r} is not a class of a {kind} store; "
                    f"fix: use one of {', '.join(allowed) if allowed else '(none: move it with target)'}"
                )
        if (
            spec.min_size is not None
            and spec.max_size is not None
            and spec.min_size > spec.max_size
        ):
            raise RuleError(
                f"{where}: min_size {spec.min_size} > max_size {spec.max_size}; fix: swap them"
            )
        rules.append(
            Rule(
                name=spec.name,
                store=store,
                key_glob=key_glob,
                regex=glob_regex(key_glob),
                older_than=parse_duration(spec.older_than, f"{where}.older_than")
                if spec.older_than
                else None,
                not_accessed_for=parse_duration(spec.not_accessed_for, f"{where}.not_accessed_for")
                if spec.not_accessed_for
                else None,
                min_size=spec.min_size,
                max_size=spec.max_size,
                tags=dict(spec.tags),
                target=spec.target,
                storage_class=spec.storage_class,
                priority=spec.priority,
                table=spec.table,
                partition=spec.partition,
            )
        )
    return sorted(rules, key=Rule.rank)


# Classes a reader cannot read without a restore (costs.py marks the same ones offline).
OFFLINE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE", "Archive"})


def _check_table_rule(spec: PlacementRuleConfig, where: str) -> None:
    """What can be checked of a table rule without the catalog: name, partition, class."""
    assert spec.table is not None
    parts = spec.table.split(".")
    if len(parts) < 2 or any(not p.strip() for p in parts):
        raise RuleError(
            f"{where}.table {spec.table!r} is not `namespace.name`; fix: e.g. 'sensors.telemetry'"
        )
    if spec.tags:
        raise RuleError(
            f"{where}.tags: data files of a table carry no tags to match; fix: select them "
            "with `partition` (and `older_than`, sizes) instead"
        )
    if spec.storage_class in OFFLINE_CLASSES:
        raise RuleError(
            f"{where}.storage_class {spec.storage_class!r} is offline (restore before read), and "
            "files reachable from a live snapshot never go offline; fix: use an online class "
            "(e.g. STANDARD_IA, COLDLINE, Cool)"
        )
    if spec.partition is not None:
        parse_partition(spec.partition, f"{where}.partition")


def parse_partition(text: str, where: str) -> Any:
    """Parse a partition row filter (Iceberg expression syntax) into a pyiceberg expression.

    Raises:
        RuleError: the text is not a valid filter, or pyiceberg is not installed.
    """
    try:
        from pyiceberg.expressions.parser import parse
    except ImportError:
        raise RuleError(
            f"{where} needs the table layer; fix: pip install 'skyfabric[tables]'"
        ) from None
    try:
        return parse(text)
    except Exception as exc:  # pyparsing's ParseException (its text lists the grammar)
        col = getattr(exc, "col", None)
        at = (
            f"cannot read it from character {col}: {text[col - 1 :]!r}"
            if col
            else type(exc).__name__
        )
        raise RuleError(
            f"{where} {text!r} is not a row filter ({at}); "
            'fix: write e.g. "month <= 3" or "ts < \'2026-01-01T00:00:00+00:00\'"'
        ) from None


def residency_allows(allowed: list[str], region: str | None) -> bool:
    """Whether a store ``region`` satisfies one of the ``allowed`` region entries."""
    if region is None:
        return False
    region = region.lower()
    for entry in (a.lower() for a in allowed):
        if region == entry or region.startswith(entry + "-"):
            return True
        if entry == "eu" and (region.startswith("europe-") or region.endswith("europe")):
            return True
    return False
