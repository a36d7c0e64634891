"""Run views locally: an embedded DuckDB session over sources read through skyfabric.

No DuckDB extension is installed or loaded (autoinstall and autoload are switched off): the
data never goes through DuckDB's own S3/GCS/Azure readers. Each source is read into Arrow
by skyfabric (parquet datasets through `Fabric.dataset`, Iceberg tables through the table
layer), only the columns the views use, and registered in DuckDB under the same
``catalog.schema.table`` it has in Trino (each Trino catalog is an attached in-memory
database), so the view's SQL is the Trino SQL transpiled by sqlglot, not a rewrite.

A session is a snapshot: sources are read when a view first needs them (again when a later
view needs more columns). Open a new session, or call `LocalSession.reload`, to see
newer data.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from skyfabric.errors import MissingDependencyError
from skyfabric.views.errors import ViewApplyError
from skyfabric.views.render import duckdb_catalog, duckdb_query_sql, duckdb_table_name

if TYPE_CHECKING:
    import duckdb
    import polars as pl
    import pyarrow as pa

    from skyfabric.fabric import Fabric
    from skyfabric.views._compile import Binding
    from skyfabric.views.model import View

__all__ = ["LocalSession", "LocalView"]

_ids = itertools.count()


def _q(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


class LocalView:
    """A view created in a `LocalSession`: query it, or fetch it as Arrow / polars."""

    def __init__(self, session: LocalSession, qualified: str, view: View) -> None:
        self.session = session
        self.qualified = qualified
        self.view = view

    def __repr__(self) -> str:
        return f"LocalView({self.qualified})"

    @property
    def relation(self) -> duckdb.DuckDBPyRelation:
        """The view as a lazy DuckDB relation."""
        return self.session.connection.sql(f"SELECT * FROM {self.qualified}")

    @property
    def schema(self) -> pa.Schema:
        """Output Arrow schema (no rows are computed)."""
        return self.session.connection.sql(f"SELECT * FROM {self.qualified} LIMIT 0").to_arrow_table().schema

    def to_arrow(self) -> pa.Table:
        """Every row, as a ``pyarrow.Table``."""
        return self.relation.to_arrow_table()

    def to_polars(self) -> pl.DataFrame:
        """Every row, as a polars DataFrame."""
        return self.relation.pl()


class LocalSession:
    """An embedded DuckDB session in which views are created and run.

    Args:
        fabric: where the sources are read from.
        empty: register empty tables with the sources' schemas instead of reading data (to
            infer a view's output schema cheaply).
        connection: an existing DuckDB connection to use (default: a new in-memory one).

    Raises:
        MissingDependencyError: duckdb is not installed.
    """

    def __init__(self, fabric: Fabric, *, empty: bool = False,
                 connection: duckdb.DuckDBPyConnection | None = None) -> None:
        try:
            import duckdb
        except ImportError as exc:
            raise MissingDependencyError("local views need duckdb; fix: pip install 'skyfabric[engines]'") from exc
        self.fabric = fabric
        self.empty = empty
        self.connection = connection if connection is not None else duckdb.connect()
        self.connection.execute("SET autoinstall_known_extensions = false")
        self.connection.execute("SET autoload_known_extensions = false")
        self._loaded: dict[str, tuple[frozenset[str], str]] = {}
        self._catalogs: set[str] = set()
        self._views: dict[int, LocalView] = {}

    def __enter__(self) -> LocalSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the DuckDB connection."""
        self.connection.close()

    def _run(self, sql: str, what: str) -> Any:
        try:
            return self.connection.execute(sql)
        except Exception as exc:  # duckdb.Error and its many subclasses
            raise ViewApplyError(f"DuckDB refused {what}: {exc}\n  statement: {sql}") from exc

    def _schema(self, catalog: str, schema: str) -> str:
        cat = duckdb_catalog(catalog)
        if cat not in self._catalogs:
            self._run(f"ATTACH IF NOT EXISTS ':memory:' AS {_q(cat)}", f"catalog {catalog!r}")
            self._catalogs.add(cat)
        self._run(f"CREATE SCHEMA IF NOT EXISTS {_q(cat)}.{_q(schema)}", f"schema {catalog}.{schema}")
        return f"{_q(cat)}.{_q(schema)}"

    def _load(self, binding: Binding) -> None:
        want = frozenset(binding.needed())
        have = self._loaded.get(binding.key)
        if have is not None and want <= have[0]:
            return
        cols = [n for n in binding.schema.names if n in want | (have[0] if have else frozenset())]
        if self.empty:
            table = binding.schema.empty_table().select(cols)
        else:
            table = binding.source.to_arrow(self.fabric, cols)
        reg = f"__skyfabric_src_{next(_ids)}"
        self.connection.register(reg, table)
        catalog, schema, name = binding.name
        pinned = duckdb_table_name(name, binding.source.trino_version())
        self._run(f"CREATE OR REPLACE VIEW {self._schema(catalog, schema)}.{_q(pinned)} AS SELECT * FROM {_q(reg)}",
                  f"source {binding.source.describe()}")
        if have is not None:
            self.connection.unregister(have[1])
        self._loaded[binding.key] = (frozenset(cols), reg)

    def create(self, view: View) -> LocalView:
        """Create ``view`` (and the views it reads) in this session; read what it needs.

        Raises:
            UnknownSourceError, UnknownColumnError, AmbiguousColumnError, InvalidViewError:
                the definition is invalid (nothing is read).
            ViewApplyError: DuckDB refused the transpiled SQL.
        """
        from skyfabric.views.model import View

        compiled = view.compile(self.fabric)
        for binding in compiled.bindings.values():
            if isinstance(binding.source, View):
                self.create(binding.source)
            else:
                self._load(binding)
        catalog, schema, name = compiled.name
        qualified = f"{self._schema(catalog, schema)}.{_q(name)}"
        self._run(f"CREATE OR REPLACE VIEW {qualified} AS {duckdb_query_sql(compiled)}", f"view {name!r}")
        if view.comment:
            self._run(f"COMMENT ON VIEW {qualified} IS {exp.Literal.string(view.comment).sql('duckdb')}",
                      f"the comment of view {name!r}")
        local = LocalView(self, qualified, view)
        self._views[id(view)] = local
        return local

    def reload(self) -> None:
        """Read every source again and recreate the session's views over the new data."""
        views = [v.view for v in self._views.values()]
        for _cols, reg in self._loaded.values():
            self.connection.unregister(reg)
        self._loaded.clear()
        for view in views:
            self.create(view)

    def sql(self, query: str) -> duckdb.DuckDBPyRelation:
        """Run DuckDB SQL in this session (views are ``"catalog"."schema"."name"``)."""
        try:
            return self.connection.sql(query)
        except Exception as exc:
            raise ViewApplyError(f"DuckDB refused the query: {exc}\n  query: {query}") from exc
