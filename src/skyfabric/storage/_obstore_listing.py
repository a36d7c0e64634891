"""Metadata and listings of the obstore data path (`ObstoreListing`, a mixin of
`ObstoreFileSystem`): ``info``, ``ls``, ``find``, ``modified`` and a one-HEAD existence
check, answering with the entries s3fs/gcsfs/adlfs give (``name``, ``size``, ``type``,
``ETag``, ``LastModified``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from skyfabric.errors import ObjectNotFoundError
from skyfabric.storage._obstore_support import base64_md5, etag, map_errors, obstore_addressable

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from skyfabric.storage.stores import Store

__all__ = ["ObstoreListing"]


class ObstoreListing:
    """Listing half of `ObstoreFileSystem`; uses its ``client``, ``fallback``, ``bucket``,
    ``_key``, ``_native`` and ``_direct``."""

    _store: Store
    bucket: str
    client: Any
    fallback: AbstractFileSystem
    _key: Callable[[str], str]
    _native: Callable[[str], str]
    _direct: Callable[[str], str | None]

    def _file_entry(self, meta: dict[str, Any]) -> dict[str, Any]:
        tag = etag(meta)
        entry = {
            "name": self._native(str(meta["path"])),
            "size": int(meta["size"]),
            "type": "file",
            "ETag": tag,
            "LastModified": meta["last_modified"],
            "version": meta.get("version"),
        }
        md5 = base64_md5(tag) if self._store.etag_is_md5 else None
        if md5 is not None:  # fake-gcs-server's XML ETag is the base64 MD5 (GCS's is hex)
            entry["md5Hash"] = md5
        return entry

    def _listed(self, metas: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Entries of listed objects. object_store drops a key's trailing ``/``, so a folder
        marker ``d/`` lists as an empty ``d``: empty entries that HEAD does not find are
        such markers, and become directories."""
        import obstore as obs

        out = []
        for meta in metas:
            entry = self._file_entry(meta)
            if entry["size"] == 0:
                try:
                    obs.head(self.client, str(meta["path"]))
                except FileNotFoundError:
                    entry = self._dir_entry(str(meta["path"]))
            out.append(entry)
        return out

    def _dir_entry(self, key: str) -> dict[str, Any]:
        return {"name": self._native(key.rstrip("/")), "size": 0, "type": "directory"}

    # -- metadata ----------------------------------------------------------------------------

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        key = self._key(path)
        if not key:
            return self._dir_entry("")
        if not obstore_addressable(key):
            return self.fallback.info(self._native(key), **kwargs)
        import obstore as obs

        with contextlib.suppress(FileNotFoundError), map_errors(self._native(key)):
            return self._file_entry(obs.head(self.client, key))
        if self._has_children(key):
            return self._dir_entry(key)
        raise ObjectNotFoundError(f"no object or prefix at {self._native(key)}")

    def _has_children(self, key: str) -> bool:
        import obstore as obs

        with map_errors(self._native(key)):
            stream = obs.list(self.client, key.rstrip("/") + "/", chunk_size=1)
            return any(True for _ in next(iter(stream), []))

    def object_exists(self, path: str) -> bool:
        """True when an object (not a prefix) is at ``path``: one HEAD."""
        key = self._direct(path)
        if key is None:
            return bool(self.fallback.isfile(self._native(self._key(path))))
        import obstore as obs

        try:
            with map_errors(self._native(key)):
                obs.head(self.client, key)
        except FileNotFoundError:
            return False
        return True

    def modified(self, path: str) -> datetime:
        info = self.info(path)
        if info["type"] != "file":
            raise IsADirectoryError(path)
        return info["LastModified"]

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        import obstore as obs

        key = self._key(path).rstrip("/")
        if key and not obstore_addressable(key):
            return self.fallback.ls(self._native(key), detail=detail, **kwargs)
        prefix = key + "/" if key else None
        with map_errors(self._native(key)):
            listed = obs.list_with_delimiter(self.client, prefix)
        entries = [self._dir_entry(p) for p in listed["common_prefixes"]]
        names = {e["name"] for e in entries}
        entries += [e for e in self._listed(listed["objects"]) if e["name"] not in names]
        if not entries and key:
            # an object (fsspec's ls of a file lists that file) or nothing at all
            with map_errors(self._native(key)):
                entries = [self._file_entry(obs.head(self.client, key))]
        return entries if detail else [e["name"] for e in entries]

    def find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        import obstore as obs

        key = self._key(path).rstrip("/")
        if maxdepth is not None or (key and not obstore_addressable(key)):
            return super().find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail)
        out: dict[str, dict[str, Any]] = {}
        with map_errors(self._native(key)):
            for chunk in obs.list(self.client, key + "/" if key else None, chunk_size=1000):
                for entry in self._listed(chunk):
                    if entry["type"] == "directory" and not withdirs:
                        continue
                    out[entry["name"]] = entry
        if withdirs:
            for name in list(out):
                parent = name.rpartition("/")[0]
                while len(parent) > len(self._native(key)):
                    out.setdefault(parent, self._dir_entry(self._key(parent)))
                    parent = parent.rpartition("/")[0]
        if not out and key:
            with contextlib.suppress(FileNotFoundError), map_errors(self._native(key)):
                entry = self._file_entry(obs.head(self.client, key))
                out[entry["name"]] = entry
        names = sorted(out)
        return {n: out[n] for n in names} if detail else names
