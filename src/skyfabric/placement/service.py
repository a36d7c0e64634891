"""`Placement`: the placement capability of one `Fabric` (``Fabric.placement``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skyfabric.placement.costs import PriceTable
from skyfabric.placement.journal import (
    AccessLog,
    AuditLog,
    Journal,
    LocationIndex,
    mover_lock,
    read_jsonl,
)
from skyfabric.placement.mover import ApplyResult, Mover
from skyfabric.placement.plan import Move, Plan
from skyfabric.placement.planner import build_plan, list_objects
from skyfabric.placement.policy import PlacementSettings, Rule, compile_rules, settings_from_config
from skyfabric.placement.table_rules import TableGuard, table_objects

if TYPE_CHECKING:
    from skyfabric.fabric import Fabric

__all__ = ["Placement"]


class Placement:
    """Plan and apply placement rules over a fabric's stores.

    Args:
        fabric: the `Fabric` whose stores the rules name.
        settings: the ``[placement]`` settings (a `PlacementSettings` or a dict of its
            shape); default: ``fabric.config.placement``.
        state_dir: where the journal, location index and logs live; default
            ``settings.state_dir``, else the configuration's
            (`skyfabric.config.FabricConfig.placement_state_path`).

    Raises:
        RuleError: a rule is invalid (checked here, before anything is listed).
    """

    def __init__(
        self,
        fabric: Fabric,
        settings: PlacementSettings | Mapping[str, Any] | None = None,
        state_dir: str | Path | None = None,
    ) -> None:
        self.fabric = fabric
        self.settings = settings_from_config(fabric.config, settings)
        self.rules: list[Rule] = compile_rules(self.settings, fabric.config)
        self.prices = PriceTable(fabric.config.stores, self.settings.prices)
        # The configuration's own [placement] resolves a relative state_dir against its file.
        own = self.settings is fabric.config.placement
        root = state_dir or (None if own else self.settings.state_dir)
        if root is None and fabric.config.placement.state_dir is None:
            from skyfabric._legacy_state import warn_if_placement_left_behind

            warn_if_placement_left_behind(fabric.config, fabric.config.placement_state_path)
        root = root or fabric.config.placement_state_path
        self.state_dir = Path(root).expanduser()
        self.journal = Journal(self.state_dir / "journal.jsonl")
        self.locations = LocationIndex(self.state_dir / "locations.jsonl")
        self.audit = AuditLog(self.state_dir / "audit.jsonl")
        self.access = AccessLog(self.state_dir / "access.jsonl")

    def __repr__(self) -> str:
        return f"Placement(rules={[r.name for r in self.rules]}, state_dir={str(self.state_dir)!r})"

    def plan(self, *, now: float | None = None) -> Plan:
        """List the objects under the rules and return the `Plan` (changes nothing).

        ``now`` (POSIX seconds) is the time ages are measured from; default: now.

        Raises:
            ResidencyError: a move would take data outside its allowed regions.
        """
        seen = self.access.last_access()
        objects = list_objects(self.fabric.stores, self.rules, seen.get)
        skipped: list[dict[str, Any]] = []
        if any(r.table is not None for r in self.rules):
            files, skipped = table_objects(self.fabric, self.rules, seen.get)
            chosen = {f.url for f in files}  # a table rule's claim beats the listing's
            objects = [o for o in objects if o.url not in chosen] + files
        plan = build_plan(
            self.fabric.stores,
            self.rules,
            self.prices,
            self.settings.residency,
            now=now,
            accessed=seen.get,
            objects=objects,
            owner=TableGuard(self.fabric).owner,
            origins=self._origins() if self.settings.residency else None,
        )
        plan.skipped.extend(skipped)
        return plan

    def apply(
        self,
        plan: Plan | None = None,
        *,
        max_bytes: int | None = None,
        dry_run: bool = False,
        workers: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> ApplyResult:
        """Finish unfinished moves from the journal, then apply ``plan`` (default: a new plan).

        ``max_bytes`` bounds the bytes moved in this run (moves that do not fit are
        ``deferred``); ``dry_run`` reports what would run and changes nothing.

        Raises:
            PlacementError: another apply holds the state directory's lock.
            ResidencyError: when planning here, as `plan`.
        """
        plan = self.plan() if plan is None else plan
        mover = Mover(
            self.fabric.fs,
            self.journal,
            self.locations,
            self.audit,
            workers=workers or self.settings.workers,
            relocate=self._relocate,
        )
        if dry_run:
            return mover.apply(plan, max_bytes=max_bytes, dry_run=True)
        with mover_lock(self.state_dir):
            return mover.apply(plan, max_bytes=max_bytes, progress=progress)

    def recover(self) -> ApplyResult:
        """Finish every unfinished move in the journal and nothing else."""
        return self.apply(Plan())

    def status(self) -> dict[str, Any]:
        """Journal summary: counts by state, the moves in flight (the next apply finishes
        them) and the failed ones (``retried``: the next apply tries again)."""
        moves = self.journal.moves()
        counts: dict[str, int] = {}
        for entry in moves.values():
            counts[entry.get("state", "?")] = counts.get(entry.get("state", "?"), 0) + 1
        unfinished = self.journal.unfinished()
        return {
            "state_dir": str(self.state_dir),
            "counts": counts,
            "in_flight": [
                {
                    "id": k,
                    "state": v.get("state"),
                    "src": v.get("move", {}).get("src"),
                    "dst": v.get("move", {}).get("dst"),
                }
                for k, v in sorted(unfinished.items())
                if v.get("state") != "failed"
            ],
            # `retried`: the copy is journaled, so the next apply picks the move up again.
            "failed": [
                {
                    "id": k,
                    "src": v.get("move", {}).get("src"),
                    "error": v.get("error"),
                    "retried": k in unfinished,
                }
                for k, v in sorted(moves.items())
                if v.get("state") == "failed"
            ],
        }

    def _origins(self) -> Callable[[Move], list[str]]:
        """move -> the URLs its data had before: moved-from URLs (the location index, read
        backwards) and, for a table's data file, its URL in the table's home store."""
        back: dict[str, list[str]] = {}
        for src, dst in self.locations.mapping().items():
            back.setdefault(dst, []).append(src)
        homes: dict[str, str | None] = {}

        def origins(move: Move) -> list[str]:
            out: list[str] = []
            todo = [move.src]
            while todo:
                for earlier in back.get(todo.pop(), ()):
                    if earlier not in out:
                        out.append(earlier)
                        todo.append(earlier)
            if move.table is not None:
                if move.table not in homes:
                    homes[move.table] = self.fabric.table(move.table).store
                key = move.src[len("fabric://") :].partition("/")[2]
                if homes[move.table]:
                    out.append(f"fabric://{homes[move.table]}/{key}")
            return out

        return origins

    def _relocate(self, table: str, moves: dict[str, str]) -> tuple[set[str], list[str]]:
        """Commit the new locations of ``table``'s copied data files (see `table_mover`)."""
        result = self.fabric.table(table).relocate_files(moves)
        native = {self.fabric._table_service.native(u): u for u in moves}
        return {native[o] for o in result.relocated}, [native[o] for o in result.missing]

    def log(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Audit records, oldest first (the last ``limit`` with a limit)."""
        records = list(read_jsonl(self.audit.path))
        return records[-limit:] if limit else records

    def locate(self, url: str) -> str:
        """Where the object first written at ``url`` lives now (``url`` if never moved)."""
        return self.locations.locate(url)

    def record_access(self, url: str, when: float | None = None) -> None:
        """Record a read of ``url`` for ``not_accessed_for`` on stores without access times."""
        self.access.touch(url, when)
