"""The `View` model: sources, joins, projections, filters, grouping; built as sqlglot trees.

A view is immutable: every builder method returns a new view, so a base view can be
extended in several directions. Nothing is read or checked until it is compiled (by
`to_trino`, `to_arrow`, `schema` ...), when each source's schema is fetched once.

    v = (View("carrier_360", catalog="lake", schema="analytics", security="invoker")
         .from_("f", parquet("fabric://lake/flights/"))
         .join("a", parquet("fabric://features/airlines/"), keys=["carrier"])
         .select("a.name", flights="count(*)")
         .group_by("a.name"))
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from sqlglot import exp

from skyfabric.views._exprs import parse_expr
from skyfabric.views._idents import catalog_for_store, check_name, ident
from skyfabric.views.errors import InvalidViewError
from skyfabric.views.sources import Source

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

    from skyfabric.fabric import Fabric
    from skyfabric.views._compile import Compiled

__all__ = ["Join", "View"]

JoinHow = Literal["inner", "left", "right", "full", "cross"]
Security = Literal["definer", "invoker"]
_HOWS = ("inner", "left", "right", "full", "cross")
ExprLike = str | exp.Expression


class Join:
    """One join of a view: the joined source's alias, the join type, and keys or a condition."""

    def __init__(self, alias: str, how: str, on: exp.Expression | None,
                 keys: tuple[tuple[str, str], ...]) -> None:
        self.alias, self.how, self.on, self.keys = alias, how, on, keys

    def __repr__(self) -> str:
        cond = self.on.sql(dialect="trino") if self.on is not None else self.keys
        return f"Join({self.alias!r}, {self.how!r}, {cond!r})"


def _key_pairs(keys: str | Sequence[str] | Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    if keys is None:
        return ()
    if isinstance(keys, str):
        return ((keys, keys),)
    if isinstance(keys, Mapping):
        return tuple((str(a), str(b)) for a, b in keys.items())
    pairs = []
    for k in keys:
        if isinstance(k, str):
            pairs.append((k, k))
        elif isinstance(k, tuple | list) and len(k) == 2:
            pairs.append((str(k[0]), str(k[1])))
        else:
            raise InvalidViewError(f"join key {k!r} is not a column name or a (left, right) pair")
    return tuple(pairs)


class View(Source):
    """A view over parquet datasets, Iceberg tables and other views.

    Args:
        name: view name (any text: dashes, spaces and reserved words are quoted).
        catalog: Trino catalog holding the view, or a store name (``on-prem`` -> ``on_prem``);
            default: the catalog of the first source (a parquet source's Hive catalog).
        schema: Trino schema holding the view.
        comment: view comment (``COMMENT '...'``).
        security: ``"definer"`` or ``"invoker"`` (``SECURITY ...``); None: Trino's default.
        fabric: the `Fabric` whose stores hold the sources; None: ``skyfabric.connect()``.

    Raises:
        InvalidViewError: a name is empty, or ``security`` is not definer/invoker.
    """

    def __init__(self, name: str, *, catalog: str | None = None, schema: str = "views",
                 comment: str | None = None, security: Security | None = None,
                 fabric: Fabric | None = None) -> None:
        self.name = check_name(name, "view name")
        self.catalog = catalog_for_store(check_name(catalog, "catalog")) if catalog else None
        self.schema = check_name(schema, "schema")
        self.comment = comment
        if security is not None and str(security).lower() not in ("definer", "invoker"):
            raise InvalidViewError(f"security {security!r} must be 'definer' or 'invoker'")
        self.security: str | None = str(security).lower() if security else None
        self.fabric = fabric
        self.sources: tuple[tuple[str, Source], ...] = ()
        self.joins: tuple[Join, ...] = ()
        self.projections: tuple[exp.Expression, ...] = ()
        self.filters: tuple[exp.Expression, ...] = ()
        self.groups: tuple[exp.Expression, ...] = ()
        self.group_filters: tuple[exp.Expression, ...] = ()
        self.query: exp.Query | None = None  # set by from_sql
        self.bindings: dict[str, Source] = {}  # from_sql: "catalog.schema.table" -> source

    # -- identity -------------------------------------------------------------------------

    def __repr__(self) -> str:
        where = f"{self.catalog or '?'}.{self.schema}.{self.name}"
        srcs = ", ".join(f"{a}={s!r}" for a, s in self.sources) or f"{len(self.bindings)} bound"
        return f"View({where}, sources=[{srcs}])"

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def describe(self) -> str:
        return f"view {self.catalog or '?'}.{self.schema}.{self.name}"

    def _replace(self, **changes: Any) -> View:
        new = copy.copy(self)
        for key, value in changes.items():
            setattr(new, key, value)
        return new

    def bind(self, fabric: Fabric) -> View:
        """This view reading its sources through ``fabric``."""
        return self._replace(fabric=fabric)

    def _fab(self, fabric: Fabric | None) -> Fabric:
        if fabric is not None:
            return fabric
        if self.fabric is None:
            from skyfabric.fabric import connect

            self.fabric = connect()
        return self.fabric

    # -- building -------------------------------------------------------------------------

    def _check_builder(self, what: str) -> None:
        if self.query is not None:
            raise InvalidViewError(f"{what}: this view was written in SQL (from_sql); edit the SQL instead")

    def _alias(self, alias: str, source: Source) -> str:
        check_name(alias, "source alias")
        if not isinstance(source, Source):
            raise InvalidViewError(
                f"source {alias!r} is {type(source).__name__}, not a source; fix: use "
                "parquet('fabric://...'), iceberg('ns.table') or another View"
            )
        if any(a.lower() == alias.lower() for a, _ in self.sources):
            raise InvalidViewError(f"source alias {alias!r} is used twice; fix: give each source its own alias")
        return alias

    def from_(self, alias: str, source: Source) -> View:
        """Read ``source`` as ``alias`` (the first relation of the FROM clause)."""
        self._check_builder("from_")
        if self.sources:
            raise InvalidViewError(f"the view already reads {self.sources[0][0]!r}; fix: use .join() for more sources")
        return self._replace(sources=((self._alias(alias, source), source),))

    def join(self, alias: str, source: Source, *, keys: str | Sequence[Any] | Mapping[str, str] | None = None,
             on: ExprLike | None = None, how: JoinHow = "inner") -> View:
        """Join ``source`` as ``alias``.

        Args:
            keys: equal columns: ``"carrier"`` (same name both sides), a list of names or
                ``(left, right)`` pairs, or ``{left: right}``; a left name may be qualified
                (``"f.tailnum"``), an unqualified one must be in exactly one earlier source.
            on: a join condition instead of keys, e.g. ``"f.origin = w.origin AND ..."``.
            how: ``inner``, ``left``, ``right``, ``full`` or ``cross`` (no keys, no condition).

        Raises:
            InvalidViewError: no FROM source yet, both/neither of keys and on, unknown ``how``.
        """
        self._check_builder("join")
        if not self.sources:
            raise InvalidViewError("join before from_: fix: call .from_(alias, source) first")
        if how not in _HOWS:
            raise InvalidViewError(f"join type {how!r} is not one of {', '.join(_HOWS)}")
        if (keys is None) == (on is None) and how != "cross":
            raise InvalidViewError(f"join {alias!r}: give exactly one of keys= or on=")
        if how == "cross" and (keys is not None or on is not None):
            raise InvalidViewError(f"cross join {alias!r} takes no keys and no condition")
        alias = self._alias(alias, source)
        cond = parse_expr(on, f"join condition of {alias!r}") if on is not None else None
        join = Join(alias, how, cond, _key_pairs(keys))
        return self._replace(sources=(*self.sources, (alias, source)), joins=(*self.joins, join))

    def select(self, *columns: ExprLike, **aliased: ExprLike) -> View:
        """Add output columns: ``"f.carrier"``, ``"avg(f.dep_delay) AS delay"``, sqlglot
        expressions, or keyword aliases ``flights="count(*)"``. Default: ``*``."""
        self._check_builder("select")
        exprs = [parse_expr(c, "column") for c in columns]
        for name, value in aliased.items():
            exprs.append(exp.Alias(this=parse_expr(value, f"column {name}="), alias=ident(name)))
        return self._replace(projections=(*self.projections, *exprs))

    def where(self, *conditions: ExprLike) -> View:
        """Keep rows matching every condition (``AND``), e.g. ``"f.month <= 3"``."""
        self._check_builder("where")
        return self._replace(filters=(*self.filters, *(parse_expr(c, "filter") for c in conditions)))

    def group_by(self, *columns: ExprLike) -> View:
        """Group rows by these expressions (aggregate the other output columns)."""
        self._check_builder("group_by")
        return self._replace(groups=(*self.groups, *(parse_expr(c, "group by") for c in columns)))

    def having(self, *conditions: ExprLike) -> View:
        """Keep groups matching every condition, e.g. ``"count(*) > 10"``."""
        self._check_builder("having")
        return self._replace(group_filters=(*self.group_filters, *(parse_expr(c, "having") for c in conditions)))

    @classmethod
    def from_sql(cls, sql: str, *, sources: Mapping[str, Source] | None = None,
                 name: str | None = None, catalog: str | None = None, schema: str | None = None,
                 fabric: Fabric | None = None) -> View:
        """A view from hand-written Trino SQL: ``CREATE [OR REPLACE] VIEW c.s.n ... AS <query>``
        or a bare query (then ``name`` is required).

        Tables are bound to sources by ``sources`` (``{"lake_hive.raw.flights":
        parquet(...)}``); a table in no mapping is read as the Iceberg table ``schema.table``
        of the store whose catalog it names.

        Raises:
            InvalidViewError: the SQL does not parse, is not a view or query, or lacks a name.
        """
        from skyfabric.views._compile import parse_view_sql

        return parse_view_sql(cls, sql, sources=sources or {}, name=name, catalog=catalog,
                              schema=schema, fabric=fabric)

    # -- compiling and running --------------------------------------------------------------

    def compile(self, fabric: Fabric | None = None) -> Compiled:
        """Resolve sources and check every name; see `skyfabric.views._compile.Compiled`."""
        from skyfabric.views._compile import compile_view

        return compile_view(self, self._fab(fabric))

    def trino_name(self, fabric: Fabric | None = None) -> tuple[str, str, str]:
        if self.catalog is not None:
            return self.catalog, self.schema, self.name
        if self.query is not None:
            first_table = next((t for t in self.query.find_all(exp.Table) if t.catalog), None)
            if first_table is not None:
                return catalog_for_store(first_table.catalog), self.schema, self.name
        fab = self._fab(fabric)
        first = self.sources[0][1] if self.sources else next(iter(self.bindings.values()), None)
        if first is None:
            raise InvalidViewError(f"view {self.name!r} has no source; fix: call .from_() first")
        return first.trino_name(fab)[0], self.schema, self.name

    def to_trino(self, fabric: Fabric | None = None, *, pretty: bool = False) -> str:
        """The ``CREATE OR REPLACE VIEW catalog.schema.name ... AS ...`` statement for Trino.

        Raises:
            UnknownSourceError, UnknownColumnError, AmbiguousColumnError, InvalidViewError.
        """
        from skyfabric.views import render

        return render.trino_view_sql(self.compile(fabric), pretty=pretty)

    def trino_statements(self, fabric: Fabric | None = None) -> list[str]:
        """Every statement Trino needs, in order: Hive schemas and external tables for parquet
        sources, the views this view reads, then this view."""
        from skyfabric.views import render

        return render.trino_statements(self, self._fab(fabric))

    def trino_setup(self, fabric: Fabric) -> list[exp.Expression]:
        from skyfabric.views import render

        return render.trino_setup_exprs(self, fabric)

    def to_duckdb_sql(self, fabric: Fabric | None = None) -> str:
        """The view's query transpiled to DuckDB SQL (what the local engine runs)."""
        from skyfabric.views import render

        return render.duckdb_query_sql(self.compile(fabric))

    def arrow_schema(self, fabric: Fabric | None = None) -> pa.Schema:
        """Output columns and types (DuckDB's inference over empty inputs; no data read)."""
        from skyfabric.views.local import LocalSession

        with LocalSession(self._fab(fabric), empty=True) as session:
            return session.create(self).schema

    def to_arrow(self, fabric: Fabric | None = None, columns: Sequence[str] | None = None) -> pa.Table:
        """Run the view locally (embedded DuckDB over the sources read through skyfabric)."""
        from skyfabric.views.local import LocalSession

        with LocalSession(self._fab(fabric)) as session:
            table = session.create(self).to_arrow()
        return table.select(list(columns)) if columns else table

    def to_polars(self, fabric: Fabric | None = None) -> pl.DataFrame:
        """`to_arrow` as a polars DataFrame."""
        import polars as pl

        return pl.from_arrow(self.to_arrow(fabric))  # type: ignore[return-value]
