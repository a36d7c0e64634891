"""Compile a `View` into one checked query tree and the sources it binds.

Compiling fetches each source's schema once, builds the SELECT (builder views) or binds the
tables of hand-written SQL (`View.from_sql`), qualifies every table as
``catalog.schema.table`` and checks every column (see `_validate`). The result is what both
engines render: Trino SQL as is, DuckDB SQL transpiled by sqlglot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.optimizer.scope import traverse_scope

from skyfabric.views._exprs import parse_expr, quiet_sqlglot, quote_identifiers
from skyfabric.views._idents import catalog_for_store, ident, table_ref
from skyfabric.views._validate import output_names, resolve
from skyfabric.views.errors import (
    AmbiguousColumnError,
    InvalidViewError,
    UnknownColumnError,
    UnknownSourceError,
    did_you_mean,
)
from skyfabric.views.sources import IcebergSource, Source

if TYPE_CHECKING:
    import pyarrow as pa

    from skyfabric.fabric import Fabric
    from skyfabric.views.model import View

__all__ = ["Binding", "Compiled", "compile_view", "parse_view_sql", "table_key"]


@dataclass
class Binding:
    """One relation the query reads.

    Attributes:
        key: ``catalog.schema.table`` (lower case), plus ``@<snapshot>`` when pinned.
        source: what provides it.
        name: ``(catalog, schema, table)`` in Trino.
        schema: its Arrow schema.
        columns: the columns the query uses (real names); all of them if ``star``.
        star: a ``*`` reads every column.
    """

    key: str
    source: Source
    name: tuple[str, str, str]
    schema: pa.Schema
    columns: set[str] = field(default_factory=set)
    star: bool = False

    def needed(self) -> list[str]:
        """Columns to read, in schema order (at least one, so row counts survive)."""
        if self.star:
            return list(self.schema.names)
        cols = [n for n in self.schema.names if n in self.columns]
        return cols or list(self.schema.names[:1])


@dataclass
class Compiled:
    """A checked view: its Trino name, qualified query, bindings and output columns."""

    view: View
    name: tuple[str, str, str]
    query: exp.Query
    bindings: dict[str, Binding]
    output: list[str]


def table_key(table: exp.Table) -> str:
    """``catalog.schema.table[@snapshot]`` of a qualified table node, lower case."""
    version = table.args.get("version")
    pin = f"@{version.expression.name}" if version is not None else ""
    return f"{table.catalog}.{table.db}.{table.name}".lower() + pin


def _bind(bindings: dict[str, Binding], node: exp.Table, source: Source, fabric: Fabric) -> None:
    key = table_key(node)
    if key not in bindings:
        name = (node.catalog, node.db, node.name)
        bindings[key] = Binding(key, source, name, source.arrow_schema(fabric))


def _key_column(text: str, side: str, aliases: dict[str, list[str]], joined: str) -> exp.Column:
    node = parse_expr(text, f"join key {text!r}")
    if not isinstance(node, exp.Column):
        raise InvalidViewError(f"join key {text!r} is not a column; fix: use on= for expressions")
    if side == "right":
        if node.table and node.table.lower() != joined.lower():
            raise InvalidViewError(f"right join key {text!r} must be a column of {joined!r}")
        node.set("table", ident(joined))
        owners = [joined]
    elif node.table:
        if node.table.lower() not in {a.lower() for a in aliases}:
            raise UnknownSourceError(
                f"join key {text!r} names {node.table!r}, which is not joined before {joined!r}; "
                f"sources so far: {', '.join(aliases)}"
            )
        return node
    else:
        owners = [a for a, cols in aliases.items() if node.name.lower() in (c.lower() for c in cols)]
        if len(owners) > 1:
            raise AmbiguousColumnError(
                f"join key {node.name!r} of {joined!r} is in {', '.join(owners)}; "
                f"fix: qualify it, e.g. keys={{'{owners[0]}.{node.name}': '{node.name}'}}"
            )
        if not owners:
            every = [c for cols in aliases.values() for c in cols]
            raise UnknownColumnError(
                f"join key {node.name!r} of {joined!r} is in none of the sources joined before "
                f"({', '.join(aliases)}).{did_you_mean(node.name, every)}"
            )
        node.set("table", ident(owners[0]))
    return node


def _build_select(view: View, fabric: Fabric, bindings: dict[str, Binding]) -> exp.Select:
    if not view.sources:
        raise InvalidViewError(f"view {view.name!r} has no source; fix: call .from_(alias, source)")
    nodes: dict[str, exp.Table] = {}
    for alias, source in view.sources:
        catalog, schema, table = source.trino_name(fabric)
        node = table_ref(catalog, schema, table, alias=alias)
        version = source.trino_version()
        if version is not None:
            node.set("version", version)
        _bind(bindings, node, source, fabric)
        nodes[alias] = node
    query = exp.Select(expressions=[e.copy() for e in view.projections] or [exp.Star()])
    first = view.sources[0][0]
    query = query.from_(nodes[first], copy=False)
    seen = {first: bindings[table_key(nodes[first])].schema.names}
    for join in view.joins:
        cond = join.on.copy() if join.on is not None else None
        if join.keys:
            pairs = [exp.EQ(this=_key_column(left, "left", seen, join.alias),
                            expression=_key_column(right, "right", seen, join.alias))
                     for left, right in join.keys]
            cond = exp.and_(*pairs) if len(pairs) > 1 else pairs[0]
        query = query.join(nodes[join.alias], on=cond, join_type=join.how, copy=False)
        seen[join.alias] = bindings[table_key(nodes[join.alias])].schema.names
    if view.filters:
        query = query.where(*[f.copy() for f in view.filters], copy=False)
    if view.groups:
        query = query.group_by(*[g.copy() for g in view.groups], copy=False)
    if view.group_filters:
        query = query.having(*[h.copy() for h in view.group_filters], copy=False)
    return query


def _bind_sql_tables(view: View, fabric: Fabric, query: exp.Query, bindings: dict[str, Binding]) -> None:
    catalog, schema = view.catalog, view.schema
    stores = {catalog_for_store(s): s for s in fabric.config.stores}
    mapping = {_norm(k, catalog, schema): v for k, v in view.bindings.items()}
    for scope in traverse_scope(query):
        for src in scope.sources.values():
            if not isinstance(src, exp.Table) or not src.name:
                continue
            if not src.db:
                src.set("db", ident(schema))
            if not src.catalog:
                if catalog is None:
                    raise InvalidViewError(f"table {src.name!r} names no catalog; fix: qualify it or pass catalog=")
                src.set("catalog", ident(catalog))
            key = f"{src.catalog}.{src.db}.{src.name}".lower()
            source = mapping.get(key)
            if source is None and src.catalog.lower() in stores:
                source = IcebergSource(f"{src.db}.{src.name}", trino_catalog=src.catalog.lower())
            if source is None:
                raise UnknownSourceError(
                    f"table {key!r} is no source of this view: {src.catalog!r} is not the catalog of "
                    f"a configured store ({', '.join(sorted(stores)) or 'none'}) and sources= does "
                    f"not map it.{did_you_mean(key, mapping)} Fix: pass sources={{'{key}': parquet(...)}}"
                )
            _bind(bindings, src, source, fabric)


def _norm(key: str, catalog: str | None, schema: str) -> str:
    parts = key.lower().split(".")
    if len(parts) == 2:
        parts = [catalog or "", *parts]
    elif len(parts) == 1:
        parts = [catalog or "", schema.lower(), parts[0]]
    return ".".join(parts)


def compile_view(view: View, fabric: Fabric) -> Compiled:
    """Compile ``view`` (see the module docstring).

    Raises:
        UnknownSourceError, UnknownColumnError, AmbiguousColumnError, InvalidViewError.
    """
    bindings: dict[str, Binding] = {}
    if view.query is None:
        query: exp.Query = _build_select(view, fabric, bindings)
    else:
        query = view.query.copy()
        _bind_sql_tables(view, fabric, query, bindings)
    quote_identifiers(query)
    by_node: dict[int, Binding] = {}

    def columns_of(node: exp.Table) -> list[str] | None:
        binding = bindings.get(table_key(node))
        if binding is None:
            return None
        by_node[id(node)] = binding
        return list(binding.schema.names)

    def label_of(node: exp.Table) -> str:
        binding = bindings.get(table_key(node))
        return f"{node.alias_or_name} ({binding.source.describe()})" if binding else node.alias_or_name

    res = resolve(query, columns_of, label_of)
    for node_id, cols in res.used.items():
        by_node[node_id].columns.update(cols)
    for node_id in res.star:
        by_node[node_id].star = True
    output = output_names(query, lambda proj: _expand_star(query, proj, bindings))
    return Compiled(view, view.trino_name(fabric), query, bindings, output)


def _expand_star(query: exp.Query, proj: exp.Expression, bindings: dict[str, Binding]
                 ) -> list[tuple[str, str]] | None:
    """``(column, alias)`` pairs a ``*`` or ``alias.*`` of the main SELECT stands for (None:
    it reads a derived table or CTE, whose columns the engine expands)."""
    source = query.args.get("from_") or query.args.get("from") if isinstance(query, exp.Select) else None
    if source is None:  # sqlglot < 30 calls the FROM clause "from"
        return None
    relations = [source.this, *(j.this for j in query.args.get("joins") or [])]
    out: list[tuple[str, str]] = []
    for node in relations:
        alias = node.alias_or_name
        if isinstance(proj, exp.Column) and proj.table.lower() != alias.lower():
            continue
        binding = bindings.get(table_key(node)) if isinstance(node, exp.Table) else None
        if binding is None:
            return None
        out.extend((name, alias) for name in binding.schema.names)
    return out


def parse_view_sql(cls: type[View], sql: str, *, sources: dict[str, Any], name: str | None,
                   catalog: str | None, schema: str | None, fabric: Fabric | None) -> View:
    """`View.from_sql`: parse the statement and build the view (bound lazily to ``sources``)."""
    try:
        with quiet_sqlglot():
            trees = [t for t in sqlglot.parse(sql, read="trino") if t is not None]
    except ParseError as exc:
        raise InvalidViewError(f"the view SQL does not parse as Trino SQL: {str(exc).splitlines()[0]}") from exc
    if len(trees) != 1:
        raise InvalidViewError(
            f"the view SQL holds {len(trees)} statements; fix: pass exactly one query or CREATE VIEW"
        )
    tree = trees[0]
    if isinstance(tree, exp.Command):
        raise InvalidViewError(f"the view SQL does not parse as Trino SQL: {sql.strip()[:120]!r}")
    comment = security = None
    if isinstance(tree, exp.Create):
        if str(tree.args.get("kind", "")).upper() != "VIEW":
            raise InvalidViewError(f"expected CREATE VIEW, got CREATE {tree.args.get('kind')}")
        target = tree.this
        name = name or target.name
        schema = schema or target.db or None
        catalog = catalog or target.catalog or None
        for prop in (tree.args.get("properties") or exp.Properties(expressions=[])).expressions:
            if isinstance(prop, exp.SchemaCommentProperty):
                comment = prop.this.name
            elif isinstance(prop, exp.SqlSecurityProperty):
                security = str(prop.this).lower()
        tree = tree.expression
    if not isinstance(tree, exp.Query):
        raise InvalidViewError("the SQL is neither CREATE VIEW ... AS <query> nor a query")
    if not name:
        raise InvalidViewError("a bare query needs a view name; fix: View.from_sql(sql, name=...)")
    view = cls(name, catalog=catalog, schema=schema or "views", comment=comment,
               security=security, fabric=fabric)  # type: ignore[arg-type]
    view.query = tree
    view.bindings = dict(sources)
    return view
