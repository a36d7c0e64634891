"""View clauses are single expressions: no second statement, no subquery (found by a new user)."""

from __future__ import annotations

import pytest

from skyfabric.views._exprs import parse_expr
from skyfabric.views.errors import InvalidViewError


@pytest.mark.parametrize(
    "text",
    [
        "1=1; COPY (SELECT 'pwned') TO '/tmp/pwned.csv'",
        "1=1; DROP TABLE t",
        "x > 0;;SELECT 1",
    ],
)
def test_second_statement_is_refused(text: str) -> None:
    with pytest.raises(InvalidViewError, match="statements"):
        parse_expr(text, "where")


def test_subquery_is_refused_clearly() -> None:
    with pytest.raises(InvalidViewError, match="subquery"):
        parse_expr("f.carrier IN (SELECT carrier FROM secret.tbl)", "where")


def test_plain_condition_still_parses() -> None:
    assert parse_expr("o.amount > 0 AND o.region = 'eu'", "where").sql(dialect="trino")


def test_from_sql_refuses_several_statements() -> None:
    from skyfabric.views import View

    with pytest.raises(InvalidViewError, match="statements"):
        View.from_sql("SELECT 1 AS a; DROP TABLE t", sources={})
