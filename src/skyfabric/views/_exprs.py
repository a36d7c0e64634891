"""Turning what a user writes (SQL text or sqlglot expressions) into expression trees."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from skyfabric.views._idents import TRINO_RESERVED, check_name, ident
from skyfabric.views.errors import InvalidViewError

__all__ = ["col", "lit", "parse_expr", "quiet_sqlglot", "quote_identifiers"]

_WORDS = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'|([A-Za-z_][A-Za-z0-9_]*)')
_STATEMENTS = (exp.Query, exp.DDL, exp.DML, exp.Command, exp.Create)


@contextmanager
def quiet_sqlglot() -> Iterator[None]:
    """Silence sqlglot's "falling back to parsing as a Command" warnings (we report those)."""
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _reserved_in(text: str) -> list[str]:
    return sorted({m.group(1) for m in _WORDS.finditer(text)
                   if m.group(1) and m.group(1).upper() in TRINO_RESERVED})


def parse_expr(value: str | exp.Expression, what: str) -> exp.Expression:
    """Parse Trino SQL text (or copy a sqlglot expression) for one clause of a view.

    Raises:
        InvalidViewError: the text does not parse as one expression; when it contains a
            Trino reserved word the message says to quote it.
    """
    if isinstance(value, exp.Expression):
        return value.copy()
    if not isinstance(value, str) or not value.strip():
        raise InvalidViewError(f"{what} {value!r} is empty or not SQL text; fix: pass e.g. 'o.amount > 0'")
    error = ""
    try:
        with quiet_sqlglot():
            # parse, not parse_one: "1=1; COPY ..." must be seen as two statements and refused
            statements = [s for s in sqlglot.parse(value, read="trino") if s is not None]
    except ParseError as exc:
        statements, error = [], str(exc).splitlines()[0]
    if len(statements) > 1:
        raise InvalidViewError(
            f"{what} {value!r} holds {len(statements)} SQL statements; fix: pass one expression, "
            "e.g. 'o.amount > 0' (no ';')"
        )
    parsed = statements[0] if statements else None
    if parsed is not None and not isinstance(parsed, exp.Select) and parsed.find(exp.Select):
        raise InvalidViewError(
            f"{what} {value!r} contains a subquery, which view clauses do not support; "
            "fix: add the table as a source and join it"
        )
    if parsed is None or isinstance(parsed, _STATEMENTS):
        reserved = _reserved_in(value)
        if reserved:
            word = reserved[0].lower()
            raise InvalidViewError(
                f"{what} {value!r} is not a valid Trino SQL expression: {', '.join(reserved)} "
                f"{'is a reserved word' if len(reserved) == 1 else 'are reserved words'} in Trino; "
                f'to name a column so, quote it ("{word}") or use col({word!r})'
            )
        raise InvalidViewError(
            f"{what} {value!r} is not a valid Trino SQL expression{': ' + error if error else ''}"
        )
    return parsed


def col(name: str, source: str | None = None) -> exp.Column:
    """A column reference, quoted as needed: ``col("select", "o")`` -> ``o."select"``.

    The result is a sqlglot expression, so operators build conditions:
    ``col("amount") > 100``, ``col("month").eq(2)`` (``==`` compares trees in sqlglot),
    ``col("name").as_("customer")``.
    """
    check_name(name, "column name")
    table = ident(check_name(source, "source alias")) if source is not None else None
    return exp.Column(this=ident(name), table=table)


def lit(value: Any) -> exp.Expression:
    """A SQL literal for a Python value (str, int, float, bool, None, date, datetime)."""
    return exp.convert(value)


def quote_identifiers(tree: exp.Expression) -> exp.Expression:
    """Quote every identifier of ``tree`` that Trino needs quoted (in place; returns it)."""
    from skyfabric.views._idents import needs_quotes

    for node in tree.find_all(exp.Identifier):
        if not node.quoted and needs_quotes(node.name):
            node.set("quoted", True)
    return tree
