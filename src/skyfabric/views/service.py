"""`ViewService`: the views capability of one `Fabric` (``fab.views``).

    views = ViewService(fab)                  # or fab.views
    v = views.view("carrier_360", catalog="lake").from_(...).join(...).select(...)
    views.render(v)                           # CREATE OR REPLACE VIEW ... (Trino)
    views.apply(v, engine="duckdb").to_arrow()
    views.apply(v, engine="trino")            # TRINO_HOST & co, or connection=
    views.trino_catalogs("etc/catalog")       # one .properties per store
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from skyfabric.views.catalogs import DEFAULT_TRINO_VERSION, CatalogFiles, trino_catalogs
from skyfabric.views.errors import InvalidViewError
from skyfabric.views.local import LocalSession, LocalView
from skyfabric.views.model import View
from skyfabric.views.trino_engine import TrinoConnection, execute

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

    from skyfabric.fabric import Fabric

__all__ = ["ApplyResult", "ViewService"]

Engine = Literal["trino", "duckdb"]


@dataclass
class ApplyResult:
    """What `ViewService.apply` did.

    Attributes:
        engine: ``trino`` or ``duckdb``.
        statements: the statements run, in order (Trino SQL, or DuckDB SQL).
        local: the created view in its DuckDB session (``engine="duckdb"`` only).
    """

    engine: str
    statements: list[str] = field(default_factory=list)
    local: LocalView | None = None

    def to_arrow(self) -> pa.Table:
        """Rows of the local view (``engine="duckdb"`` only)."""
        if self.local is None:
            raise InvalidViewError("the view was applied to Trino; query it there, or apply with engine='duckdb'")
        return self.local.to_arrow()


class ViewService:
    """Build, render, check and apply views over one fabric's stores."""

    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric

    def __repr__(self) -> str:
        return f"ViewService({self.fabric!r})"

    def view(self, name: str, **kwargs: Any) -> View:
        """A new `View` bound to this fabric (``kwargs`` as for `View`)."""
        return View(name, fabric=self.fabric, **kwargs)

    def from_sql(self, sql: str, **kwargs: Any) -> View:
        """`View.from_sql` bound to this fabric."""
        return View.from_sql(sql, fabric=self.fabric, **kwargs)

    def render(self, view: View, *, engine: Engine = "trino", pretty: bool = False) -> str:
        """The view's SQL: Trino ``CREATE OR REPLACE VIEW``, or its DuckDB query."""
        if engine == "trino":
            return view.to_trino(self.fabric, pretty=pretty)
        if engine == "duckdb":
            return view.to_duckdb_sql(self.fabric)
        raise InvalidViewError(f"engine {engine!r} is not 'trino' or 'duckdb'")

    def statements(self, view: View) -> list[str]:
        """Everything Trino needs for ``view``, in order (see `View.trino_statements`)."""
        return view.trino_statements(self.fabric)

    def apply(self, view: View, *, engine: Engine = "duckdb", connection: Any = None) -> ApplyResult:
        """Create ``view`` on an engine.

        Args:
            engine: ``duckdb`` (embedded, over the sources read through skyfabric) or
                ``trino`` (through the ``trino`` client).
            connection: for Trino a `TrinoConnection` or an open ``trino.dbapi`` connection
                (default: `TrinoConnection.from_config`); for DuckDB a `LocalSession` or a
                ``duckdb`` connection to create the view in (default: a new session).

        Raises:
            UnknownSourceError, UnknownColumnError, AmbiguousColumnError, InvalidViewError:
                the view is invalid; nothing was sent.
            ConfigError: no Trino connection is configured.
            ViewApplyError: the engine refused a statement.
        """
        if engine == "trino":
            statements = self.statements(view)  # check everything before connecting
            if connection is None:
                connection = TrinoConnection.from_config(self.fabric.config)
            if isinstance(connection, TrinoConnection):
                connection = connection.connect()
            return ApplyResult("trino", execute(statements, connection))
        if engine == "duckdb":
            session = connection if isinstance(connection, LocalSession) else LocalSession(
                self.fabric, connection=connection)
            local = session.create(view)
            return ApplyResult("duckdb", [view.to_duckdb_sql(self.fabric)], local)
        raise InvalidViewError(f"engine {engine!r} is not 'trino' or 'duckdb'")

    def session(self) -> LocalSession:
        """A new local DuckDB session over this fabric (create several views in it)."""
        return LocalSession(self.fabric)

    def to_arrow(self, view: View) -> pa.Table:
        """Run ``view`` locally; rows as Arrow."""
        return view.to_arrow(self.fabric)

    def to_polars(self, view: View) -> pl.DataFrame:
        """Run ``view`` locally; rows as a polars DataFrame."""
        return view.to_polars(self.fabric)

    def trino_catalogs(self, out: str | Path | None = None, *, version: int = DEFAULT_TRINO_VERSION,
                       hive: bool = True) -> CatalogFiles:
        """Trino catalog files for every object store (see `skyfabric.views.catalogs`);
        written into directory ``out`` when given."""
        files = trino_catalogs(self.fabric.config, version=version, hive=hive)
        if out is not None:
            files.write(out)
        return files
