"""Identifiers: when Trino needs them quoted, and the Trino catalog name of each store.

Trino folds unquoted identifiers to lower case and refuses its reserved keywords unquoted, so
an identifier is quoted when it is not a plain lower-case name (``[a-z_][a-z0-9_]*``) or is
reserved. The reserved list is the "Reserved keywords" table of the Trino SQL language
documentation (trino.io/docs/current/language/reserved.html); the tests check it against the
ANTLR grammar of the ``trino-query-parser`` package.
"""

from __future__ import annotations

import re

from sqlglot import exp

from skyfabric.views.errors import InvalidViewError

__all__ = [
    "TRINO_RESERVED",
    "catalog_for_store",
    "check_name",
    "ident",
    "needs_quotes",
    "table_ref",
]

_RESERVED_TEXT = """
    ALTER AND AS BETWEEN BY CASE CAST CONSTRAINT CREATE CROSS CUBE CURRENT_CATALOG
    CURRENT_DATE CURRENT_PATH CURRENT_ROLE CURRENT_SCHEMA CURRENT_TIME CURRENT_TIMESTAMP
    CURRENT_USER DEALLOCATE DELETE DESCRIBE DISTINCT DROP ELSE END ESCAPE EXCEPT EXECUTE
    EXISTS EXTRACT FALSE FOR FROM FULL GROUP GROUPING HAVING IN INNER INSERT INTERSECT INTO
    IS JOIN JSON_ARRAY JSON_EXISTS JSON_OBJECT JSON_QUERY JSON_TABLE JSON_VALUE LEFT LIKE
    LISTAGG LOCALTIME LOCALTIMESTAMP NATURAL NORMALIZE NOT NULL ON OR ORDER OUTER PREPARE
    RECURSIVE RIGHT ROLLUP SELECT SKIP TABLE THEN TRIM TRUE UESCAPE UNION UNNEST USING
    VALUES WHEN WHERE WITH
"""
TRINO_RESERVED = frozenset(_RESERVED_TEXT.split())
_PLAIN = re.compile(r"^[a-z_][a-z0-9_]*$")
_CATALOG_CHARS = re.compile(r"[^a-z0-9_]")


def needs_quotes(name: str) -> bool:
    """True if Trino needs ``name`` double-quoted: not plain lower case, or a reserved word."""
    return not _PLAIN.match(name) or name.upper() in TRINO_RESERVED


def check_name(name: object, what: str) -> str:
    """Return ``name`` if it can be an identifier (non-empty text, no NUL), else raise.

    Raises:
        InvalidViewError: empty, blank or not a string; the message names ``what`` it was.
    """
    if not isinstance(name, str) or not name.strip() or "\x00" in name:
        raise InvalidViewError(
            f"{what} {name!r} is not a valid identifier; fix: use a non-empty name "
            "(dashes, spaces and reserved words are fine: they are quoted)"
        )
    return name


def ident(name: str) -> exp.Identifier:
    """A sqlglot identifier for ``name``, quoted exactly when Trino needs it."""
    return exp.Identifier(this=name, quoted=needs_quotes(name))


def table_ref(catalog: str, schema: str, table: str, alias: str | None = None) -> exp.Table:
    """``catalog.schema.table [AS alias]`` as a sqlglot table, each part quoted if needed."""
    node = exp.Table(this=ident(table), db=ident(schema), catalog=ident(catalog))
    if alias is not None:
        node.set("alias", exp.TableAlias(this=ident(alias)))
    return node


def catalog_for_store(store: str) -> str:
    """The Trino catalog name of a skyfabric store: lower case, other characters -> ``_``.

    Trino names a catalog after its ``<name>.properties`` file and folds it to lower case;
    ``on-prem`` becomes ``on_prem`` so it can be written unquoted.
    """
    return _CATALOG_CHARS.sub("_", store.lower())
