"""View definitions in files, for the CLI: TOML, YAML or Python.

TOML (YAML has the same keys)::

    name = "carrier_360"
    catalog = "lake"                 # optional; schema, comment, security likewise
    schema = "analytics"
    select = ["f.carrier", "a.name", "count(*) AS flights"]
    where = ["f.month <= 3"]
    group_by = ["f.carrier", "a.name"]

    [sources.f]                      # the first source is the FROM
    parquet = "fabric://lake/flights/"

    [sources.a]                      # later ones are joined: keys = [...] or on = "...", how
    parquet = "fabric://features/airlines/"
    keys = ["carrier"]

    [sources.t]
    iceberg = "crm.tickets"          # snapshot_id = 42 pins a snapshot
    on = "t.carrier = f.carrier"
    how = "left"

Instead of ``select``/``where``..., ``sql = "CREATE VIEW ... AS SELECT ..."`` gives the view in
Trino SQL; ``[sources.<catalog.schema.table>]`` then binds its tables. A Python file defines
``view`` (a `View`) or ``views`` (a list of them). Several views: ``[[views]]`` tables.
"""

from __future__ import annotations

import runpy
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skyfabric.errors import MissingDependencyError
from skyfabric.views.errors import InvalidViewError
from skyfabric.views.model import View
from skyfabric.views.sources import IcebergSource, ParquetSource, Source

if TYPE_CHECKING:
    from skyfabric.fabric import Fabric

__all__ = ["load_views"]

_VIEW_KEYS = {"name", "catalog", "schema", "comment", "security", "select", "where", "group_by",
              "having", "sources", "sql"}
_SOURCE_KEYS = {"parquet", "iceberg", "trino_table", "snapshot_id", "trino_catalog", "keys", "on", "how"}


def _source(alias: str, spec: dict[str, Any], where: str) -> Source:
    unknown = set(spec) - _SOURCE_KEYS
    if unknown:
        raise InvalidViewError(f"{where}: sources.{alias} has unknown keys {sorted(unknown)}; "
                               f"known: {sorted(_SOURCE_KEYS)}")
    if ("parquet" in spec) == ("iceberg" in spec):
        raise InvalidViewError(f"{where}: sources.{alias} needs exactly one of parquet = 'fabric://...' "
                               "or iceberg = 'namespace.table'")
    if "parquet" in spec:
        return ParquetSource(spec["parquet"], trino_table=spec.get("trino_table"))
    return IcebergSource(spec["iceberg"], snapshot_id=spec.get("snapshot_id"),
                         trino_catalog=spec.get("trino_catalog"))


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def view_from_dict(data: dict[str, Any], fabric: Fabric | None = None, where: str = "<dict>") -> View:
    """Build one view from a parsed TOML/YAML table (see the module docstring).

    Raises:
        InvalidViewError: an unknown key, a missing name or source, or an invalid value.
    """
    unknown = set(data) - _VIEW_KEYS
    if unknown:
        raise InvalidViewError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(_VIEW_KEYS)}")
    sources = data.get("sources") or {}
    opts = {k: data[k] for k in ("catalog", "schema", "comment", "security") if k in data}
    if "sql" in data:
        bound = {key: _source(key, spec, where) for key, spec in sources.items()}
        return View.from_sql(data["sql"], sources=bound, name=data.get("name"), fabric=fabric, **opts)
    if "name" not in data:
        raise InvalidViewError(f"{where}: the view has no name; fix: add name = \"...\"")
    if not sources:
        raise InvalidViewError(f"{where}: the view has no [sources.<alias>] table")
    view = View(data["name"], fabric=fabric, **opts)
    for pos, (alias, spec) in enumerate(sources.items()):
        src = _source(alias, spec, where)
        if pos == 0:
            view = view.from_(alias, src)
        else:
            view = view.join(alias, src, keys=spec.get("keys"), on=spec.get("on"),
                             how=spec.get("how", "inner"))
    view = view.select(*_as_list(data.get("select")))
    view = view.where(*_as_list(data.get("where")))
    view = view.group_by(*_as_list(data.get("group_by")))
    return view.having(*_as_list(data.get("having")))


def load_views(path: str | Path, fabric: Fabric | None = None) -> list[View]:
    """The views defined in a ``.toml``, ``.yaml``/``.yml`` or ``.py`` file.

    Raises:
        InvalidViewError: the file is malformed or defines no view.
        MissingDependencyError: a YAML file without PyYAML installed.
        FileNotFoundError: no such file.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".py":
        ns = runpy.run_path(str(path))
        found = ns.get("views", [ns["view"]] if "view" in ns else [])
        views = [v.bind(fabric) if fabric is not None else v for v in found if isinstance(v, View)]
        if not views:
            raise InvalidViewError(f"{path}: defines no `view` (a View) nor `views` (a list of them)")
        return views
    if suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidViewError(f"{path} is not valid TOML: {exc}") from None
    elif suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:
            raise MissingDependencyError("YAML view files need PyYAML; fix: pip install pyyaml") from exc
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise InvalidViewError(f"{path} is not valid YAML: {exc}") from None
    else:
        raise InvalidViewError(f"{path}: unknown view file type {suffix!r}; fix: use .toml, .yaml or .py")
    tables = data.get("views") if isinstance(data, dict) and "views" in data else [data]
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise InvalidViewError(f"{path}: expected a view table or a list under 'views'")
    return [view_from_dict(t, fabric, f"{path}" + (f" views[{i}]" if len(tables) > 1 else ""))
            for i, t in enumerate(tables)]
