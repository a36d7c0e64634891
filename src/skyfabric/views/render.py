"""Render compiled views: Trino statements, and the same query transpiled for DuckDB.

Every Trino statement is re-parsed with sqlglot's Trino dialect before it is returned
(`check_trino_sql`); ``strict=True`` also runs the ANTLR grammar of Trino itself (PyPI
package ``trino-query-parser``, the grammar of Trino 422: it knows every clause skyfabric
renders, including ``COMMENT`` and ``SECURITY INVOKER``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from skyfabric.errors import MissingDependencyError
from skyfabric.views._exprs import quiet_sqlglot
from skyfabric.views._idents import table_ref
from skyfabric.views.errors import InvalidViewError

if TYPE_CHECKING:
    from skyfabric.fabric import Fabric
    from skyfabric.views._compile import Compiled
    from skyfabric.views.model import View

__all__ = [
    "DUCKDB_RESERVED_CATALOGS",
    "check_trino_sql",
    "duckdb_catalog",
    "duckdb_query_sql",
    "trino_setup_exprs",
    "trino_statements",
    "trino_view_sql",
]

DUCKDB_RESERVED_CATALOGS = frozenset({"memory", "system", "temp", "main"})


def check_trino_sql(sql: str, *, strict: bool = False) -> str:
    """Return ``sql`` if it parses as Trino SQL; ``strict`` uses Trino's own grammar too.

    Raises:
        InvalidViewError: the statement does not parse (message gives line:column).
        MissingDependencyError: ``strict`` without the ``trino-query-parser`` package.
    """
    try:
        with quiet_sqlglot():  # CALL is parsed as a raw Command
            sqlglot.parse_one(sql, read="trino")
    except ParseError as exc:
        raise InvalidViewError(f"rendered SQL does not parse as Trino SQL ({exc}): {sql}") from exc
    if strict:
        try:
            from trino_query_parser import parse_statement
        except ImportError as exc:
            raise MissingDependencyError(
                "strict checking needs the Trino grammar; fix: pip install trino-query-parser"
            ) from exc
        try:
            parse_statement(sql)
        except ValueError as exc:
            raise InvalidViewError(f"Trino's grammar rejects the statement at {exc}: {sql}") from exc
    return sql


def _create_view(compiled: Compiled) -> exp.Create:
    view = compiled.view
    props: list[exp.Expression] = []
    if view.comment is not None:
        props.append(exp.SchemaCommentProperty(this=exp.Literal.string(view.comment)))
    if view.security is not None:
        props.append(exp.SqlSecurityProperty(this=view.security.upper()))
    return exp.Create(
        this=table_ref(*compiled.name), kind="VIEW", replace=True,
        expression=compiled.query.copy(),
        properties=exp.Properties(expressions=props) if props else None,
    )


def trino_view_sql(compiled: Compiled, *, pretty: bool = False) -> str:
    """``CREATE OR REPLACE VIEW ... AS ...`` for Trino (checked with `check_trino_sql`)."""
    return check_trino_sql(_create_view(compiled).sql(dialect="trino", pretty=pretty))


def trino_setup_exprs(view: View, fabric: Fabric) -> list[exp.Expression]:
    """Statements (as trees) that create ``view`` and everything it reads, in order."""
    compiled = view.compile(fabric)
    out: list[exp.Expression] = []
    for binding in compiled.bindings.values():
        out.extend(binding.source.trino_setup(fabric))
    out.append(_create_view(compiled))
    return out


def trino_statements(view: View, fabric: Fabric) -> list[str]:
    """Every statement Trino needs for ``view``, deduplicated, each checked."""
    seen: dict[str, None] = {}
    for node in trino_setup_exprs(view, fabric):
        seen.setdefault(check_trino_sql(node.sql(dialect="trino")), None)
    return list(seen)


def duckdb_catalog(catalog: str) -> str:
    """The DuckDB database name standing for a Trino catalog (DuckDB reserves a few)."""
    return f"{catalog}__trino" if catalog.lower() in DUCKDB_RESERVED_CATALOGS else catalog


def duckdb_table_name(table: str, version: exp.Expression | None) -> str:
    """Name of a relation in DuckDB: a pinned snapshot is its own relation ``table@<id>``."""
    return f"{table}@{version.expression.name}" if version is not None else table


def duckdb_query_sql(compiled: Compiled) -> str:
    """The view's query in DuckDB SQL: same tree, catalogs renamed where DuckDB reserves the
    name, snapshot pins turned into their own relations; every identifier quoted."""
    query = compiled.query.copy()
    for node in query.find_all(exp.Table):
        if node.catalog:
            node.set("catalog", exp.to_identifier(duckdb_catalog(node.catalog), quoted=True))
        version = node.args.get("version")
        if version is not None:
            node.set("this", exp.to_identifier(duckdb_table_name(node.name, version), quoted=True))
            node.set("version", None)
    return query.sql(dialect="duckdb", identify=True)
