"""The mover: copy, verify, journal, switch, and only then delete the source.

Each move goes through these steps, each journaled (fsynced) before the next starts::

    intent -> copy_object (temp name, MD5-verified, renamed) -> copied(md5)
           -> location index updated -> switched -> source deleted -> done

In-place class changes journal ``intent``, change the class, check size/MD5/class, ``done``.

A rerun first finishes every unfinished move from the journal: ``intent`` is redone from the
copy (the copy never exists half-written under its final name; leftover temporaries are
removed), ``copied``/``switched`` re-verify the destination against the journaled MD5 before
the source is deleted (a destination that fails the check is copied again from the source,
which is still there). The source is deleted only when a verified destination exists and
the source still has the copied MD5 (where the store publishes one), so no object is lost,
and every unfinished move ends in one place. A different object already at the destination
is never overwritten: the move fails and both are kept.

Test hook: ``SKYFABRIC_PLACEMENT_CRASH_AT=<point>[@n]`` makes the process ``os._exit(137)``
the ``n``-th time (default first) it reaches ``<point>``: ``after_intent``, ``after_copy``,
``after_journal``, ``after_switch``, ``during_delete`` (source deleted, ``done`` not yet
journaled), ``after_class``, ``after_commit`` (table moves, see `table_mover`). Only the kill tests set it.
"""

from __future__ import annotations

import os
import posixpath
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skyfabric.errors import redact
from skyfabric.placement.classes import read_class, set_class
from skyfabric.placement.errors import MoveError
from skyfabric.placement.journal import AuditLog, Journal, LocationIndex
from skyfabric.placement.plan import Move, Plan
from skyfabric.placement.table_mover import Relocator, TableMoves
from skyfabric.storage.checksums import native_md5, stream_md5
from skyfabric.storage.paths import PREFIX, parse
from skyfabric.storage.transfer import PARTIAL_MARKER, copy_object

if TYPE_CHECKING:
    from skyfabric.storage.filesystem import FabricFileSystem

__all__ = ["CRASH_ENV", "ApplyResult", "Mover"]

CRASH_ENV = "SKYFABRIC_PLACEMENT_CRASH_AT"
_hits: dict[str, int] = {}
_hits_lock = threading.Lock()


def _crash_point(point: str) -> None:
    """Test hook: exit abruptly at ``point`` when `CRASH_ENV` asks for it (see module doc)."""
    wanted = os.environ.get(CRASH_ENV)
    if not wanted:
        return
    name, _, nth = wanted.partition("@")
    if name != point:
        return
    with _hits_lock:
        _hits[point] = _hits.get(point, 0) + 1
        if _hits[point] >= int(nth or 1):
            os._exit(137)


@dataclass
class ApplyResult:
    """What one apply did. ``bytes_moved`` counts moves finished in this run (not recovered)."""

    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    deferred: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    bytes_moved: int = 0
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "done": len(self.done),
            "failed": self.failed,
            "deferred": len(self.deferred),
            "recovered": len(self.recovered),
            "foreign": len(self.foreign),
            "bytes_moved": self.bytes_moved,
        }


class Mover:
    """Applies plans against ``fs`` with the given journal, location index and audit log."""

    def __init__(
        self,
        fs: FabricFileSystem,
        journal: Journal,
        index: LocationIndex,
        audit: AuditLog,
        workers: int = 8,
        relocate: Relocator | None = None,
    ) -> None:
        self.fs = fs
        self.journal = journal
        self.index = index
        self.audit = audit
        self.workers = workers
        self._lock = threading.Lock()
        self.tables = TableMoves(self, relocate)

    # -- helpers ---------------------------------------------------------------------------

    def _names_our_stores(self, move: dict[str, Any]) -> bool:
        urls = [u for u in (move.get("src"), move.get("dst")) if isinstance(u, str)]
        return all(parse(u).store in self.fs.stores for u in urls if u.startswith(PREFIX))

    def _md5(self, url: str) -> str | None:
        store, _, native = self.fs.route(url)
        try:
            info = store.fs.info(native)
        except FileNotFoundError:
            return None
        if info.get("type") not in (None, "file"):
            return None
        return native_md5(info) or stream_md5(store.fs, native)

    def _exists(self, url: str) -> bool:
        store, _, native = self.fs.route(url)
        return bool(store.fs.isfile(native))

    def _clean_partials(self, url: str) -> None:
        store, _, native = self.fs.route(url)
        parent, name = posixpath.split(native)
        try:
            entries = store.fs.ls(parent, detail=False)
        except FileNotFoundError:
            return
        for entry in entries:
            base = posixpath.basename(str(entry).rstrip("/"))
            if base.startswith(PARTIAL_MARKER) and base.endswith(f"-{name}"):
                store.fs.rm_file(str(entry))

    # -- the steps -------------------------------------------------------------------------

    def _existing_copy(self, move: Move) -> str | None:
        """MD5 of an object already at the destination with the source's content; ``None``
        when there is none. Raises `MoveError` when a different object is there."""
        there = self._md5(move.dst)
        if there is None:
            return None
        here = self._md5(move.src)
        if there != here:
            raise MoveError(
                f"{move.dst} already holds a different object (MD5 {there}, source {here}); "
                f"nothing overwritten, {move.src} kept. Fix: remove or rename one of them"
            )
        self.journal.record(move.id, "copied", md5=there)
        return there

    def _copy(
        self, move: Move, progress: Callable[[int], None] | None, resume: bool = False
    ) -> str:
        if resume:  # a killed copy may have left its temporary beside the destination
            self._clean_partials(move.dst)
        result = copy_object(self.fs, move.src, move.dst, progress=progress)
        assert result.md5 is not None
        _crash_point("after_copy")
        self.journal.record(move.id, "copied", md5=result.md5)
        _crash_point("after_journal")
        return result.md5

    def _switch_and_delete(self, move: Move, md5: str, verified: bool = False) -> None:
        self.index.add(move.src, move.dst)
        self.journal.record(move.id, "switched", md5=md5)
        _crash_point("after_switch")
        self._delete_source(move, md5, verified)

    def _delete_source(self, move: Move, md5: str, verified: bool = False) -> None:
        """Delete the source once the destination holds ``md5`` (checked unless ``verified``
        by the copy this very run)."""
        got = md5 if verified else self._md5(move.dst)
        if got != md5:
            raise MoveError(
                f"{move.dst}: MD5 {got} is not the journaled {md5}; source {move.src} kept. "
                "Fix: rerun `skyfabric placement apply`, which copies it again"
            )
        store, _, native = self.fs.route(move.src)
        try:
            info = store.fs.info(native)
        except FileNotFoundError:
            info = None
        if info is not None:
            now = native_md5(info)
            if now is not None and now != md5:
                raise MoveError(
                    f"{move.src} changed after it was copied (MD5 {now}, copy {md5}); both kept. "
                    "Fix: rerun `skyfabric placement apply`, which copies the new version"
                )
            store.fs.rm_file(native)
        _crash_point("during_delete")
        self._finish(move, md5)

    def _finish(self, move: Move, md5: str | None) -> None:
        self.journal.record(move.id, "done", md5=md5)
        self.audit.log(
            action=move.action,
            rule=move.rule,
            src=move.src,
            dst=move.dst,
            bytes=move.bytes,
            md5=md5,
            src_class=move.src_class,
            dst_class=move.dst_class,
            move=move.id,
        )

    def _change_class(self, move: Move) -> None:
        store, _, native = self.fs.route(move.src)
        before = store.fs.info(native)
        md5 = native_md5(before)
        assert move.dst_class is not None
        set_class(store, native, move.dst_class, int(before.get("size") or 0))
        _crash_point("after_class")
        after = store.fs.info(native)
        got = read_class(store, native, after)
        # A multipart copy (S3 objects over 5 GiB) ends with a composite ETag, not an MD5:
        # compare MD5s only where both sides publish one; the size always.
        after_md5 = native_md5(after)
        changed = md5 is not None and after_md5 is not None and after_md5 != md5
        if int(after.get("size") or 0) != int(before.get("size") or 0) or changed:
            raise MoveError(
                f"{move.src}: size or MD5 changed during the class change; check the object"
            )
        if got != move.dst_class:
            raise MoveError(
                f"{move.src}: the store still reports class {got!r} after setting {move.dst_class!r}; "
                "fix: check the store supports that class"
            )
        self._finish(move, md5)

    def execute(self, move: Move, progress: Callable[[int], None] | None = None) -> None:
        """Run one move from the start (journal ``intent`` first)."""
        self.journal.record(move.id, "intent", move=move.to_dict())
        _crash_point("after_intent")
        if move.action == "class":
            self._change_class(move)
        else:
            md5 = self._existing_copy(move) or self._copy(move, progress)
            self._switch_and_delete(move, md5, verified=True)
        if progress is not None and move.action == "class":
            progress(move.bytes)

    def resume(self, entry: dict[str, Any]) -> None:
        """Finish a move the journal shows unfinished (see the module docstring)."""
        move = Move.from_dict(entry["move"])
        state, md5 = entry.get("state"), entry.get("md5")
        if move.action == "class":
            if self._exists(move.src):
                self._change_class(move)
            else:
                raise MoveError(f"{move.src} vanished before its class change finished")
            return
        if state in ("copied", "switched") and md5 and self._md5(move.dst) == md5:
            if state == "copied":
                self._switch_and_delete(move, md5)
            else:
                self._delete_source(move, md5)
            return
        if self._exists(move.src):
            # Before `copied` the destination may hold an object that is not ours: never
            # overwrite it unless it is this very copy.
            existing = self._existing_copy(move) if state == "intent" else None
            md5 = existing or self._copy(move, None, resume=True)
            self._switch_and_delete(move, md5, verified=True)
            return
        if md5 and self._md5(move.dst) == md5:  # source already gone, copy verified
            self._finish(move, md5)
            return
        raise MoveError(
            f"{move.src} is gone and {move.dst} does not match the journaled MD5 {md5}; "
            "the object was changed outside skyfabric during the move"
        )

    # -- runs ------------------------------------------------------------------------------

    def recover(self, result: ApplyResult) -> None:
        """Finish or fail every unfinished move in the journal, except those between stores
        this configuration does not name: another configuration's (a journal shared before
        each configuration had its own), left untouched for it and counted in
        ``result.foreign``."""
        unfinished = {}
        for move_id, entry in self.journal.unfinished().items():
            if self._names_our_stores(entry.get("move", {})):
                unfinished[move_id] = entry
            else:
                result.foreign.append(move_id)
        tables = {k: v for k, v in unfinished.items() if v.get("move", {}).get("action") == "table"}
        self.tables.recover(tables, result)
        for move_id, entry in sorted(unfinished.items()):
            if move_id in tables:
                continue
            try:
                self.resume(entry)
                result.recovered.append(move_id)
            except Exception as exc:
                msg = redact(f"{type(exc).__name__}: {exc}")
                self.journal.record(move_id, "failed", error=msg)
                result.failed[move_id] = msg

    def apply(
        self,
        plan: Plan,
        *,
        max_bytes: int | None = None,
        dry_run: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> ApplyResult:
        """Recover unfinished moves, then run the plan's moves within ``max_bytes`` (bytes)."""
        result = ApplyResult(dry_run=dry_run)
        # Done since this plan was made: applying the same plan again skips them. A later
        # plan with the same move (the object is back at its source: moved back, or
        # rewritten with the same size and time) runs it again.
        done = {
            k
            for k, v in self.journal.moves().items()
            if v.get("state") == "done" and float(v.get("time", 0)) >= plan.created
        }
        unfinished = self.journal.unfinished()
        # The plan may hold a newer version of an object recovery is finishing (its id
        # differs): recovery settles that source this run, the next plan sees what is left.
        recovering = {v.get("move", {}).get("src") for v in unfinished.values()}
        if dry_run:  # what a real run would recover first
            result.recovered = sorted(unfinished)
        else:
            self.recover(result)
        todo: list[Move] = []
        budget = 0
        for move in plan.moves:
            if move.id in done or move.id in unfinished or move.src in recovering:
                continue
            if max_bytes is not None and budget + move.bytes > max_bytes:
                result.deferred.append(move.id)
                continue
            budget += move.bytes
            todo.append(move)
        if dry_run:
            result.done = [m.id for m in todo]
            result.bytes_moved = budget
            return result

        def run(move: Move) -> None:
            try:
                self.execute(move, progress)
            except Exception as exc:  # one move's failure (any client error) is that move's
                msg = redact(f"{type(exc).__name__}: {exc}")
                self.journal.record(move.id, "failed", error=msg)
                with self._lock:
                    result.failed[move.id] = msg
                return
            with self._lock:
                result.done.append(move.id)
                result.bytes_moved += move.bytes

        objects = [m for m in todo if m.action != "table"]
        if self.workers <= 1 or len(objects) <= 1:
            for move in objects:
                run(move)
        else:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="skyfabric-mover") as pool:
                list(pool.map(run, objects))
        by_table: dict[str, list[tuple[Move, str | None, str | None]]] = {}
        for move in todo:
            if move.action == "table":
                by_table.setdefault(str(move.table), []).append((move, None, None))
        for table, moves in by_table.items():
            self.tables.run(table, moves, result, progress)
        return result
