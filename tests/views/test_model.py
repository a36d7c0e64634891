"""The View model on local stores: exact rendering, quoting, strict grammar, clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest
from trino_query_parser import parse_statement
from trino_query_parser.SqlBaseLexer import SqlBaseLexer
from views_data import write_dataset

import skyfabric
from skyfabric.fabric import Fabric
from skyfabric.views import (
    AmbiguousColumnError,
    InvalidViewError,
    UnknownColumnError,
    UnknownSourceError,
    View,
    check_trino_sql,
    col,
    parquet,
)
from skyfabric.views._idents import TRINO_RESERVED, needs_quotes

FLIGHTS = parquet("fabric://lake/flights/")
AIRLINES = parquet("fabric://features/airlines/")
PLANES = parquet("fabric://archive/planes/")


def strict(sql: str) -> str:
    """Parse with Trino's own ANTLR grammar (raises on any syntax error)."""
    parse_statement(sql)
    return sql


def test_rendered_statement_is_exact(local_fabric: Fabric) -> None:
    view = (View("delays", catalog="lake", schema="analytics", comment="it's per carrier",
                 security="invoker", fabric=local_fabric)
            .from_("f", FLIGHTS)
            .join("a", AIRLINES, keys="carrier", how="left")
            .where("f.month = 1", "dep_delay > 0")
            .select("a.name", delayed="count(*)")
            .group_by("a.name")
            .having("count(*) > 10"))
    assert view.to_trino() == (
        "CREATE OR REPLACE VIEW lake.analytics.delays COMMENT 'it''s per carrier' SECURITY INVOKER "
        "AS SELECT a.name, COUNT(*) AS delayed FROM lake_hive.raw.flights AS f "
        "LEFT JOIN features_hive.raw.airlines AS a ON f.carrier = a.carrier "
        "WHERE f.month = 1 AND f.dep_delay > 0 GROUP BY a.name HAVING COUNT(*) > 10"
    )
    strict(view.to_trino())
    strict(view.to_trino(pretty=True))


def test_reserved_words_and_dashes_are_quoted_and_run(local_fabric: Fabric) -> None:
    view = (View("per-carrier view", catalog="on-prem", schema="from", fabric=local_fabric)
            .from_("order", FLIGHTS)
            .join("select", AIRLINES, keys={"order.carrier": "carrier"})
            .select(col("carrier", "order").as_("group"), col("name", "select").as_("Carrier Name"),
                    col("flight", "order").as_("table"))
            .where(col("month", "order").eq(2)))
    sql = strict(view.to_trino())
    assert sql.startswith('CREATE OR REPLACE VIEW on_prem."from"."per-carrier view" AS SELECT')
    assert 'FROM lake_hive.raw.flights AS "order" INNER JOIN features_hive.raw.airlines AS "select"' in sql
    assert '"order".carrier AS "group"' in sql and '"Carrier Name"' in sql
    table = view.to_arrow()
    assert table.column_names == ["group", "Carrier Name", "table"]
    assert table.num_rows == 24951  # February 2013 flights (every carrier is in airlines)


def test_reserved_list_matches_trino_grammar() -> None:
    keywords = [n for n in SqlBaseLexer.symbolicNames if n and re.fullmatch(r"[A-Z_]+", n)
                and n not in ("IDENTIFIER", "DIGIT_IDENTIFIER", "QUOTED_IDENTIFIER", "DELIMITER",
                              "BACKQUOTED_IDENTIFIER", "STRING", "UNICODE_STRING", "WS",
                              "BINARY_LITERAL", "INTEGER_VALUE", "DECIMAL_VALUE", "DOUBLE_VALUE",
                              "SIMPLE_COMMENT", "BRACKETED_COMMENT", "UNRECOGNIZED")]
    grammar_reserved = set()
    for word in keywords:
        try:
            parse_statement(f"SELECT x AS {word.lower()} FROM {word.lower()}")
        except ValueError:
            grammar_reserved.add(word)
    # SKIP became reserved after the grammar's release (Trino 422): quoting it is harmless.
    assert grammar_reserved == TRINO_RESERVED - {"SKIP"}
    assert not needs_quotes("carrier") and needs_quotes("select") and needs_quotes("Name")
    assert needs_quotes("dep-delay") and needs_quotes("1st")


def test_missing_column_names_the_source_and_near_match(local_fabric: Fabric) -> None:
    view = View("v", fabric=local_fabric).from_("f", FLIGHTS).select("f.dep_dleay")
    with pytest.raises(UnknownColumnError, match=r"f \(parquet fabric://lake/flights/\) has no column 'dep_dleay'.*Did you mean dep_delay"):
        view.to_trino()
    unqualified = View("v", fabric=local_fabric).from_("f", FLIGHTS).where("seats > 100")
    with pytest.raises(UnknownColumnError, match="column 'seats' is in none of the sources"):
        unqualified.to_trino()


def test_ambiguous_column_lists_sources_and_fix(local_fabric: Fabric) -> None:
    view = (View("v", fabric=local_fabric).from_("f", FLIGHTS)
            .join("p", PLANES, keys="tailnum").select("year"))
    with pytest.raises(AmbiguousColumnError, match=r"'year' is ambiguous: it is in f .*, p .*fix: qualify it, e.g. f.year"):
        view.to_trino()
    key = View("v", fabric=local_fabric).from_("f", FLIGHTS).join("p", PLANES, keys="tailnum").join(
        "q", PLANES, keys="tailnum")
    with pytest.raises(AmbiguousColumnError, match="join key 'tailnum' of 'q' is in f, p"):
        key.to_trino()


def test_unknown_sources_are_errors(local_fabric: Fabric) -> None:
    view = View("v", fabric=local_fabric).from_("f", FLIGHTS).select("x.carrier")
    with pytest.raises(UnknownSourceError, match="names source 'x', which this view does not have; sources: f"):
        view.to_trino()
    with pytest.raises(UnknownSourceError, match="names 'z', which is not joined before 'a'"):
        View("v", fabric=local_fabric).from_("f", FLIGHTS).join("a", AIRLINES, keys={"z.carrier": "carrier"}).to_trino()
    sql = "CREATE VIEW lake.v.x AS SELECT * FROM nowhere.raw.t"
    with pytest.raises(UnknownSourceError, match="'nowhere' is not the catalog of a configured store"):
        View.from_sql(sql, fabric=local_fabric).to_trino()
    with pytest.raises(UnknownSourceError, match=r"parquet fabric://lake/nope/: no file or prefix"):
        View("v", fabric=local_fabric).from_("f", parquet("fabric://lake/nope/")).to_trino()


def test_reserved_word_in_expression_says_to_quote(local_fabric: Fabric) -> None:
    with pytest.raises(InvalidViewError, match=r"select is a reserved word in Trino; to name a column so, quote it \(\"select\"\) or use col\('select'\)"):
        View("v").from_("f", FLIGHTS).where("select > 1")
    with pytest.raises(InvalidViewError, match="from, select are reserved words"):
        View("v").from_("f", FLIGHTS).select("select from")


def test_reserved_and_odd_column_names_work_in_text(local_fabric: Fabric) -> None:
    odd = pa.table({"order": [1, 2, 3], "group-id": ["a", "b", "b"], "Select": [1.5, 2.5, 3.5]})
    write_dataset(local_fabric, "fabric://on-prem/odd/", odd, parts=1)
    view = (View("odd", catalog="on-prem", fabric=local_fabric)
            .from_("o", parquet("fabric://on-prem/odd/"))
            .select("o.order", 'o."group-id"', total='o."Select" * 2')
            .where("order > 1"))
    sql = strict(view.to_trino())
    assert 'SELECT o."order", o."group-id", o."Select" * 2 AS total FROM on_prem_hive.raw.odd AS o WHERE "order" > 1' in sql
    assert view.to_arrow().to_pylist() == [{"order": 2, "group-id": "b", "total": 5.0},
                                           {"order": 3, "group-id": "b", "total": 7.0}]


def test_output_columns_must_be_named_and_unique(local_fabric: Fabric) -> None:
    base = View("v", fabric=local_fabric).from_("f", FLIGHTS).join("a", AIRLINES, keys="carrier")
    with pytest.raises(InvalidViewError, match=r"output column 'carrier' appears twice \(position 1 and position 2\)"):
        base.select("f.carrier", "a.carrier").to_trino()
    with pytest.raises(InvalidViewError, match=r"output column 'carrier' appears twice \(f.carrier from \* at position 1 and a.carrier"):
        base.to_trino()
    assert base.select("f.*", "a.name").compile().output[-2:] == ["time_hour", "name"]
    with pytest.raises(InvalidViewError, match=r"output column 1 \(COUNT\(\*\)\) has no name"):
        base.select("count(*)").to_trino()
    with pytest.raises(InvalidViewError, match=r"output alias.*Trino does not allow"):
        base.select(n="f.flight + 1").where("n > 3").to_trino()


def test_builder_misuse_is_explained() -> None:
    with pytest.raises(InvalidViewError, match="join before from_"):
        View("v").join("a", AIRLINES, keys="carrier")
    with pytest.raises(InvalidViewError, match="exactly one of keys= or on="):
        View("v").from_("f", FLIGHTS).join("a", AIRLINES)
    with pytest.raises(InvalidViewError, match="used twice"):
        View("v").from_("f", FLIGHTS).join("F", AIRLINES, keys="carrier")
    with pytest.raises(InvalidViewError, match="not a source"):
        View("v").from_("f", "fabric://lake/flights/")  # type: ignore[arg-type]
    with pytest.raises(InvalidViewError, match="view name '' is not a valid identifier"):
        View("")
    with pytest.raises(InvalidViewError, match="security"):
        View("v", security="owner")  # type: ignore[arg-type]


def test_from_sql_round_trips_and_runs(local_fabric: Fabric) -> None:
    built = (View("by_carrier", catalog="lake", schema="analytics", fabric=local_fabric,
                  comment="flights per carrier", security="definer")
             .from_("f", FLIGHTS).join("a", AIRLINES, keys="carrier")
             .select("a.name", flights="count(*)").group_by("a.name"))
    sql = built.to_trino()
    parsed = View.from_sql(sql, fabric=local_fabric, sources={
        "lake_hive.raw.flights": FLIGHTS, "features_hive.raw.airlines": AIRLINES})
    assert (parsed.name, parsed.catalog, parsed.schema, parsed.comment, parsed.security) == (
        "by_carrier", "lake", "analytics", "flights per carrier", "definer")
    assert strict(parsed.to_trino()) == sql
    assert parsed.to_arrow().sort_by("name").equals(built.to_arrow().sort_by("name"))
    bare = View.from_sql(
        "WITH q AS (SELECT carrier, dep_delay FROM raw.flights WHERE dep_delay > 60) "
        "SELECT carrier, count(*) AS late FROM q GROUP BY carrier",
        name="late", catalog="lake_hive", sources={"raw.flights": FLIGHTS}, fabric=local_fabric)
    rendered = strict(bare.to_trino())
    assert "FROM lake_hive.raw.flights" in rendered
    assert sum(bare.to_arrow()["late"].to_pylist()) > 1000
    with pytest.raises(UnknownColumnError, match="'nope' is in none"):
        View.from_sql("SELECT nope FROM lake_hive.raw.flights", name="x",
                      sources={"lake_hive.raw.flights": FLIGHTS}, fabric=local_fabric).to_trino()
    with pytest.raises(InvalidViewError, match="bare query needs a view name"):
        View.from_sql("SELECT 1 AS one")
    with pytest.raises(InvalidViewError, match="does not parse"):
        View.from_sql("CREATE VIEW x AS SELEC 1")


def test_views_on_views_render_in_order_and_run(local_fabric: Fabric) -> None:
    inner = (View("carrier_names", catalog="features", schema="ref", fabric=local_fabric)
             .from_("a", AIRLINES).select("a.carrier", airline="a.name"))
    outer = (View("busy", catalog="lake", fabric=local_fabric).from_("f", FLIGHTS)
             .join("n", inner, keys="carrier").select("n.airline", flights="count(*)")
             .group_by("n.airline"))
    sql = strict(outer.to_trino())
    assert "INNER JOIN features.ref.carrier_names AS n ON f.carrier = n.carrier" in sql
    assert inner.arrow_schema() == pa.schema([("carrier", pa.large_string()), ("airline", pa.large_string())]) or \
        inner.arrow_schema().names == ["carrier", "airline"]
    result = outer.to_polars().sort("flights", descending=True)
    assert result["airline"][0] == "United Air Lines Inc."
    assert result["flights"].sum() == 80789  # every first-quarter flight has a known carrier


def test_check_trino_sql_rejects_bad_sql() -> None:
    assert check_trino_sql("SELECT 1", strict=True) == "SELECT 1"
    check_trino_sql("SELECT a FROM t WHERE a ILIKE 'x'")  # sqlglot's Trino reader is lenient
    with pytest.raises(InvalidViewError, match="grammar rejects"):
        check_trino_sql("SELECT a FROM t WHERE a ILIKE 'x'", strict=True)


def test_catalog_names_duckdb_reserves_still_run(tmp_path: Path) -> None:
    fab = skyfabric.connect({"stores": {n: {"kind": "local", "path": str(tmp_path / n)} for n in ("memory", "system")}})
    write_dataset(fab, "fabric://memory/a/", pa.table({"k": [1, 2], "x": ["a", "b"]}), parts=1)
    write_dataset(fab, "fabric://system/b/", pa.table({"k": [2, 3], "y": [20.0, 30.0]}), parts=1)
    view = (View("j", catalog="memory", fabric=fab).from_("a", parquet("fabric://memory/a/", trino_table="memory.s.a"))
            .join("b", parquet("fabric://system/b/", trino_table="system.s.b"), keys="k", how="full")
            .select(k="coalesce(a.k, b.k)", x="a.x", y="b.y"))
    assert strict(view.to_trino()).endswith("FROM memory.s.a AS a FULL JOIN system.s.b AS b ON a.k = b.k")
    assert sorted(view.to_arrow().to_pylist(), key=lambda r: r["k"]) == [
        {"k": 1, "x": "a", "y": None}, {"k": 2, "x": "b", "y": 20.0}, {"k": 3, "x": None, "y": 30.0}]


def test_public_surface_is_locked() -> None:
    import skyfabric.views as views

    assert sorted(views.__all__) == sorted([
        "DEFAULT_TRINO_VERSION", "AmbiguousColumnError", "ApplyResult", "CatalogFiles", "IcebergSource",
        "InvalidViewError", "LocalSession", "LocalView", "ParquetSource", "Source", "TrinoConnection",
        "UnknownColumnError", "UnknownSourceError", "View", "ViewApplyError", "ViewError", "ViewService",
        "check_trino_sql", "col", "iceberg", "lit", "parquet", "trino_catalogs"])
    for name in views.__all__:
        obj = getattr(views, name)
        if isinstance(obj, type) and name.endswith("Error"):
            assert issubclass(obj, skyfabric.FabricError)
