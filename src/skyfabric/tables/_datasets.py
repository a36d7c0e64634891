"""One listing of the lake (Iceberg tables + plain parquet/CSV prefixes) and ``register_parquet``."""

from __future__ import annotations

import json
import posixpath
import warnings
from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from skyfabric.errors import ObjectNotFoundError, brief
from skyfabric.storage.paths import PREFIX, parse
from skyfabric.tables._maintenance import _key, _mtime
from skyfabric.tables._model import DatasetInfo
from skyfabric.tables._relocate import json_list_property, roots_of
from skyfabric.tables.errors import SchemaMismatchError, TableError
from skyfabric.warnings import UnreachableStoreWarning

if TYPE_CHECKING:
    from skyfabric.storage.stores import Store
    from skyfabric.tables._service import TableService
    from skyfabric.tables.table import Table

__all__ = ["EXTERNAL_ROOTS_PROPERTY", "external_roots", "list_datasets", "register_parquet"]

EXTERNAL_ROOTS_PROPERTY = "skyfabric.external-roots"
"""Table property: JSON list of native URL roots (no trailing slash) of the parquet files
``register_parquet`` added to the table. They live outside the table's own folders and are
never the table's to delete or move (expiry, ``gc`` and placement leave them alone)."""

_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".csv.gz": "csv", ".tsv": "csv"}


def _format(name: str) -> str | None:
    lower = name.lower()
    for suffix, fmt in _FORMATS.items():
        if lower.endswith(suffix):
            return fmt
    return None


def _hidden(key: str) -> bool:
    return any(part.startswith(("_", ".")) for part in key.split("/"))


def _iceberg_entries(service: TableService, store: str | None) -> tuple[list[DatasetInfo], list[str]]:
    entries, roots = [], []
    for name in service.table_names():
        tbl = service.load_or_skip(name, "listing datasets")
        if tbl is None:
            continue
        try:
            holder = service.store_of_table(tbl)
        except TableError:
            holder = None
        # Files placement moved to other stores are the table's too, not datasets of their own.
        roots += [_key(tbl.location()), *(_key(r) for r in roots_of(tbl))]
        if store is not None and (holder is None or holder.name != store):
            continue
        snap = tbl.current_snapshot()
        summary = dict(snap.summary.additional_properties) if snap and snap.summary else {}

        def num(key: str, summary: dict[str, str] = summary) -> int | None:
            return int(summary[key]) if key in summary else None

        entries.append(DatasetInfo(
            name=name, kind="iceberg", store=holder.name if holder else None,
            location=service.fabric_url(tbl.location(), holder.name if holder else None),
            rows=num("total-records") if snap else 0, bytes=num("total-files-size") if snap else 0,
            files=num("total-data-files") if snap else 0,
            last_modified=datetime.fromtimestamp(tbl.metadata.last_updated_ms / 1000, UTC),
        ))
    return entries, roots


def _plain_entries(store: Store, skip_roots: list[str]) -> list[DatasetInfo]:
    root = store.root
    native_root = store.fs_path(root)
    try:
        listing = store.fs.find(native_root, detail=True)
    except FileNotFoundError:
        return []
    except Exception as exc:  # one store down must not hide the others' datasets
        warnings.warn(
            f"listing datasets: skipped store {store.name!r}, which did not answer "
            f"({brief(exc, 200)}); fix: check it with `skyfabric stores`, or list the others "
            "with --store NAME",
            UnreachableStoreWarning,
            stacklevel=2,
        )
        return []
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for path, info in listing.items():
        key = store.key_of(path)
        full = path.strip("/")
        if info.get("type") == "directory" or _format(key) is None or _hidden(key):
            continue
        if any(full == r or full.startswith(r + "/") for r in skip_roots):
            continue
        parts = key.split("/")[:-1]
        while parts and "=" in parts[-1]:  # hive partition folders belong to the dataset
            parts.pop()
        groups["/".join(parts) if parts else key].append((key, info))
    out = []
    for prefix, files in sorted(groups.items()):
        kinds = {_format(k) for k, _ in files}
        times = [t for _, info in files if (t := _mtime(info)) is not None]
        url = f"{PREFIX}{store.name}/{prefix}"
        out.append(DatasetInfo(
            name=url, kind=kinds.pop() if len(kinds) == 1 else "mixed", store=store.name,
            location=url, rows=None, bytes=sum(int(i.get("size") or 0) for _, i in files),
            files=len(files), last_modified=max(times) if times else None,
        ))
    return out


def list_datasets(service: TableService, store: str | None = None) -> list[DatasetInfo]:
    """Iceberg tables then plain datasets, each sorted by name (see ``Fabric.datasets``).

    Raises:
        UnknownStoreError: ``store`` is not configured.
    """
    if store is not None and store not in service.stores:
        from skyfabric.errors import UnknownStoreError

        raise UnknownStoreError(f"unknown store {store!r}; configured: {', '.join(sorted(service.stores))}")
    tables, roots = _iceberg_entries(service, store)
    stores = [service.stores[store]] if store else [service.stores[n] for n in sorted(service.stores)]
    plain = [entry for s in stores for entry in _plain_entries(s, roots)]
    return tables + plain


def _parquet_files(store: Store, key: str) -> list[str]:
    native = store.fs_path(store.native_path(key))
    if set("*?[") & set(key):
        found = [p for p in store.fs.glob(native) if store.fs.isfile(p)]
    elif store.fs.isfile(native):
        found = [native]
    else:
        found = [p for p, info in store.fs.find(native, detail=True).items()
                 if info.get("type") != "directory"]
    keys = [store.key_of(p) for p in found]
    return sorted(k for k in keys if _format(k) == "parquet" and not _hidden(k.split("/")[-1]))


def external_roots(tbl: Any) -> list[str]:
    """Native URL roots of the parquet registered into ``tbl`` (a pyiceberg table, or
    anything with ``properties``) with `register_parquet`: `EXTERNAL_ROOTS_PROPERTY`."""
    return json_list_property(tbl, EXTERNAL_ROOTS_PROPERTY)


def _registered_roots(store: Store, key: str, keys: list[str]) -> list[str]:
    """Native roots of a registration: the file or prefix as given; for a glob, the deepest
    folder holding every match (the files themselves rather than the whole store)."""
    key = key.strip("/")
    if set("*?[") & set(key):
        key = posixpath.commonpath(keys)  # one match: the file itself
    if not key:  # never the whole store: that would fence off every table in it
        return [store.native_url(k).rstrip("/") for k in keys]
    return [store.native_url(key).rstrip("/")]


def register_parquet(service: TableService, name: str, url: str, *, location: str | None = None,
                     exist_ok: bool = False) -> Table:
    """See `skyfabric.tables.TablesMixin.register_parquet`."""
    import pyarrow.parquet as pq

    fp = parse(url)
    store = service.stores.get(fp.store)
    if store is None:
        service.native(url)  # raises UnknownStoreError with the configured names
        raise AssertionError  # pragma: no cover
    keys = _parquet_files(store, fp.key)
    if not keys:
        raise ObjectNotFoundError(f"no parquet file at {url}; fix: point at a file, prefix or glob "
                                  "holding .parquet files")
    first = store.native_path(keys[0])
    with store.fs.open(store.fs_path(first)) as fh:
        schema = pq.read_schema(fh)
    if any(b"PARQUET:field_id" in (f.metadata or {}) for f in schema):
        raise TableError(f"{url} was written with Iceberg field ids (it belongs to an Iceberg "
                         "table); add_files only takes plain parquet; fix: read it through its table")
    roots = _registered_roots(store, fp.key, keys)
    table = service.create_table(name, schema, location=location, exist_ok=exist_ok,
                                 properties={EXTERNAL_ROOTS_PROPERTY: json.dumps(roots)})
    urls = [store.native_url(k) for k in keys]
    ice = table.iceberg
    known = external_roots(ice)
    merged = known + [r for r in roots if r not in known]
    try:
        with ice.transaction() as tx:  # one commit: the files and the roots they live under
            if merged != known:
                tx.set_properties({EXTERNAL_ROOTS_PROPERTY: json.dumps(merged)})
            tx.add_files(urls)
    except ValueError as exc:
        if not exist_ok:
            service.drop_table(name)
        raise SchemaMismatchError(
            f"cannot register {url} as {name}: {exc}; fix: register files with one schema "
            "(or those the table's schema can read) per call"
        ) from exc
    return table
