"""The planner: list the objects under the rules' patterns, pick each object's winning rule,
price the change, refuse residency violations. Pure (changes nothing) and listing-bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from skyfabric.errors import StoreUnreachableError, brief
from skyfabric.placement.classes import access_time, modified_time, read_class
from skyfabric.placement.costs import PriceTable, default_class
from skyfabric.placement.errors import ResidencyError
from skyfabric.placement.plan import Move, Plan
from skyfabric.placement.policy import (
    ObjectFacts,
    ResidencySpec,
    Rule,
    glob_regex,
    residency_allows,
    split_pattern,
)
from skyfabric.storage.paths import PREFIX
from skyfabric.storage.stores import Store
from skyfabric.storage.transfer import PARTIAL_MARKER

__all__ = ["build_plan", "list_objects"]

AccessLookup = Callable[[str], float | None]


def _prefixes(rules: list[Rule]) -> dict[str, list[str]]:
    """Store -> minimal set of key prefixes covering every rule's pattern."""
    out: dict[str, list[str]] = {}
    for rule in rules:
        out.setdefault(rule.store, []).append(rule.prefix)
    for store, prefixes in out.items():
        keep: list[str] = []
        for p in sorted(set(prefixes), key=len):
            if not any(p == k or not k or p.startswith(k.rstrip("/") + "/") for k in keep):
                keep.append(p)
        out[store] = keep
    return out


def _tags_fn(store: Store, native: str, info: dict[str, Any]) -> Callable[[], dict[str, str]]:
    def fetch() -> dict[str, str]:
        return store.object_tags(native, info)

    return fetch


def _unreachable(store: str, prefix: str, exc: BaseException) -> StoreUnreachableError:
    return StoreUnreachableError(
        f"cannot list store {store!r} under {prefix or '/'!r} ({brief(exc)}); fix: check the store's "
        "endpoint, bucket and credentials in skyfabric.toml (`skyfabric stores` tries each one)"
    )


def list_objects(
    stores: Mapping[str, Store], rules: list[Rule], accessed: AccessLookup | None = None
) -> list[ObjectFacts]:
    """Facts of every object under some rule's pattern (partial copies excluded)."""
    facts: list[ObjectFacts] = []
    for store_name, prefixes in _prefixes([r for r in rules if r.table is None]).items():
        store = stores[store_name]
        for prefix in prefixes:
            native_root = store.native_path(prefix)
            try:
                found = store.fs.find(native_root, detail=True)
            except FileNotFoundError:
                continue
            except Exception as exc:  # botocore/azure/aiohttp errors are not OSErrors
                raise _unreachable(store_name, prefix, exc) from None
            for native, info in found.items():
                if (
                    info.get("type") not in (None, "file")
                    or PARTIAL_MARKER in native.rsplit("/", 1)[-1]
                ):
                    continue
                key = store.key_of(native)
                url = f"{PREFIX}{store_name}/{key}"
                seen = accessed(url) if accessed is not None else None
                native_seen = access_time(store, native, info)
                last = max((t for t in (seen, native_seen) if t is not None), default=None)
                facts.append(
                    ObjectFacts(
                        store=store_name,
                        key=key,
                        size=int(info.get("size") or 0),
                        modified=modified_time(info),
                        accessed=last,
                        storage_class=info.get("StorageClass") or info.get("storageClass"),
                        tags=_tags_fn(store, native, info),
                    )
                )
    return facts


def _check_residency(
    moves: list[Move],
    specs: list[ResidencySpec],
    stores: Mapping[str, Store],
    origins: Callable[[Move], list[str]] | None = None,
) -> None:
    if not specs:
        return
    compiled = []
    for spec in specs:
        store, key_glob = split_pattern(spec.match, "placement.residency.match")
        compiled.append((spec, store, glob_regex(key_glob)))
    bad: list[str] = []
    for move in moves:
        if move.action == "class":  # stays in its store
            continue
        dst_store = move.dst[len(PREFIX) :].partition("/")[0]
        region = getattr(stores[dst_store].config, "region", None)
        # Residency follows the data, not its current URL: a spec also binds the URLs an
        # object was moved from, and a table file's URL in its table's home store.
        where = [move.src, *(origins(move) if origins is not None else [])]
        places = [
            (u[len(PREFIX) :].partition("/")[0], u[len(PREFIX) :].partition("/")[2]) for u in where
        ]
        for spec, store, regex in compiled:
            if not residency_allows(spec.regions, region) and any(
                store == s and regex.match(k) for s, k in places
            ):
                bad.append(
                    f"{move.src} -> store {dst_store!r} (region {region or 'undeclared'}) "
                    f"breaks residency {spec.regions} of {spec.match} (rule {move.rule!r})"
                )
                break
    if bad:
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise ResidencyError(
            f"plan refused: {len(bad)} move(s) would leave their allowed regions: "
            + "; ".join(bad[:5])
            + more
            + ". Fix: target a store whose `region` is allowed, or narrow the rule's match"
        )


def build_plan(
    stores: Mapping[str, Store],
    rules: list[Rule],
    prices: PriceTable,
    residency: list[ResidencySpec] | None = None,
    *,
    now: float | None = None,
    accessed: AccessLookup | None = None,
    objects: list[ObjectFacts] | None = None,
    owner: Callable[[str], str | None] | None = None,
    origins: Callable[[Move], list[str]] | None = None,
) -> Plan:
    """Plan every rule over the objects it matches.

    Args:
        stores: store name -> `Store`.
        rules: compiled rules, ranked (see `compile_rules`).
        prices: the price table.
        residency: residency constraints; a violating move refuses the whole plan.
        now: the time ages are measured from (POSIX seconds; default: now).
        accessed: url -> last access recorded by skyfabric (the access log), or ``None``.
        objects: pre-listed facts (default: list the stores); data files found by table
            rules carry their table and the rules that chose them (`table_rules`).
        owner: url -> the Iceberg table whose files live there (None: no table); object
            rules skip such objects, since moving one would break its table.
        origins: move -> earlier URLs of its data (where it was moved from), which the
            residency constraints bind too.

    Raises:
        ResidencyError: a move would put data outside its allowed regions.
    """
    now = time.time() if now is None else now
    objects = list_objects(stores, rules, accessed) if objects is None else objects
    by_store: dict[str, list[Rule]] = {}
    for rule in rules:
        if rule.table is None:
            by_store.setdefault(rule.store, []).append(rule)
    plan = Plan(as_of=now)  # created: the wall-clock time (the mover compares it)
    defaults = {name: default_class(store.config) for name, store in stores.items()}
    for obj in objects:
        plan.scanned_objects += 1
        plan.scanned_bytes += obj.size
        src_class = obj.storage_class or defaults[obj.store]
        before = prices.monthly(obj.store, src_class, obj.size)
        plan.monthly_before += before
        if obj.table is not None:
            matched = [r for r in obj.rules if r.matches(obj, now)]
        else:
            matched = [r for r in by_store.get(obj.store, ()) if r.matches(obj, now)]
            table = owner(obj.url) if matched and owner is not None else None
            if table is not None:
                plan.skipped.append(
                    {
                        "src": obj.url,
                        "rule": matched[0].name,
                        "reason": f"a file of Iceberg table {table}, whose metadata names it; "
                        f'fix: place it with a rule `table = "{table}"`',
                    }
                )
                matched = []
        move = (
            _move_for(obj, matched, stores, prices, now, src_class, before, plan, defaults)
            if matched
            else None
        )
        if move is not None and move.action != "class" and owner is not None:
            taken = owner(move.dst)
            if taken is not None and taken != obj.table:
                plan.skipped.append(
                    {
                        "src": obj.url,
                        "rule": move.rule,
                        "reason": f"its destination {move.dst} lies among the files of Iceberg "
                        f"table {taken}; fix: target another store or prefix",
                    }
                )
                move = None
        if move is None:
            plan.monthly_after += before
            continue
        plan.monthly_after += move.monthly_after
        plan.moves.append(move)
    _check_residency(plan.moves, residency or [], stores, origins)
    return plan


def _move_for(
    obj: ObjectFacts,
    matched: list[Rule],
    stores: Mapping[str, Store],
    prices: PriceTable,
    now: float,
    src_class: str | None,
    before: float,
    plan: Plan,
    defaults: Mapping[str, str | None],
) -> Move | None:
    rule = matched[0]
    overruled = tuple(r.name for r in matched[1:])
    if prices.price(obj.store, src_class).offline:
        plan.skipped.append(
            {
                "src": obj.url,
                "rule": rule.name,
                "reason": f"in offline class {src_class}; restore it first",
            }
        )
        return None
    if obj.table is not None:
        if rule.target == obj.store:  # moved by an earlier apply
            return None
        why = _table_refusal(obj, rule, stores, prices, defaults)
        if why is not None:
            plan.skipped.append({"src": obj.url, "rule": rule.name, "reason": why})
            return None
    if rule.storage_class is not None:
        store = stores[obj.store]
        if not store.listing_has_class:  # e.g. azure: ask only for matched objects
            src_class = read_class(store, store.native_path(obj.key)) or src_class
            actual = prices.monthly(obj.store, src_class, obj.size)
            plan.monthly_before += actual - before
            before = actual
        if src_class == rule.storage_class:
            plan.monthly_after += before - prices.monthly(
                obj.store, obj.storage_class or defaults[obj.store], obj.size
            )
            return None
        dst_store, dst_class, dst, action = obj.store, rule.storage_class, obj.url, "class"
    else:
        assert rule.target is not None
        dst_store = rule.target
        dst_class = defaults[dst_store]
        dst = f"{PREFIX}{dst_store}/{obj.key}"
        action = "table" if obj.table is not None else "move"
    one_time, early = prices.one_time(
        obj.store, src_class, dst_store, dst_class, obj.size, now - obj.modified
    )
    flags = []
    if early > 0:
        flags.append("early_deletion")
    if prices.price(dst_store, dst_class).offline:
        flags.append("offline_target")
    if action == "table":
        flags.append("kept_for_time_travel")
    return Move(
        rule=rule.name,
        action=action,  # type: ignore[arg-type]
        src=obj.url,
        dst=dst,
        bytes=obj.size,
        src_class=src_class,
        dst_class=dst_class,
        modified=obj.modified,
        monthly_before=before,
        monthly_after=prices.monthly(dst_store, dst_class, obj.size),
        one_time=one_time,
        early_deletion=early,
        flags=tuple(flags),
        overruled=overruled,
        table=obj.table,
    )


def _table_refusal(
    obj: ObjectFacts,
    rule: Rule,
    stores: Mapping[str, Store],
    prices: PriceTable,
    defaults: Mapping[str, str | None],
) -> str | None:
    """Why a table rule cannot act on this data file (None: it can)."""
    if rule.target is not None:
        if prices.price(rule.target, defaults[rule.target]).offline:
            return (
                f"target store {rule.target!r} keeps objects in an offline class, and files "
                "reachable from a live snapshot never go offline"
            )
        return None
    kind = stores[obj.store].kind
    if rule.storage_class not in stores[obj.store].storage_classes:
        return f"a {kind} store has no storage class {rule.storage_class!r}"
    if prices.price(obj.store, rule.storage_class).offline:
        return (
            f"class {rule.storage_class} is offline, and files reachable from a live snapshot "
            "never go offline"
        )
    return None
