"""Table moves: copy a table's data files, then commit their new locations in one snapshot.

Each data file goes through ``intent -> copied(md5)`` like an object move (the copy is
MD5-verified and never exists half-written under its final name). Then one commit per table
(`Table.relocate_files`) points the current snapshot at the copies, and each move is
``done``. The source is **not** deleted: earlier snapshots name it, so time travel keeps
working in every engine; expiring those snapshots deletes it (`Table.expire_snapshots`).

A rerun finishes what a killed run left: copies are re-verified against the journaled MD5
(copied again from the source, which is always still there, if they do not match), and the
commit is idempotent (a file whose copy the snapshot already names counts as relocated). A
file that a writer replaced since the plan is rolled back: its copy is deleted and the move
fails with the reason; nothing else changes.

Crash point (see `mover`): ``after_commit`` (snapshot committed, ``done`` not yet journaled).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from skyfabric.errors import redact
from skyfabric.placement.errors import MoveError
from skyfabric.placement.plan import Move

if TYPE_CHECKING:
    from skyfabric.placement.mover import ApplyResult, Mover

__all__ = ["Relocator", "TableMoves"]

# (table name, {source fabric URL: copy's fabric URL}) -> (relocated sources, missing sources)
Relocator = Callable[[str, dict[str, str]], tuple[set[str], list[str]]]


class TableMoves:
    """Runs and recovers the ``table`` moves of a `Mover` (which owns journal and audit)."""

    def __init__(self, mover: Mover, relocate: Relocator | None) -> None:
        self.mover = mover
        self.relocate = relocate

    def _fail(self, move: Move, exc: BaseException, result: ApplyResult, md5: str | None) -> None:
        """Journal ``move`` failed. With an MD5 it stays unfinished (the next run re-verifies
        the copy and commits); with ``None`` it is over (the journal's MD5 is cleared)."""
        msg = redact(f"{type(exc).__name__}: {exc}")
        self.mover.journal.record(move.id, "failed", error=msg, md5=md5)
        with self.mover._lock:
            result.failed[move.id] = msg

    def _copy(
        self, move: Move, state: str | None, md5: str | None, progress: Callable[[int], None] | None
    ) -> str:
        """A verified copy of ``move.src`` at ``move.dst``; its MD5."""
        mover = self.mover
        if state is None:
            mover.journal.record(move.id, "intent", move=move.to_dict())
            from skyfabric.placement.mover import _crash_point

            _crash_point("after_intent")
            return mover._existing_copy(move) or mover._copy(move, progress)
        if md5 and mover._md5(move.dst) == md5:
            return md5
        if not mover._exists(move.src):
            raise MoveError(
                f"{move.src} is gone and {move.dst} does not hold the journaled copy; "
                "the file was deleted outside the move (e.g. its snapshots expired)"
            )
        existing = mover._existing_copy(move) if state == "intent" else None
        return existing or mover._copy(move, None, resume=True)

    def run(
        self,
        table: str,
        moves: list[tuple[Move, str | None, str | None]],
        result: ApplyResult,
        progress: Callable[[int], None] | None = None,
        recovering: bool = False,
    ) -> None:
        """Copy then commit ``moves`` of ``table``: (move, journaled state, journaled MD5)."""
        copied: list[tuple[Move, str]] = []

        def copy_one(item: tuple[Move, str | None, str | None]) -> None:
            move, state, md5 = item
            try:
                got = self._copy(move, state, md5, progress)
            except MoveError as exc:  # gone or not ours: retrying cannot help
                self._fail(move, exc, result, None)
                return
            except Exception as exc:  # any client error: the journaled copy is retried
                self._fail(move, exc, result, md5)
                return
            with self.mover._lock:
                copied.append((move, got))

        workers = min(self.mover.workers, max(1, len(moves)))
        if workers <= 1:
            for item in moves:
                copy_one(item)
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="skyfabric-mover") as pool:
                list(pool.map(copy_one, moves))
        if copied:
            self._commit(table, copied, result, recovering)

    def _commit(
        self, table: str, copied: list[tuple[Move, str]], result: ApplyResult, recovering: bool
    ) -> None:
        from skyfabric.placement.mover import _crash_point

        if self.relocate is None:
            err = MoveError(
                f"table moves of {table} need the table layer; fix: pip install 'skyfabric[tables]'"
            )
            for move, md5 in copied:
                self._fail(move, err, result, md5)
            return
        try:
            relocated, missing = self.relocate(table, {m.src: m.dst for m, _ in copied})
        except Exception as exc:  # a commit that did not land: the copies stay journaled
            for move, md5 in copied:
                self._fail(move, exc, result, md5)
            return
        _crash_point("after_commit")
        gone = set(missing)
        for move, md5 in copied:
            if move.src in relocated:
                self.mover._finish(move, md5)
                with self.mover._lock:
                    (result.recovered if recovering else result.done).append(move.id)
                    if not recovering:
                        result.bytes_moved += move.bytes
            elif move.src in gone:
                self._roll_back(move, md5, table, result)

    def _roll_back(self, move: Move, md5: str, table: str, result: ApplyResult) -> None:
        """The table no longer has the file: delete our copy (only if it is ours)."""
        mover = self.mover
        if mover._md5(move.dst) == md5:
            store, _, native = mover.fs.route(move.dst)
            store.fs.rm_file(native)
        self._fail(
            move,
            MoveError(
                f"table {table} no longer has {move.src} (a writer replaced it after the plan); "
                f"its copy {move.dst} was removed and nothing moved. Fix: plan again"
            ),
            result,
            None,
        )

    def recover(self, entries: dict[str, dict[str, Any]], result: ApplyResult) -> None:
        """Finish the unfinished table moves of the journal, one commit per table."""
        by_table: dict[str, list[tuple[Move, str | None, str | None]]] = {}
        for entry in entries.values():
            move = Move.from_dict(entry["move"])
            by_table.setdefault(str(move.table), []).append(
                (move, entry.get("state") or "intent", entry.get("md5"))
            )
        for table, moves in sorted(by_table.items()):
            self.run(table, moves, result, recovering=True)
