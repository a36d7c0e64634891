"""Reads that follow objects placement moved, and the access notes of reads: the mixin of
`skyfabric.storage.filesystem.FabricFileSystem` that owns the placement state it reads.

Reads follow moved objects: when a read (``open`` for reading, ``cat``/``cat_file``,
``info`` and so ``exists``/``isfile``/``size``, ``get_file``, ``modified``, the source of
``cp_file``) finds nothing at a URL, the placement location index (``locations.jsonl`` in
the configuration's placement state directory, ``FabricConfig.placement_state_path``) is consulted and the
call is redone where the object lives now, through any chain of moves. Only a miss pays for it (one ``stat`` of the
index when it has not changed). Writes and deletes never redirect, and listings (``ls``,
``find``, ``glob``) show moved objects where they are now. Reads of objects that a placement
rule with ``not_accessed_for`` covers are appended to the placement ``access.jsonl`` (see
`skyfabric.storage.placement_state`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skyfabric.errors import InvalidPathError, ObjectNotFoundError, UnknownStoreError
from skyfabric.storage.paths import PREFIX, FabricPath, parse
from skyfabric.storage.placement_state import (
    ACCESS_FILE,
    LOCATIONS_FILE,
    AccessWatch,
    locate,
    record_access,
)

if TYPE_CHECKING:
    from skyfabric.config import FabricConfig
    from skyfabric.storage.stores import Store

__all__ = ["FollowMoves"]


def _gone(old: FabricPath, new: FabricPath) -> ObjectNotFoundError:
    return ObjectNotFoundError(
        f"no object at {PREFIX}{old.path}; the placement location index says it moved to "
        f"{PREFIX}{new.path}, where there is none either. Fix: check `skyfabric placement log`"
    )


class FollowMoves:
    """Mixin of `FabricFileSystem`: the location-index lookups, the redirecting reads
    (``get_file``, ``modified``, the source of ``cp_file``) and the access notes.

    Uses the host's ``config``, ``stores``, ``route``, ``_strip_protocol`` and ``_cp_file``;
    call `_init_follow` once both ``config`` and ``stores`` are set.
    """

    config: FabricConfig
    stores: dict[str, Store]

    def _init_follow(self) -> None:
        placement = self.config.placement
        # The same directory `Placement` uses by default; resolved in each process (pickles
        # carry the configuration, not this path).
        self.placement_dir: Path = self.config.placement_state_path
        self._locations = self.placement_dir / LOCATIONS_FILE
        self._access_log = self.placement_dir / ACCESS_FILE
        watch = AccessWatch(
            [r.match for r in placement.rules if r.not_accessed_for and r.match], set(self.stores)
        )
        self._watched = watch.by_store  # empty without not_accessed_for rules: reads log nothing

    def moved(self, path: str) -> str | None:
        """The current URL of the object first written at ``path``, when the placement
        location index says it moved (following chains); ``None`` when it never moved."""
        url = PREFIX + parse(path).path
        now = locate(self._locations, url)
        return None if now == url else now

    def _moved(self, fp: FabricPath) -> tuple[Store, FabricPath, str] | None:
        """`route` of where ``fp`` moved to, or ``None`` (never moved, or moved to a store this
        configuration does not name)."""
        if not fp.key:
            return None
        url = PREFIX + fp.path
        now = locate(self._locations, url)
        if now == url:
            return None
        try:
            return self.route(now)
        except (UnknownStoreError, InvalidPathError):
            return None

    def _note_read(self, fp: FabricPath) -> None:
        # One dict lookup for stores no not_accessed_for rule covers.
        regex = self._watched.get(fp.store)
        if regex is not None and regex.match(fp.key):
            record_access(self._access_log, PREFIX + fp.path)

    def _cat_moved(
        self,
        asked: FabricPath,
        moved: tuple[Store, FabricPath, str],
        start: int | None,
        end: int | None,
        **kwargs: Any,
    ) -> bytes:
        store, fp, native = moved
        try:
            data = store.io.cat_file(native, start=start, end=end, **kwargs)
        except FileNotFoundError:
            raise _gone(asked, fp) from None
        self._note_read(fp)
        return bytes(data)

    def _cat_missing(self, fp: FabricPath, **kwargs: Any) -> bytes | Exception:
        """The bytes of a moved object, or the error to report for ``fp``."""
        moved = self._moved(fp)
        if moved is None:
            return ObjectNotFoundError(f"no object at {PREFIX}{fp.path}")
        try:
            return self._cat_moved(fp, moved, None, None, **kwargs)
        except ObjectNotFoundError as exc:
            return exc

    def get_file(self, rpath: str, lpath: Any, **kwargs: Any) -> None:
        """Download one object to ``lpath`` (a local path or a file object), creating the
        local folders it needs, as fsspec's own ``get_file`` does (s3fs, gcsfs and adlfs
        expect them to exist). A prefix (``get`` with ``recursive=True`` lists those too)
        becomes a local folder."""
        store, fp, native = self.route(self._strip_protocol(rpath))
        if isinstance(lpath, str | os.PathLike):
            os.makedirs(os.path.dirname(os.path.abspath(lpath)), exist_ok=True)
        try:
            store.io.get_file(native, lpath, **kwargs)
        except FileNotFoundError:
            moved = self._moved(fp)
            if moved is None and isinstance(lpath, str | os.PathLike) and self.isdir(rpath):
                os.makedirs(lpath, exist_ok=True)
                return
            if moved is None:
                raise ObjectNotFoundError(f"no object at {PREFIX}{fp.path}") from None
            asked, (store, fp, native) = fp, moved
            try:
                store.io.get_file(native, lpath, **kwargs)
            except FileNotFoundError:
                raise _gone(asked, fp) from None
        self._note_read(fp)

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Copy one object; a source that moved is read where it is now (``path2`` is
        written as given: writes never redirect). A prefix (fsspec's recursive ``copy`` and
        ``mv`` list those too) becomes a folder at ``path2``, as fsspec's local and memory
        filesystems do; on object stores that is nothing to write."""
        try:
            self._cp_file(path1, path2, **kwargs)
        except FileNotFoundError:
            moved = self._moved(parse(self._strip_protocol(path1)))
            if moved is None and self.isdir(path1):
                self.makedirs(path2, exist_ok=True)
                return
            if moved is None:
                raise
            self._cp_file(moved[1].path, path2, **kwargs)

    def modified(self, path: str) -> Any:
        store, fp, native = self.route(self._strip_protocol(path))
        try:
            return store.io.modified(native)
        except FileNotFoundError:
            moved = self._moved(fp)
            if moved is None:
                raise
        return moved[0].io.modified(moved[2])
