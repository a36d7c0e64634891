"""The two placement state files the ``fabric://`` filesystem touches on reads.

The placement layer (`skyfabric.placement`) writes ``locations.jsonl`` (one
``{"from": url, "to": url}`` line per moved object) and reads ``access.jsonl`` (one
``{"url": url, "time": seconds}`` line per recorded read) in its state directory. The storage
layer sits below placement and must not import it, yet reads through `FabricFileSystem`
follow moved objects and feed ``not_accessed_for``, so the read side of the index and the
append side of the access log live here; `skyfabric.placement.journal` uses both too.

- `locate`: the current URL of a moved object. The parsed index is cached per process, keyed
  by the file's inode, size and mtime: a repeated miss costs one ``stat``; an index that grew
  is parsed only from where the last parse stopped (the file is append-only).
- `AccessWatch` / `record_access`: reads of objects some ``not_accessed_for`` rule covers
  are queued in memory, at most once per URL per `ACCESS_INTERVAL` seconds per process, and
  appended (not fsynced) by a background thread within `FLUSH_SECONDS`, at exit, or when
  `flush_access` is called (the planner does, before reading the log).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from skyfabric.storage.paths import PREFIX

__all__ = [
    "ACCESS_FILE",
    "ACCESS_INTERVAL",
    "FLUSH_SECONDS",
    "LOCATIONS_FILE",
    "AccessWatch",
    "flush_access",
    "glob_regex",
    "index_mapping",
    "locate",
    "record_access",
]

LOCATIONS_FILE = "locations.jsonl"
ACCESS_FILE = "access.jsonl"
ACCESS_INTERVAL = 300.0
"""Seconds during which further reads of one URL in one process are not logged again.
``not_accessed_for`` is measured in days, so five minutes of resolution loses nothing."""
FLUSH_SECONDS = 1.0
"""Queued access records are appended at most this long after the first read that queued them."""
_MAX_REMEMBERED = 200_000  # URLs kept for the once-per-interval check before old ones are dropped

_log = logging.getLogger(__name__)


# -- the location index -------------------------------------------------------------------------


@dataclass
class _Parsed:
    dev: int
    ino: int
    size: int
    mtime_ns: int
    offset: int = 0  # bytes of whole lines parsed so far
    mapping: dict[str, str] = field(default_factory=dict)


_indexes: dict[str, _Parsed] = {}
_index_lock = threading.Lock()


def _current(path: Path) -> _Parsed | None:
    """The parsed index at ``path`` (``None``: no index); call with `_index_lock` held."""
    try:
        st = os.stat(path)
    except OSError:  # absent (nothing ever moved) or unreadable: reads behave as without it
        return None
    key = str(path)
    cur = _indexes.get(key)
    if cur is not None and (cur.dev, cur.ino, cur.size, cur.mtime_ns) == (
        st.st_dev,
        st.st_ino,
        st.st_size,
        st.st_mtime_ns,
    ):
        return cur
    if cur is None or (cur.dev, cur.ino) != (st.st_dev, st.st_ino) or st.st_size < cur.offset:
        cur = _Parsed(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)  # new or rewritten file
    try:
        with path.open("rb") as f:
            f.seek(cur.offset)
            data = f.read()
    except OSError:
        return _indexes.get(key)  # e.g. no read permission: what was parsed before, if anything
    # Only whole lines: a line being appended right now is parsed on the next change.
    end = data.rfind(b"\n") + 1
    for line in data[:end].splitlines():
        try:
            rec = json.loads(line)
            cur.mapping[str(rec["from"])] = str(rec["to"])
        except (ValueError, KeyError, TypeError):
            continue  # a line torn by a crash, already followed by the next record
    cur.offset += end
    cur.size, cur.mtime_ns = st.st_size, st.st_mtime_ns
    _indexes[key] = cur
    return cur


def index_mapping(path: Path) -> dict[str, str]:
    """A copy of the index at ``path``: old fabric URL -> new fabric URL (later lines win)."""
    with _index_lock:
        cur = _current(path)
        return dict(cur.mapping) if cur is not None else {}


def locate(path: Path, url: str) -> str:
    """The current URL of the object first written at ``url``, following chains of moves in
    the index at ``path`` (``url`` itself when it never moved). A cycle (moved there and
    back) stops at the last URL not yet visited."""
    with _index_lock:
        cur = _current(path)
        if cur is None:
            return url
        mapping = cur.mapping
        seen = {url}
        while url in mapping and mapping[url] not in seen:
            url = mapping[url]
            seen.add(url)
        return url


# -- the access log -----------------------------------------------------------------------------


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a key glob (``**`` any depth, ``*`` one segment, ``?`` one char) to a regex;
    the same language as placement rules' ``match``."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


class AccessWatch:
    """Which reads to log: store name -> one regex over keys, from the ``not_accessed_for``
    rules' ``match`` patterns. Stores no such rule names are absent, so their reads cost one
    dict lookup. Malformed patterns are skipped here: the placement layer reports them."""

    def __init__(self, patterns: list[str], stores: set[str]) -> None:
        by_store: dict[str, list[str]] = {}
        for pattern in patterns:
            if not pattern.startswith(PREFIX):
                continue
            store, _, key_glob = pattern[len(PREFIX) :].partition("/")
            if store in stores:
                by_store.setdefault(store, []).append(glob_regex(key_glob or "**").pattern)
        self.by_store: dict[str, re.Pattern[str]] = {
            store: re.compile("|".join(f"(?:{p})" for p in pats))
            for store, pats in by_store.items()
        }

    def __bool__(self) -> bool:
        return bool(self.by_store)

    def covers(self, store: str, key: str) -> bool:
        regex = self.by_store.get(store)
        return regex is not None and regex.match(key) is not None


class _AccessRecorder:
    """The per-process queue of access records; see the module docstring."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pending: dict[Path, list[str]] = {}
        self._last: dict[tuple[Path, str], float] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned = False

    def record(self, log: Path, url: str, when: float | None = None) -> None:
        now = time.time() if when is None else when
        key = (log, url)
        with self._lock:
            last = self._last.get(key)
            if last is not None and 0 <= now - last < ACCESS_INTERVAL:
                return
            if len(self._last) >= _MAX_REMEMBERED:
                self._last = {k: t for k, t in self._last.items() if now - t < ACCESS_INTERVAL}
            self._last[key] = now
            line = json.dumps({"url": url, "time": now}, separators=(",", ":")) + "\n"
            self._pending.setdefault(log, []).append(line)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="skyfabric-access-log", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(FLUSH_SECONDS)  # batch the reads of the next second into one append
            self._wake.clear()
            self.flush()

    def flush(self, log: Path | None = None) -> None:
        """Append the queued records (of ``log`` only, if given). Never raises: a read must
        not fail because its access could not be logged."""
        with self._flush_lock:
            with self._lock:
                if log is None:
                    batches, self._pending = self._pending, {}
                else:
                    batches = {log: self._pending.pop(log)} if log in self._pending else {}
            for path, lines in batches.items():
                try:
                    _append(path, "".join(lines))
                except OSError as exc:
                    if not self._warned:
                        self._warned = True
                        _log.warning(
                            "skyfabric: cannot append to the access log %s (%s); reads are not "
                            "recorded for not_accessed_for rules. Fix: make the placement "
                            "state_dir writable",
                            path,
                            exc,
                        )


def _append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() > 0:  # a torn last line from a crash must not swallow the first record
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                text = "\n" + text
        f.write(text.encode("utf-8"))  # one write in append mode: no interleaving with others


_recorder = _AccessRecorder()
atexit.register(_recorder.flush)
# A forked child starts with an empty queue (the parent flushes its own) and no thread.
os.register_at_fork(after_in_child=_recorder._reset)


def record_access(log: Path, url: str, when: float | None = None) -> None:
    """Queue a read of ``url`` (a fabric URL) for the access log ``log``; see the module doc."""
    _recorder.record(log, url, when)


def flush_access(log: Path | None = None) -> None:
    """Append this process's queued access records now (to ``log`` only, if given)."""
    _recorder.flush(log)
