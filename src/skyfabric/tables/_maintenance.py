"""Snapshot expiry with file removal, and orphan-file garbage collection.

pyiceberg's ``expire_snapshots`` only drops snapshots from the metadata; their files stay in
the bucket forever. Here a file is **referenced** when one of these names it:

- the current metadata file, and the previous metadata files listed in its metadata log;
- statistics and partition-statistics files listed in the metadata;
- for every retained snapshot: its manifest list, the manifests in it, and the *live*
  (added or existing) data and delete files in those manifests.

`expire` removes the files that only expired snapshots referenced; `gc` removes
every file under the table location that nothing references and that is older than a grace
period (a commit in flight has written files it does not reference yet). Both look under the
table location and the roots placement relocated the table's files to
(`skyfabric.tables._relocate.ROOTS_PROPERTY`); files elsewhere are never deleted, nor are
files under the roots of parquet registered with ``register_parquet``
(`skyfabric.tables._datasets.EXTERNAL_ROOTS_PROPERTY`), even inside the table location.

Tables can overlap (a table created inside another's location before ``create_table``
refused that, or placement relocating files into another table's folder), so `gc` never
deletes, nor lists, a file under another catalog table's location, relocated roots, write
paths or registered roots (`foreign_places`): orphans there are left alone. `expire` needs no
such guard: it deletes only files the table's own expired snapshots referenced.
A dry run returns exactly the list the real run would delete.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from skyfabric.storage.kinds import kind_class
from skyfabric.tables._fileio import parse_location
from skyfabric.tables._model import ExpireResult, GcResult, parse_duration
from skyfabric.tables.errors import TableError
from skyfabric.warnings import UnreadableTableWarning

if TYPE_CHECKING:
    from pyiceberg.table import Table as IcebergTable
    from pyiceberg.table.snapshots import Snapshot as IcebergSnapshot

    from skyfabric.storage.stores import Store
    from skyfabric.tables._service import TableService

__all__ = ["expire", "foreign_places", "gc", "referenced_files", "table_roots"]

WRITE_PATH_PROPERTIES = ("write.data.path", "write.metadata.path", "write.object-storage.path")


def _key(location: str) -> str:
    """Comparable form of a native URL or listed path: the protocol-less path."""
    loc = parse_location(location)
    return (loc.path if loc else location).strip("/")


def referenced_files(tbl: IcebergTable,
                     snapshots: Iterable[IcebergSnapshot] | None = None) -> dict[str, str]:
    """Key -> native URL of every file referenced by ``snapshots`` (default: all) and the
    metadata (see the module docstring). Manifests are read once each, in parallel."""
    from pyiceberg.utils.concurrent import ExecutorFactory

    meta = tbl.metadata
    snaps = list(meta.snapshots if snapshots is None else snapshots)
    out: dict[str, str] = {}

    def add(url: str | None) -> None:
        if url:
            out[_key(url)] = url

    add(tbl.metadata_location)
    for entry in meta.metadata_log:
        add(entry.metadata_file)
    for stats in [*meta.statistics, *getattr(meta, "partition_statistics", [])]:
        add(stats.statistics_path)
    executor = ExecutorFactory.get_or_create()
    manifests: dict[str, Any] = {}
    for snap, listed in zip(snaps, executor.map(lambda s: s.manifests(tbl.io), snaps), strict=True):
        add(snap.manifest_list)
        for manifest in listed:
            manifests.setdefault(manifest.manifest_path, manifest)
    for path in manifests:
        add(path)
    entries = executor.map(lambda m: m.fetch_manifest_entry(tbl.io, discard_deleted=True),
                           manifests.values())
    for batch in entries:
        for entry in batch:
            add(entry.data_file.file_path)
    return out


def _place(location: str) -> tuple[str, str] | None:
    """``(kind, protocol-less path)`` of a native URL; None for unknown schemes."""
    loc = parse_location(location)
    return (loc.kind, loc.path.strip("/")) if loc else None


def _places(locations: Iterable[str]) -> list[tuple[str, str]]:
    return [p for loc in locations if (p := _place(loc)) is not None]


def _under_any(place: tuple[str, str], roots: Iterable[tuple[str, str]]) -> bool:
    return any(kind == place[0] and _inside(place[1], key) for kind, key in roots)


def table_roots(tbl: IcebergTable) -> list[str]:
    """Native URLs of every root a table's files may live under: its location, the roots
    placement relocated files to, its ``write.*.path`` properties and the roots of parquet
    registered into it."""
    from skyfabric.tables._datasets import external_roots
    from skyfabric.tables._relocate import roots_of

    props = tbl.properties
    writes = [props[p] for p in WRITE_PATH_PROPERTIES if props.get(p)]
    return [tbl.location(), *roots_of(tbl), *writes, *external_roots(tbl)]


def foreign_places(service: TableService, tbl: IcebergTable) -> list[tuple[str, str]]:
    """``(kind, path)`` of every root (`table_roots`) of the catalog's *other* tables.

    Each table is loaded (its properties name its relocated and registered roots). A table
    that cannot be loaded counts with the location its SQL catalog row implies.

    Raises:
        TableError: a table can be neither loaded nor located (REST catalog), so which files
            are its own is unknown.
    """
    from skyfabric.tables._catalog import split_name
    from skyfabric.tables.errors import TableNotFoundError

    own = tbl.metadata.table_uuid
    out: list[tuple[str, str]] = []
    for name in service.table_names():
        ident = split_name(name)
        try:
            other = service.load(ident)
        except TableNotFoundError:  # dropped meanwhile
            continue
        except Exception as exc:
            meta = service.metadata_location(ident)
            if not meta:
                raise TableError(
                    f"cannot load table {name!r} ({exc}), so which files under shared folders "
                    f"are its own is unknown and nothing is deleted; fix: make {name} loadable "
                    "(its store reachable) or drop it, then run again"
                ) from exc
            root = meta.rsplit("/metadata/", 1)[0] if "/metadata/" in meta else meta.rsplit("/", 1)[0]
            from skyfabric.tables._service import unreadable_reason

            warnings.warn(
                f"table {name!r}: {unreadable_reason(name, exc)} (until then, everything under "
                f"{root} is taken to be its files, and kept)",
                UnreadableTableWarning,
                stacklevel=2,
            )
            out += _places([root])
            continue
        if other.metadata.table_uuid != own:
            out += _places(table_roots(other))
    return out


def _url(table_location: str, key: str) -> str:
    """Native URL of a listed key, in the table location's scheme."""
    if "://" not in table_location:
        return "/" + key
    scheme = table_location.split("://", 1)[0]
    loc = parse_location(table_location)
    rooted = loc is not None and kind_class(loc.kind).hierarchical
    return f"{scheme}:///{key}" if rooted else f"{scheme}://{key}"


def _store_of(service: TableService, tbl: IcebergTable) -> Store:
    store = service.store_of_table(tbl)
    if store is None:
        raise TableError(
            f"table location {tbl.location()!r} is in no configured store, so its files cannot "
            "be listed or removed; fix: add that bucket/container as a store in skyfabric.toml"
        )
    return store


def _roots(service: TableService, tbl: IcebergTable) -> list[tuple[str, str, Store]]:
    """(root key, native root, store) of the table location and of the roots placement
    relocated its files to (`skyfabric.tables._relocate.ROOTS_PROPERTY`)."""
    from skyfabric.tables._relocate import roots_of

    out = [(_key(tbl.location()), tbl.location(), _store_of(service, tbl))]
    for root in roots_of(tbl):
        store = service.store_of(root)
        if store is not None:
            out.append((_key(root), root, store))
    return out


def _kind(url: str) -> str:
    loc = parse_location(url)
    return loc.kind if loc else ""


def _owner(key: str, roots: list[tuple[str, str, Store]]) -> tuple[str, str, Store] | None:
    return next((r for r in roots if _inside(key, r[0])), None)


def _inside(key: str, root_key: str) -> bool:
    return key == root_key or key.startswith(root_key + "/")


def _delete(store: Store, keys: list[str]) -> None:
    """Delete native paths (protocol-less) in bulk; already-gone files are fine."""
    if not keys:
        return
    paths = [store.fs_path(k) for k in keys]
    try:
        store.fs.rm(paths)
    except FileNotFoundError:
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                store.fs.rm_file(path)


def _sizes(store: Store, root: str) -> dict[str, dict[str, Any]]:
    root_path = store.fs_path(root)
    try:
        listing = store.fs.find(root_path, detail=True)
    except FileNotFoundError:
        return {}
    files = {name.strip("/"): info for name, info in listing.items()
             if info.get("type") != "directory"}
    # Directory markers (pyarrow's S3 client writes "dir/" objects when it empties a
    # directory) are listed as zero-byte files named like a prefix of others: not files.
    prefixes = {k.rsplit("/", 1)[0] for k in files}
    return {k: v for k, v in files.items() if k not in prefixes}


def expire(service: TableService, tbl: IcebergTable, older_than: Any, retain_last: int,
           dry_run: bool) -> ExpireResult:
    """Expire snapshots committed before now - ``older_than``, except the ``retain_last``
    newest ancestors of the current snapshot and every branch/tag head; then delete the
    files only expired snapshots referenced (inside the table location and relocated roots,
    never under registered roots: those are in ``kept_outside``).

    Raises:
        ValueError: ``older_than`` cannot be read or ``retain_last`` < 1.
        TableError: the table location is in no configured store.
        CommitFailedException: a concurrent commit (the caller re-plans).
    """
    from pyiceberg.table.snapshots import ancestors_of

    from skyfabric.tables._datasets import external_roots

    if retain_last < 1:
        raise ValueError(f"retain_last must be >= 1 (got {retain_last}); the current snapshot stays")
    cutoff_ms = int((datetime.now(UTC) - parse_duration(older_than)).timestamp() * 1000)
    meta = tbl.metadata
    protected = {ref.snapshot_id for ref in meta.refs.values()}
    recent = [s.snapshot_id for s in ancestors_of(tbl.current_snapshot(), meta)][:retain_last]
    keep = protected | set(recent)
    doomed = sorted(s.snapshot_id for s in meta.snapshots
                    if s.timestamp_ms < cutoff_ms and s.snapshot_id not in keep)
    result = ExpireResult(snapshot_ids=doomed, dry_run=dry_run)
    if not doomed:
        return result
    roots = _roots(service, tbl)
    before = referenced_files(tbl)
    retained = [s for s in meta.snapshots if s.snapshot_id not in set(doomed)]
    after = referenced_files(tbl, retained)
    gone = sorted(k for k in before if k not in after)
    registered = _places(external_roots(tbl))  # registered files are never ours to delete
    owned = {k: root for k in gone if (root := _owner(k, roots)) is not None
             and not _under_any((_kind(before[k]), k), registered)}
    result.kept_outside = [before[k] for k in gone if k not in owned]
    sizes: dict[str, dict[str, Any]] = {}
    for root_key, _, store in roots:
        if any(r[0] == root_key for r in owned.values()):
            sizes.update(_sizes(store, root_key))
    result.files = [before[k] for k in owned]
    result.bytes = sum(int(sizes.get(k, {}).get("size") or 0) for k in owned)
    if dry_run:
        return result
    tbl.maintenance.expire_snapshots().by_ids(doomed).commit()
    for root_key, _, store in roots:
        _delete(store, [k for k, r in owned.items() if r[0] == root_key])
    return result


_MTIME_KEYS = ("LastModified", "last_modified", "updated", "mtime", "created")


def _mtime(info: dict[str, Any]) -> datetime | None:
    for key in _MTIME_KEYS:
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def gc(service: TableService, tbl: IcebergTable, older_than: Any, dry_run: bool) -> GcResult:
    """Delete files under the table location (and relocated roots) that nothing references
    (module docstring) and that were last modified more than ``older_than`` ago; never files
    under registered roots nor under another catalog table's roots (`foreign_places`).

    Raises:
        ValueError: ``older_than`` cannot be read.
        TableError: the table location is in no configured store; another table cannot be
            loaded nor located.
    """
    from skyfabric.tables._datasets import external_roots

    grace = parse_duration(older_than)
    store = _store_of(service, tbl)
    refs = referenced_files(tbl)
    now = datetime.now(UTC)
    result = GcResult(dry_run=dry_run)
    roots = _roots(service, tbl)
    protected = foreign_places(service, tbl) + _places(external_roots(tbl))
    for prop in WRITE_PATH_PROPERTIES:
        if tbl.properties.get(prop) and _key(tbl.properties[prop]) not in {r[0] for r in roots}:
            roots.append((_key(tbl.properties[prop]), tbl.location(), store))
    seen: set[str] = set()  # a root may lie inside another (write.data.path)
    for root_key, native, root_store in sorted(roots, key=lambda r: r[0]):
        doomed = []
        kind = _kind(native)
        if _under_any((kind, root_key), protected):
            continue  # the whole root is another table's (or registered files)
        for key, info in sorted(_sizes(root_store, root_key).items()):
            if info.get("type") == "directory" or key in refs or key in seen:
                continue
            if _under_any((kind, key), protected):
                continue
            seen.add(key)
            url = _url(native, key)
            modified = _mtime(info)
            if grace > timedelta(0) and (modified is None or now - modified < grace):
                result.skipped_recent.append(url)
                continue
            doomed.append(key)
            result.files.append(url)
            result.bytes += int(info.get("size") or 0)
        if not dry_run:
            _delete(root_store, doomed)
    return result
