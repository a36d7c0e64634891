"""Durable state of the mover, all JSON Lines under the placement state directory.

- ``journal.jsonl``: one record per step of each move (``intent`` -> ``copied`` ->
  ``switched`` -> ``done``, or ``failed``); each line is flushed and fsynced before the step
  it records is taken further, so after a crash the last line of a move says how far it got.
  A line cut short by the crash is ignored.
- ``locations.jsonl``: the location index: ``{"from": url, "to": url}`` once a move has
  switched; `LocationIndex.locate` follows it, so an old URL still finds its object.
- ``audit.jsonl``: who moved what, from, to, bytes, checksum, when (one line per finished move).
- ``access.jsonl``: reads recorded through `Placement.record_access` and, for objects a
  ``not_accessed_for`` rule covers, every read through ``fabric://`` (batched per process, see
  `skyfabric.storage.placement_state`), for stores that do not report last access themselves.
- ``lock``: an exclusive ``flock`` held by the one mover that may run at a time.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from skyfabric.config import make_state_dir
from skyfabric.placement.errors import PlacementError
from skyfabric.storage.placement_state import flush_access, index_mapping, locate

__all__ = ["AccessLog", "AuditLog", "Journal", "LocationIndex", "mover_lock", "read_jsonl"]

STATES = ("intent", "copied", "switched", "done", "failed")


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a JSONL file; a torn last line (crash while writing) is skipped."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


class _Appender:
    def __init__(self, path: Path, durable: bool = True) -> None:
        self.path = path
        self.durable = durable
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, default=str, separators=(",", ":")) + "\n"
        # Created on the first write only: reading the state (status, log, plans) of a
        # configuration in a read-only folder needs no directory.
        make_state_dir(self.path.parent)
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            # A torn line from an earlier crash must not swallow this one.
            if f.tell() > 0:
                with self.path.open("rb") as r:
                    r.seek(-1, os.SEEK_END)
                    if r.read(1) != b"\n":
                        f.write("\n")
            f.write(line)
            f.flush()
            if self.durable:
                os.fsync(f.fileno())


class Journal(_Appender):
    """The move journal; see the module docstring."""

    def record(self, move_id: str, state: str, **fields: Any) -> None:
        assert state in STATES, state
        self.append({"id": move_id, "state": state, "time": time.time(), **fields})

    def moves(self) -> dict[str, dict[str, Any]]:
        """Move id -> ``{"state": last state, "move": move dict, "md5": ..., "error": ...}``."""
        out: dict[str, dict[str, Any]] = {}
        for rec in read_jsonl(self.path):
            entry = out.setdefault(rec["id"], {})
            for key, value in rec.items():
                if key != "id":
                    entry[key] = value
        return out

    def unfinished(self) -> dict[str, dict[str, Any]]:
        """Moves whose last state is ``intent``, ``copied`` or ``switched``, and failed moves
        that had got past the copy (their destination may exist beside the source)."""
        return {
            k: v
            for k, v in self.moves().items()
            if v.get("state") in ("intent", "copied", "switched")
            or (v.get("state") == "failed" and v.get("md5"))
        }


class LocationIndex(_Appender):
    """Where moved objects went: old fabric URL -> new fabric URL."""

    def add(self, src: str, dst: str) -> None:
        self.append({"from": src, "to": dst, "time": time.time()})

    def mapping(self) -> dict[str, str]:
        """Old URL -> new URL, the later of two records for one URL winning."""
        return index_mapping(self.path)

    def locate(self, url: str) -> str:
        """The current URL of the object first written at ``url`` (``url`` if never moved).

        The same cached lookup ``fabric://`` reads use, so both always agree."""
        return locate(self.path, url)


class AuditLog(_Appender):
    """The audit trail: one line per finished move."""

    who = f"{getpass.getuser()}@{socket.gethostname()}"

    def log(self, **fields: Any) -> None:
        self.append({"time": time.time(), "who": self.who, **fields})


class AccessLog(_Appender):
    """Reads recorded through skyfabric, for stores that do not report last access."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, durable=False)

    def touch(self, url: str, when: float | None = None) -> None:
        self.append({"url": url, "time": time.time() if when is None else when})

    def last_access(self) -> dict[str, float]:
        """URL -> latest recorded read (POSIX seconds), including this process's queued reads."""
        flush_access(self.path)
        out: dict[str, float] = {}
        for rec in read_jsonl(self.path):
            out[rec["url"]] = max(out.get(rec["url"], 0.0), float(rec["time"]))
        return out


@contextlib.contextmanager
def mover_lock(state_dir: Path) -> Iterator[None]:
    """Hold the state directory's exclusive lock. Raises `PlacementError` if another mover has it.

    The lock is released by the kernel when its holder dies, so a killed mover never blocks
    the rerun that recovers it.
    """
    make_state_dir(state_dir)
    with (state_dir / "lock").open("w") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PlacementError(
                f"another placement apply holds {state_dir / 'lock'}; fix: wait for it to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
