"""The ``fabric://`` fsspec filesystem: one namespace over every configured store.

Registered under protocol ``fabric`` through the ``fsspec.specs`` entry point, so
``pandas.read_parquet("fabric://lake/x.parquet")``, ``pyarrow.dataset``, ``dask`` and
``duckdb.register_filesystem`` accept fabric URLs. Each call is routed to the store's own
fsspec implementation (s3fs, gcsfs, adlfs, local, memory) on the native path; results are
mapped back to ``store/key`` names. Opened files are the native implementation's own file
objects, so reads and writes cost what they cost through s3fs/gcsfs/adlfs directly.

The filesystem pickles as its configuration (``storage_options={"config": ...}``); native
clients are rebuilt lazily in each process.

Reads follow objects that placement moved, and reads covered by a ``not_accessed_for`` rule
are noted: see `skyfabric.storage._follow`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from fsspec import AbstractFileSystem

from skyfabric.config import FabricConfig, load_config
from skyfabric.errors import InvalidPathError, ObjectNotFoundError, UnknownStoreError
from skyfabric.storage._follow import FollowMoves, _gone
from skyfabric.storage.object_classes import on_close
from skyfabric.storage.paths import PREFIX, PROTOCOL, FabricPath, is_partial, parse, strip_protocol
from skyfabric.storage.stores import Store

__all__ = ["FabricFileSystem"]


def _close_matches(name: str, choices: list[str]) -> str:
    import difflib

    near = difflib.get_close_matches(name, choices, n=3)
    return f" Did you mean {', '.join(near)}?" if near else ""


def _depth_below(base: str, name: str) -> int:
    """How many levels ``name`` lies below ``base`` (1: directly inside; 0: not below it)."""
    prefix = base.rstrip("/") + "/"
    return name[len(prefix) :].count("/") + 1 if name.startswith(prefix) else 0


def _class_after_write(store: Store, natives: Iterable[str]) -> None:
    """Give just-written objects the store's class, unless the write sent it already
    (obstore uploads carry it); copies always get it set (a copy does not carry it)."""
    if not store.write_sends_class:
        store.apply_write_class(natives)


class FabricFileSystem(FollowMoves, AbstractFileSystem):
    """fsspec filesystem for ``fabric://<store>/<key>`` URLs.

    Args:
        config: a `FabricConfig`, a path to a TOML file, a dict in
            the TOML shape, or ``None`` for the usual search (``$SKYFABRIC_CONFIG``,
            ``./skyfabric.toml``, embedded default).

    Raises:
        UnknownStoreError: a path names a store that is not configured.
        InvalidPathError: a path escapes its store or names no store.
    """

    protocol = PROTOCOL
    root_marker = ""
    # fsspec's instance cache is keyed by these arguments and the pid, so forks rebuild.
    cachable = True

    def __init__(
        self,
        config: FabricConfig | str | os.PathLike[str] | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config=config, **kwargs)
        self.config: FabricConfig = load_config(config)
        self.stores: dict[str, Store] = {
            name: Store(name, cfg) for name, cfg in self.config.stores.items()
        }
        self._init_follow()

    # -- routing ---------------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        return strip_protocol(str(path)).rstrip("/")

    def unstrip_protocol(self, name: str) -> str:
        return PREFIX + strip_protocol(name)

    def store(self, name: str) -> Store:
        """The configured `Store` called ``name``.

        Raises:
            UnknownStoreError: no store has that name; the message lists the configured ones.
        """
        try:
            return self.stores[name]
        except KeyError:
            known = sorted(self.stores)
            raise UnknownStoreError(
                f"unknown store {name!r} (configuration: {self.config.source}); configured stores: "
                f"{', '.join(known) or 'none'}.{_close_matches(name, known)} "
                f"Fix: add [stores.{name}] to skyfabric.toml or use one of those names"
            ) from None

    def route(self, path: str) -> tuple[Store, FabricPath, str]:
        """Resolve a fabric path to ``(store, parsed path, native path)``."""
        fp = parse(path)
        store = self.store(fp.store)
        return store, fp, store.native_path(fp.key)

    def _entry(self, store: Store, info: dict[str, Any]) -> dict[str, Any]:
        out = dict(info)
        key = store.key_of(info["name"])
        out["name"] = f"{store.name}/{key}" if key else store.name
        # "dir/" objects are folder markers (AWS console "Create folder", GCS placeholders)
        is_dir = info.get("type") in ("directory", "dir") or str(info["name"]).endswith("/")
        out["type"] = "directory" if is_dir else "file"
        out.setdefault("size", 0)
        out["store"] = store.name
        return out

    # -- listing -----------------------------------------------------------------------------

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        if path == "":
            entries = [
                {"name": name, "type": "directory", "size": 0, "store": name}
                for name in sorted(self.stores)
            ]
        else:
            store, fp, native = self.route(path)
            try:
                raw = store.io.ls(native, detail=True, **kwargs)
            except FileNotFoundError:
                if not fp.key:
                    raise ObjectNotFoundError(
                        f"the root of store {store.name!r} ({store.native_url()}) does not exist; "
                        "fix: create the bucket/container, or correct the store's configuration"
                    ) from None
                raw = []
            entries = [self._entry(store, e) for e in raw if not is_partial(e["name"])]
            exact = [e for e in entries if e["name"] == fp.path and e["type"] == "file"]
            if exact:  # ls of an object: only that object, never its name-prefixed siblings
                entries = exact
            elif not entries and fp.key and not store.io.exists(native):
                raise ObjectNotFoundError(f"no object or prefix at {PREFIX}{fp.path}")
            entries = [e for e in entries if e["name"] != fp.path or e["type"] == "file"]
        return entries if detail else [e["name"] for e in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        if path == "":
            return {"name": "", "type": "directory", "size": 0}
        store, fp, native = self.route(path)
        if not fp.key:
            return {"name": store.name, "type": "directory", "size": 0, "store": store.name}
        try:
            return self._entry(store, store.io.info(native, **kwargs))
        except FileNotFoundError:
            moved = self._moved(fp)
        if moved is None:
            raise ObjectNotFoundError(f"no object or prefix at {PREFIX}{fp.path}")
        m_store, m_fp, m_native = moved
        try:
            entry = self._entry(m_store, m_store.io.info(m_native, **kwargs))
        except FileNotFoundError:
            raise _gone(fp, m_fp) from None
        # Named as asked (readers then open this name, which follows again); where it is now:
        return {**entry, "name": fp.path, "moved_to": PREFIX + m_fp.path}

    def find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        path = self._strip_protocol(path)
        if path == "":
            found: dict[str, Any] = {}
            for name in sorted(self.stores):
                found.update(self.find(name, maxdepth=maxdepth, withdirs=withdirs, detail=True))
            return found if detail else sorted(found)
        out = {
            name: entry
            for name, entry in self.find_all(
                path, maxdepth=maxdepth, withdirs=withdirs, **kwargs
            ).items()
            if not is_partial(name)
        }
        return out if detail else sorted(out)

    def find_all(
        self, path: str, maxdepth: int | None = None, withdirs: bool = False, **kwargs: Any
    ) -> dict[str, dict[str, Any]]:
        """Like ``find(detail=True)`` but also listing in-flight/leftover copy temporaries
        (``.skyfabric-partial-*``), which ``find``, ``ls`` and ``glob`` hide from readers."""
        store, fp, native = self.route(self._strip_protocol(path))
        raw = store.io.find(native, maxdepth=maxdepth, withdirs=withdirs, detail=True, **kwargs)
        out = {}
        # adlfs may answer with a list (of names) even when asked for detail
        infos = raw.values() if isinstance(raw, dict) else raw
        for info in infos:
            if isinstance(info, str):
                info = store.io.info(info)
            entry = self._entry(store, info)
            if entry["type"] == "directory" and not withdirs:
                continue  # folder markers are not objects to copy or read
            if maxdepth is not None and _depth_below(fp.path, entry["name"]) > maxdepth:
                continue  # adlfs's find returns objects below maxdepth too
            out[entry["name"]] = entry
        return out

    # -- reading and writing ---------------------------------------------------------------

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        store, fp, native = self.route(self._strip_protocol(path))
        if not fp.key:
            raise InvalidPathError(
                f"{PREFIX}{fp.path} is a store root, not an object; fix: add a key"
            )
        reading = "r" in mode
        if "x" in mode and store.io.exists(native):
            # s3fs/gcsfs/adlfs check "x" only when the upload commits (close); say it now,
            # as open() on disk does. The commit keeps its own condition for a racing writer.
            raise FileExistsError(f"{PREFIX}{fp.path} exists; 'x' mode creates new objects only")

        def native_open(store: Store, native: str) -> Any:
            return store.io.open(
                native,
                mode=mode,
                block_size=block_size,
                autocommit=autocommit,
                cache_options=cache_options,
                **kwargs,
            )

        try:
            f = native_open(store, native)
            if not reading and store.write_class and not store.write_sends_class:
                f = on_close(f, lambda: store.apply_write_class([native]))
        except FileNotFoundError:
            moved = self._moved(fp) if reading else None  # writes never redirect
            if moved is None:
                raise ObjectNotFoundError(f"no object at {PREFIX}{fp.path}") from None
            asked, (store, fp, native) = fp, moved
            try:
                f = native_open(store, native)
            except FileNotFoundError:
                raise _gone(asked, fp) from None
        if reading:
            self._note_read(fp)
        return f

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        store, fp, native = self.route(self._strip_protocol(path))
        prefix = InvalidPathError(
            f"{PREFIX}{fp.path} is a prefix, not an object; fix: name an object inside it"
        )
        try:
            data = store.io.cat_file(native, start=start, end=end, **kwargs)
        except (FileNotFoundError, IsADirectoryError, TypeError) as exc:
            # TypeError: adlfs on a prefix, which has no size to range over
            moved = self._moved(fp) if isinstance(exc, FileNotFoundError) else None
            if moved is not None:
                return self._cat_moved(fp, moved, start, end, **kwargs)
            if store.io.isdir(native):
                raise prefix from None
            if isinstance(exc, FileNotFoundError):
                raise ObjectNotFoundError(f"no object at {PREFIX}{fp.path}") from None
            raise
        if not data and store.io.isdir(native) and not store.io.isfile(native):
            raise prefix  # gcsfs reads a prefix as 0 bytes
        self._note_read(fp)
        return data

    def pipe_file(self, path: str, value: bytes, **kwargs: Any) -> None:
        store, fp, native = self.route(self._strip_protocol(path))
        if not fp.key:
            raise InvalidPathError(
                f"{PREFIX}{fp.path} is a store root, not an object; fix: add a key"
            )
        store.io.pipe_file(native, value, **kwargs)
        _class_after_write(store, [native])

    def pipe(self, path: Any, value: bytes | None = None, **kwargs: Any) -> None:
        """Write many objects: grouped by store and handed to each native ``pipe`` at once,
        so async clients (s3fs, gcsfs, adlfs) upload them concurrently."""
        items = path if isinstance(path, dict) else {path: value}
        by_store: dict[str, dict[str, bytes]] = {}
        for p, data in items.items():
            store, fp, native = self.route(self._strip_protocol(p))
            if not fp.key:
                raise InvalidPathError(
                    f"{PREFIX}{fp.path} is a store root, not an object; fix: add a key"
                )
            by_store.setdefault(store.name, {})[native] = data
        for name, batch in by_store.items():
            self.stores[name].io.pipe(batch, **kwargs)
            _class_after_write(self.stores[name], batch)

    def cat(
        self, path: Any, recursive: bool = False, on_error: str = "raise", **kwargs: Any
    ) -> Any:
        """Read one or many objects; an explicit list is fetched per store in one native call."""
        if recursive or not isinstance(path, list) or any(set("*?[") & set(p) for p in path):
            return super().cat(path, recursive=recursive, on_error=on_error, **kwargs)
        out: dict[str, Any] = {}
        groups: dict[str, list[tuple[FabricPath, str]]] = {}
        for p in path:
            store, fp, native = self.route(self._strip_protocol(p))
            groups.setdefault(store.name, []).append((fp, native))
        first_error: BaseException | None = None
        for name, pairs in groups.items():
            # "return" natively (the same concurrent fetch as "raise"), so the misses can be
            # looked up in the location index before on_error applies.
            got = self.stores[name].io.cat([n for _, n in pairs], on_error="return", **kwargs)
            for fp, native in pairs:
                value = got.get(native)
                if value is not None and not isinstance(value, BaseException):
                    self._note_read(fp)
                    out[fp.path] = value
                    continue
                if value is None or isinstance(value, FileNotFoundError):
                    value = self._cat_missing(fp, **kwargs)
                    if not isinstance(value, BaseException):
                        out[fp.path] = value
                        continue
                if on_error == "raise":
                    first_error = first_error or value
                elif on_error != "omit":
                    out[fp.path] = value
        if first_error is not None:
            raise first_error
        return out

    def put_file(self, lpath: str, rpath: str, **kwargs: Any) -> None:
        store, _fp, native = self.route(self._strip_protocol(rpath))
        store.io.put_file(lpath, native, **kwargs)
        _class_after_write(store, [native])

    def _cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        s1, _fp1, n1 = self.route(self._strip_protocol(path1))
        s2, _fp2, n2 = self.route(self._strip_protocol(path2))
        if s1.name == s2.name:
            s1.io.cp_file(n1, n2, **kwargs)
            s2.apply_write_class([n2])
            return
        # Across stores: the verified, never-partial copy of transfer.py.
        from skyfabric.storage.transfer import copy_object

        copy_object(self, path1, path2)

    def rm_file(self, path: str) -> None:
        store, fp, native = self.route(self._strip_protocol(path))
        if not fp.key:
            raise InvalidPathError(f"refusing to delete store root {PREFIX}{fp.path}")
        store.io.rm_file(native)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """Delete objects, or with ``recursive`` every object under a prefix.

        Paths are literal keys, never globs: fsspec's own ``rm`` expands ``*?[`` and would
        delete objects that were never listed. Store roots are refused.

        Raises:
            InvalidPathError: a store root, or a prefix without ``recursive``.
            ObjectNotFoundError: nothing exists at the path.
        """
        for p in path if isinstance(path, list) else [path]:
            store, fp, native = self.route(self._strip_protocol(p))
            if not fp.key:
                raise InvalidPathError(
                    f"refusing to delete store root {PREFIX}{fp.path}; fix: name a prefix inside it"
                )
            removed_object = store.io.isfile(native)
            if removed_object:
                store.io.rm_file(native)
                if not recursive:
                    continue
            elif not recursive:
                if store.io.isdir(native):
                    raise InvalidPathError(
                        f"{PREFIX}{fp.path} is a prefix; fix: pass recursive=True (rm -r)"
                    )
                raise ObjectNotFoundError(f"no object or prefix at {PREFIX}{fp.path}")
            # An object "x" and a prefix "x/" may both exist on object stores: -r removes both.
            self._rm_tree(store, fp, native, maxdepth, missing_ok=removed_object)

    def _rm_tree(
        self,
        store: Store,
        fp: FabricPath,
        native: str,
        maxdepth: int | None,
        missing_ok: bool = False,
    ) -> None:
        found = self.find_all(fp.path, maxdepth=maxdepth, withdirs=True)
        if not found and missing_ok:
            return  # the object was all there was
        if not found and not store.io.exists(native):
            raise ObjectNotFoundError(f"no object or prefix at {PREFIX}{fp.path}")
        dirs = [native] + [
            store.native_path(n.partition("/")[2])
            for n, e in found.items()
            if e["type"] == "directory"
        ]
        for name, entry in found.items():
            if entry["type"] == "file":
                store.io.rm_file(store.native_path(name.partition("/")[2]))
        for d in sorted(set(dirs), key=len, reverse=True):  # deepest first
            if store.hierarchical:
                if store.io.isdir(d):
                    store.io.rmdir(d)
            elif store.io.isfile(d + "/"):  # an S3/GCS folder marker object "d/"
                store.io.rm_file(d + "/")

    def _rm(self, path: str) -> None:
        self.rm_file(path)

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        store, fp, native = self.route(self._strip_protocol(path))
        if fp.key and store.hierarchical:
            store.io.mkdir(native, create_parents=create_parents, **kwargs)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        store, fp, native = self.route(self._strip_protocol(path))
        if fp.key and store.hierarchical:
            store.io.makedirs(native, exist_ok=exist_ok)

    def invalidate_cache(self, path: str | None = None) -> None:
        for store in self.stores.values():
            if store._fs is not None:
                store._fs.invalidate_cache()

    def __repr__(self) -> str:
        return f"FabricFileSystem(stores={sorted(self.stores)}, config={self.config.source!r})"
