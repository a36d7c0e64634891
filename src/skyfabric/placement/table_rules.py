"""Table rules and table safety for the planner.

A rule with ``table = "ns.name"`` selects the data files of the table's current snapshot
whose partition proves ``partition`` true for every row (`Table.data_files`); its age, access
and size conditions then apply as to objects. A file's age (``older_than``) is measured from
the end of its partition's time range when the table is partitioned by time (``day(ts)``,
``month(ts)``, a date column...), so "partitions older than 180 days" means just that;
otherwise from the commit of the snapshot that added the file. Its files become `ObjectFacts` carrying the table name and the
rules that chose them; a move of one is a ``table`` move (copy, then commit the new location).

Object rules (``match = ...``) never move or re-class files under a table's location or the
roots its relocated files live in: the table metadata names those files by URL, so moving
them would break every reader. `TableGuard` finds those roots once per plan and says which
table owns a URL; the planner skips such matches and says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from skyfabric.errors import brief
from skyfabric.placement.errors import PlacementError, RuleError
from skyfabric.placement.policy import ObjectFacts, Rule
from skyfabric.storage.paths import PREFIX

if TYPE_CHECKING:
    from skyfabric.fabric import Fabric

__all__ = ["TableGuard", "table_objects"]

AccessLookup = Callable[[str], float | None]


def _split(url: str) -> tuple[str, str]:
    store, _, key = url[len(PREFIX) :].partition("/")
    return store, key


def table_objects(
    fabric: Fabric, rules: list[Rule], accessed: AccessLookup | None = None
) -> tuple[list[ObjectFacts], list[dict[str, Any]]]:
    """Facts of the data files the table rules select, and the files they cannot move.

    Raises:
        RuleError: a rule's table does not exist, or its partition filter does not fit it.
    """
    from skyfabric.tables.errors import TableError, TableNotFoundError

    chosen: dict[str, tuple[ObjectFacts, list[Rule]]] = {}
    skipped: list[dict[str, Any]] = []
    service = fabric._table_service
    for rule in (r for r in rules if r.table is not None):
        where = f"placement rule {rule.name!r}"
        try:
            table = fabric.table(str(rule.table))
            files = table.data_files(rule.partition)
        except TableNotFoundError as exc:
            raise RuleError(f"{where}.table: {exc}") from None
        except TableError as exc:
            raise RuleError(f"{where}.partition: {exc}") from None
        except Exception as exc:  # the table's metadata or manifests could not be read
            raise PlacementError(
                f"{where}: cannot read table {rule.table}'s metadata ({brief(exc)}); "
                "fix: check that the "
                "store holding it is reachable (`skyfabric stores`) and its credentials"
            ) from None
        for f in files:
            url = service.fabric_url(f.path, table.properties.get("skyfabric.store"))
            if not url.startswith(PREFIX):
                skipped.append(
                    {"src": f.path, "rule": rule.name, "reason": "in no configured store"}
                )
                continue
            if not f.current_spec:
                skipped.append(
                    {
                        "src": url,
                        "rule": rule.name,
                        "reason": "written under an earlier partition spec, which a relocation "
                        f"cannot commit; run `skyfabric tables compact {rule.table}` (or "
                        "Table.compact()) to rewrite it into the current spec, then plan again",
                    }
                )
                continue
            if f.has_deletes:
                skipped.append(
                    {
                        "src": url,
                        "rule": rule.name,
                        "reason": "delete files name it by path; rewrite the table's data first",
                    }
                )
                continue
            if url in chosen:
                chosen[url][1].append(rule)
                continue
            store, key = _split(url)
            facts = ObjectFacts(
                store=store,
                key=key,
                size=f.size,
                # A time-partitioned file is as old as its partition's time range (its end),
                # so a backfill of last year's data counts as last year's; otherwise the
                # commit of the snapshot that added it.
                modified=(f.partition_end_ms or f.added_ms) / 1000.0,
                accessed=accessed(url) if accessed is not None else None,
                storage_class=_class_if_needed(fabric, rules, rule, store, key),
                table=str(rule.table),
            )
            chosen[url] = (facts, [rule])
    objects = [
        replace(facts, rules=tuple(sorted(found, key=Rule.rank)))
        for facts, found in chosen.values()
    ]
    return objects, skipped


def _class_if_needed(
    fabric: Fabric, rules: list[Rule], rule: Rule, store: str, key: str
) -> str | None:
    """The file's storage class, asked of the store only when a class rule needs it."""
    if not any(r.table == rule.table and r.storage_class for r in rules):
        return None
    from skyfabric.placement.classes import read_class

    target = fabric.fs.stores[store]
    try:
        return read_class(target, target.native_path(key))
    except (OSError, PlacementError):
        return None


def _no_catalog_yet(fabric: Fabric) -> bool:
    """A SQLite catalog whose file does not exist holds no tables (and opening it, ~1 s of
    imports, would create it)."""
    path = fabric.config.catalog_file
    return path is not None and not path.exists()


class TableGuard:
    """Which Iceberg table, if any, owns a ``fabric://`` URL (found on first use).

    Compared by native location (kind and protocol-less path, e.g. ``s3`` and
    ``bucket/prefix/key``), not by ``fabric://`` URL: a store rooted at a bucket or a parent
    directory reaches a table's files under other URLs. A table owns its location, the roots
    placement relocated its files to, and the parquet prefixes registered into it
    (``skyfabric.external-roots``).
    """

    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self._roots: list[tuple[str, str, str]] | None = None  # (kind, path/, table)

    def _load(self) -> list[tuple[str, str, str]]:
        if _no_catalog_yet(self.fabric):
            return []
        try:
            service = self.fabric._table_service
            names = service.table_names()
        except ImportError:  # no table layer installed: skyfabric made no tables
            return []
        except Exception as exc:
            raise PlacementError(
                f"cannot list the catalog's tables to keep their files in place "
                f"({type(exc).__name__}: {exc}); fix: check [catalog] and that it is reachable"
            ) from exc
        from skyfabric.tables._catalog import split_name
        from skyfabric.tables._datasets import external_roots
        from skyfabric.tables._fileio import parse_location
        from skyfabric.tables._relocate import roots_of

        roots: list[tuple[str, str, str]] = []
        for name in names:
            tbl = service.load_or_skip(name, "placement plan")
            if tbl is None:  # still keep what its catalog row says is its folder in place
                meta = service.metadata_location(split_name(name)) or ""
                natives = [meta.rsplit("/metadata/", 1)[0]] if "/metadata/" in meta else []
            else:
                natives = [tbl.location(), *roots_of(tbl), *external_roots(tbl)]
            for native in natives:
                loc = parse_location(native.rstrip("/"))
                if loc is not None:
                    roots.append((loc.kind, loc.path.strip("/") + "/", name))
        return roots

    def owner(self, url: str) -> str | None:
        """The table whose location, relocated roots or registered files hold ``url``."""
        if self._roots is None:
            self._roots = self._load()
        if not self._roots:
            return None
        from skyfabric.tables._fileio import parse_location

        store, _, native = self.fabric.fs.route(url)
        loc = parse_location(store.native_url(store.key_of(native)))
        if loc is None:
            return None
        path = loc.path.strip("/") + "/"
        for kind, root, name in self._roots:
            if kind == loc.kind and path.startswith(root):
                return name
        return None
