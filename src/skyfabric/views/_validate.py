"""Check every column reference of a view against its sources' schemas, before any SQL is sent.

The query is walked scope by scope (sqlglot's ``traverse_scope``: the main SELECT, each CTE,
derived table and subquery). In each scope a column resolves against the relations visible
there: an Iceberg table or parquet dataset (its Arrow schema), a derived table or CTE (its
output names), and for correlated subqueries the enclosing scopes. Names match
case-insensitively, as both Trino and DuckDB fold identifiers. Unqualified columns that
resolve are qualified with their relation's alias, so the rendered SQL does not depend on
the engine's own resolution rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from skyfabric.views._idents import ident
from skyfabric.views.errors import (
    AmbiguousColumnError,
    InvalidViewError,
    UnknownColumnError,
    UnknownSourceError,
    did_you_mean,
)

__all__ = ["Resolution", "output_names", "resolve"]

# columns of a table node, or None when unknown (the node is not one of ours)
TableColumns = Callable[[exp.Table], "list[str] | None"]


@dataclass
class Resolution:
    """What the query reads: for each table node (by ``id``), the real column names used."""

    used: dict[int, set[str]] = field(default_factory=dict)
    star: set[int] = field(default_factory=set)


@dataclass
class _Relation:
    alias: str
    columns: list[str] | None  # None: unknown (lenient)
    table: exp.Table | None
    label: str

    def find(self, name: str) -> str | None:
        if self.columns is None:
            return name
        lowered = name.lower()
        for col in self.columns:
            if col == name or col.lower() == lowered:
                return col
        return None


def _relations(scope: Scope, columns_of: TableColumns, label_of: Callable[[exp.Table], str]
               ) -> dict[str, _Relation]:
    out: dict[str, _Relation] = {}
    for alias, src in scope.sources.items():
        if isinstance(src, exp.Table):
            out[alias.lower()] = _Relation(alias, columns_of(src), src, label_of(src))
        elif isinstance(src, Scope):
            expr = src.expression
            names = None if any(isinstance(e, exp.Star) or (isinstance(e, exp.Column) and e.is_star)
                                for e in getattr(expr, "expressions", [])) else list(expr.named_selects)
            out[alias.lower()] = _Relation(alias, names, None, f"derived table {alias!r}")
        else:  # UNNEST, VALUES, table functions: columns we cannot know
            out[alias.lower()] = _Relation(alias, None, None, alias)
    return out


def _record(res: Resolution, rel: _Relation, column: str) -> None:
    if rel.table is not None:
        res.used.setdefault(id(rel.table), set()).add(column)


def _resolve_one(col: exp.Column, chain: list[dict[str, _Relation]], aliases: list[str],
                 res: Resolution) -> None:
    name = col.name
    if col.table:
        for rels in chain:
            rel = rels.get(col.table.lower())
            if rel is None:
                continue
            real = rel.find(name)
            if real is None:
                others = [r.alias for rs in chain for r in rs.values() if r.find(name) and r is not rel]
                hint = f" ({name!r} is in {', '.join(others)})" if others else ""
                raise UnknownColumnError(
                    f"column {col.table}.{name}: {rel.label} has no column {name!r}{hint}."
                    f"{did_you_mean(name, rel.columns or [])} Its columns: "
                    f"{', '.join(rel.columns or [])}"
                )
            _record(res, rel, real)
            return
        known = [r.alias for rels in chain for r in rels.values()]
        raise UnknownSourceError(
            f"column {col.sql(dialect='trino')!r} names source {col.table!r}, which this view "
            f"does not have; sources: {', '.join(known)}.{did_you_mean(col.table, known)}"
        )
    for rels in chain:  # innermost scope first, then enclosing ones (correlation)
        found = [(r, r.find(name)) for r in rels.values() if r.find(name) is not None]
        known = [(r, c) for r, c in found if r.columns is not None]
        if len(known) > 1:
            raise AmbiguousColumnError(
                f"column {name!r} is ambiguous: it is in "
                f"{', '.join(r.label for r, _ in known)}; fix: qualify it, "
                f"e.g. {known[0][0].alias}.{name}"
            )
        if found:
            rel, real = known[0] if known else found[0]
            if len(rels) > 1 and rel.columns is not None:
                col.set("table", ident(rel.alias))
            _record(res, rel, real or name)
            return
    every = sorted({c for rels in chain for r in rels.values() for c in (r.columns or [])})
    if name.lower() in (a.lower() for a in aliases):
        raise InvalidViewError(
            f"column {name!r} is an output alias of this SELECT; Trino does not allow output "
            "aliases in WHERE, GROUP BY or HAVING; fix: repeat the expression"
        )
    raise UnknownColumnError(
        f"column {name!r} is in none of the sources "
        f"({', '.join(r.label for rels in chain[:1] for r in rels.values())}).{did_you_mean(name, every)}"
    )


def resolve(query: exp.Expression, columns_of: TableColumns,
            label_of: Callable[[exp.Table], str]) -> Resolution:
    """Check and qualify every column of ``query`` (modified in place).

    Raises:
        UnknownSourceError: ``alias.column`` names an alias no visible relation has.
        UnknownColumnError: a column is in none of the visible relations (near matches named).
        AmbiguousColumnError: an unqualified column is in more than one relation.
        InvalidViewError: a column is an output alias used where Trino does not allow it.
    """
    res = Resolution()
    scopes = traverse_scope(query)
    rels_of: dict[int, dict[str, _Relation]] = {}
    for scope in scopes:
        rels = _relations(scope, columns_of, label_of)
        rels_of[id(scope)] = rels
        chain = [rels]
        parent = scope.parent
        while parent is not None:
            chain.append(rels_of.get(id(parent)) or _relations(parent, columns_of, label_of))
            parent = parent.parent
        select = scope.expression if isinstance(scope.expression, exp.Select) else None
        aliases = [p.alias for p in select.expressions if isinstance(p, exp.Alias)] if select else []
        for col in scope.columns:
            if select is not None and col.find_ancestor(exp.Select) is not select:
                continue  # belongs to a nested scope, checked there
            _resolve_one(col, chain, aliases, res)
        if select is not None:
            for proj in select.expressions:
                star = proj if isinstance(proj, exp.Star) else None
                if isinstance(proj, exp.Column) and proj.is_star:
                    rel = rels.get(proj.table.lower())
                    if rel is None:
                        raise UnknownSourceError(
                            f"{proj.sql(dialect='trino')} names source {proj.table!r}, which this "
                            f"view does not have; sources: {', '.join(r.alias for r in rels.values())}"
                        )
                    if rel.table is not None:
                        res.star.add(id(rel.table))
                elif star is not None:
                    res.star.update(id(r.table) for r in rels.values() if r.table is not None)
    return res


def output_names(query: exp.Expression,
                 star_columns: Callable[[exp.Expression], list[tuple[str, str]] | None] | None = None
                 ) -> list[str]:
    """Output column names of the view; checks each is named and unique (case-insensitive).

    ``star_columns(projection)`` expands a ``*`` / ``alias.*`` projection into
    ``(column, source alias)`` pairs (None: unknown, the engine expands it; returned as ``*``).

    Raises:
        InvalidViewError: an expression has no name, or two columns share one.
    """
    select = query if isinstance(query, exp.Select) else query.find(exp.Select)
    names: list[str] = []
    seen: dict[str, str] = {}

    def add(name: str, where: str) -> None:
        if name.lower() in seen:
            raise InvalidViewError(
                f"output column {name!r} appears twice ({seen[name.lower()]} and {where}); a view "
                "needs unique column names; fix: alias one of them, or select columns instead of *"
            )
        seen[name.lower()] = where
        names.append(name)

    for pos, proj in enumerate(select.expressions if select is not None else [], start=1):
        if isinstance(proj, exp.Star) or (isinstance(proj, exp.Column) and proj.is_star):
            expanded = star_columns(proj) if star_columns is not None else None
            if expanded is None:
                names.append("*")
            for name, alias in expanded or []:
                add(name, f"{alias}.{name} from {proj.sql(dialect='trino')} at position {pos}")
            continue
        name = proj.alias_or_name
        if not name or not isinstance(proj, exp.Column | exp.Alias):
            raise InvalidViewError(
                f"output column {pos} ({proj.sql(dialect='trino')}) has no name; a view needs "
                f"one for every column; fix: alias it, e.g. .select(name=...) or '... AS name'"
            )
        add(name, f"position {pos}")
    return names
