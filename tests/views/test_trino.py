"""Applying views to Trino: the exact statements a real ``trino.dbapi`` connection sends,
captured by a tiny HTTP server speaking Trino's client protocol (``POST /v1/statement``); and,
when ``TRINO_HOST`` is set, the same against a real Trino cluster."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest
import typer
from typer.testing import CliRunner
from views_data import flights_table, write_dataset

from skyfabric.errors import ConfigError
from skyfabric.fabric import Fabric
from skyfabric.views import (
    Source,
    TrinoConnection,
    View,
    ViewApplyError,
    ViewService,
    check_trino_sql,
    parquet,
)


class _Recorder(ThreadingHTTPServer):
    requests: list[dict[str, Any]]
    fail_on: str | None = None


class _Handler(BaseHTTPRequestHandler):
    server: _Recorder

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode("utf-8")
        self.server.requests.append({"method": "POST", "path": self.path,
                                     "headers": dict(self.headers.items()), "body": body})
        qid = f"20260101_000000_{len(self.server.requests):05d}_skyfb"
        base = f"http://127.0.0.1:{self.server.server_port}"
        payload: dict[str, Any] = {"id": qid, "infoUri": f"{base}/ui/query.html?{qid}",
                                   "stats": {"state": "FINISHED"}}
        if self.server.fail_on and self.server.fail_on in body:
            payload["stats"]["state"] = "FAILED"
            payload["error"] = {
                "message": "line 1:1: Catalog 'lake' not found", "errorCode": 44,
                "errorName": "CATALOG_NOT_FOUND", "errorType": "USER_ERROR",
                "errorLocation": {"lineNumber": 1, "columnNumber": 1},
                "failureInfo": {"type": "io.trino.spi.TrinoException", "message": "Catalog 'lake' not found",
                                "suppressed": [], "stack": []},
            }
        else:
            payload.update(updateType="CREATE VIEW", data=[[True]], columns=[
                {"name": "result", "type": "boolean", "typeSignature": {"rawType": "boolean", "arguments": []}}])
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_DELETE(self) -> None:
        self.server.requests.append({"method": "DELETE", "path": self.path})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def trino_server() -> Iterator[_Recorder]:
    server = _Recorder(("127.0.0.1", 0), _Handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _connection(server: _Recorder) -> Any:
    import trino

    return trino.dbapi.connect(host="127.0.0.1", port=server.server_port, user="analyst",
                               http_scheme="http", source="skyfabric-test")


def _registered_view(fab: Fabric) -> tuple[View, View]:
    """Views over tables someone registered in Trino already (no setup statements)."""
    flights = parquet("fabric://lake/flights/", trino_table="lake.ops.flights")
    airlines = parquet("fabric://features/airlines/", trino_table="features.ref.airlines")
    names = View("airline_names", catalog="features", schema="ref", fabric=fab).from_(
        "a", airlines).select("a.carrier", airline="a.name")
    busy = (View("busy carriers", catalog="lake", schema="reports", security="definer", fabric=fab)
            .from_("f", flights).join("n", names, keys="carrier")
            .select("n.airline", flights="count(*)").group_by("n.airline"))
    return names, busy


def test_apply_sends_exactly_the_rendered_statements(local_fabric: Fabric, trino_server: _Recorder) -> None:
    _names, busy = _registered_view(local_fabric)
    result = ViewService(local_fabric).apply(busy, engine="trino", connection=_connection(trino_server))
    sent = [r for r in trino_server.requests if r["method"] == "POST"]
    assert [r["body"] for r in sent] == result.statements == [
        "CREATE OR REPLACE VIEW features.ref.airline_names AS SELECT a.carrier, a.name AS airline "
        "FROM features.ref.airlines AS a",
        'CREATE OR REPLACE VIEW lake.reports."busy carriers" SECURITY DEFINER AS SELECT n.airline, '
        "COUNT(*) AS flights FROM lake.ops.flights AS f INNER JOIN features.ref.airline_names AS n "
        "ON f.carrier = n.carrier GROUP BY n.airline",
    ]
    for request in sent:
        assert request["path"] == "/v1/statement"
        assert request["headers"]["X-Trino-User"] == "analyst"
        assert request["headers"]["X-Trino-Source"] == "skyfabric-test"
        check_trino_sql(request["body"], strict=True)


def test_apply_sends_setup_for_parquet_datasets(make_fabric: Callable[..., Fabric], trino_server: _Recorder) -> None:
    fab = make_fabric(**{"on-prem": "minio"})
    write_dataset(fab, "fabric://on-prem/airlines/", flights_table("airlines"), parts=1)
    view = View("carriers", catalog="on-prem", schema="ref", fabric=fab).from_(
        "a", parquet("fabric://on-prem/airlines/")).select("a.carrier", "a.name")
    ViewService(fab).apply(view, engine="trino", connection=_connection(trino_server))
    bucket = fab.store("on-prem").root
    assert [r["body"] for r in trino_server.requests] == [
        "CREATE SCHEMA IF NOT EXISTS on_prem_hive.raw",
        "CREATE TABLE IF NOT EXISTS on_prem_hive.raw.airlines (carrier VARCHAR, name VARCHAR) "
        f"WITH (external_location='s3://{bucket}/airlines', format='PARQUET')",
        "CREATE OR REPLACE VIEW on_prem.ref.carriers AS SELECT a.carrier, a.name FROM on_prem_hive.raw.airlines AS a",
    ]


def test_refused_statement_is_reported_with_progress(local_fabric: Fabric, trino_server: _Recorder) -> None:
    _names, busy = _registered_view(local_fabric)
    trino_server.fail_on = "busy carriers"
    with pytest.raises(ViewApplyError, match=r"(?s)Trino refused statement 2 of 2: TrinoUserError.*Catalog 'lake' not found"
                       r".*statement: CREATE OR REPLACE VIEW lake.reports.\"busy carriers\".*already applied: 1"):
        ViewService(local_fabric).apply(busy, engine="trino", connection=_connection(trino_server))


def test_invalid_view_sends_nothing(local_fabric: Fabric, trino_server: _Recorder) -> None:
    bad = View("v", fabric=local_fabric).from_("f", parquet("fabric://lake/flights/", trino_table="a.b.c")).select("nope")
    with pytest.raises(Exception, match="'nope' is in none of the sources"):
        ViewService(local_fabric).apply(bad, engine="trino", connection=_connection(trino_server))
    assert trino_server.requests == []


def test_connection_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="TRINO_HOST is not set"):
        TrinoConnection.from_env({})
    conn = TrinoConnection.from_env({"TRINO_HOST": "trino.local", "TRINO_PORT": "8443", "TRINO_USER": "bi",
                                     "TRINO_HTTP_SCHEME": "https", "TRINO_PASSWORD": "pw-123456", "TRINO_VERIFY": "false"})
    assert conn == TrinoConnection(host="trino.local", port=8443, user="bi", http_scheme="https",
                                   password_env="TRINO_PASSWORD", verify=False)
    assert "pw-123456" not in repr(conn)
    with pytest.raises(ConfigError, match="needs TLS"):
        TrinoConnection(host="trino.local", password_env="TRINO_PASSWORD").connect()
    section = {"host": "trino.cfg", "port": 8080, "user": "etl", "password_env": None}
    assert TrinoConnection.from_config(SimpleNamespace(trino=section)) == TrinoConnection(
        host="trino.cfg", port=8080, user="etl")
    monkeypatch.setenv("TRINO_HOST", "from-env")
    assert TrinoConnection.from_config(SimpleNamespace()).host == "from-env"


def test_cli_apply_to_trino_uses_env(local_fabric: Fabric, trino_server: _Recorder, tmp_path: Any,
                                     monkeypatch: pytest.MonkeyPatch, cli_app: typer.Typer) -> None:
    config = tmp_path / "skyfabric.toml"
    config.write_text("".join(f'[stores."{n}"]\nkind = "local"\npath = "{s.config.path.as_posix()}"\n'
                              for n, s in local_fabric.stores.items()), encoding="utf-8")
    spec = tmp_path / "view.toml"
    spec.write_text('name = "carriers"\ncatalog = "features"\nselect = ["a.carrier"]\n'
                    '[sources.a]\nparquet = "fabric://features/airlines/"\ntrino_table = "features.ref.airlines"\n')
    monkeypatch.setenv("TRINO_HOST", "127.0.0.1")
    monkeypatch.setenv("TRINO_PORT", str(trino_server.server_port))
    monkeypatch.setenv("TRINO_USER", "cli-user")
    out = CliRunner().invoke(cli_app, ["--config", str(config), "views", "apply", str(spec), "--engine", "trino", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)[0]["statements"] == [trino_server.requests[0]["body"]] == [
        "CREATE OR REPLACE VIEW features.views.carriers AS SELECT a.carrier FROM features.ref.airlines AS a"]
    assert trino_server.requests[0]["headers"]["X-Trino-User"] == "cli-user"


# -- a real Trino cluster ----------------------------------------------------------------------

needs_trino = pytest.mark.skipif(
    not os.environ.get("TRINO_HOST"),
    reason="no Trino cluster: set TRINO_HOST (and TRINO_PORT, TRINO_USER, TRINO_TEST_CATALOG) to run",
)


class _TrinoTable(Source):
    """A table that already exists in Trino, with its schema given (for the cluster tests)."""

    def __init__(self, catalog: str, schema: str, table: str, arrow: pa.Schema) -> None:
        self.name = (catalog, schema, table)
        self.schema = arrow

    def describe(self) -> str:
        return "trino " + ".".join(self.name)

    def trino_name(self, fabric: Fabric) -> tuple[str, str, str]:
        return self.name

    def arrow_schema(self, fabric: Fabric) -> pa.Schema:
        return self.schema

    def to_arrow(self, fabric: Fabric, columns: Any = None) -> pa.Table:
        raise NotImplementedError("lives in Trino only")


@needs_trino
def test_real_trino_creates_and_queries_a_view(local_fabric: Fabric) -> None:
    catalog = os.environ.get("TRINO_TEST_CATALOG", "memory")
    nation = _TrinoTable("tpch", "tiny", "nation", pa.schema(
        [("nationkey", pa.int64()), ("name", pa.string()), ("regionkey", pa.int64()), ("comment", pa.string())]))
    region = _TrinoTable("tpch", "tiny", "region", pa.schema(
        [("regionkey", pa.int64()), ("name", pa.string()), ("comment", pa.string())]))
    name = f"nations-{uuid.uuid4().hex[:8]}"
    view = (View(name, catalog=catalog, schema="default", comment="skyfabric test", fabric=local_fabric)
            .from_("n", nation).join("r", region, keys="regionkey")
            .select(region="r.name", nations="count(*)").group_by("r.name"))
    connection = TrinoConnection.from_env().connect()
    applied = ViewService(local_fabric).apply(view, engine="trino", connection=connection)
    assert applied.statements[-1].startswith(f'CREATE OR REPLACE VIEW {catalog}.default."{name}"')
    cursor = connection.cursor()
    cursor.execute(f'SELECT region, nations FROM {catalog}.default."{name}" ORDER BY region')
    assert cursor.fetchall() == [["AFRICA", 5], ["AMERICA", 5], ["ASIA", 5], ["EUROPE", 5], ["MIDDLE EAST", 5]]
    cursor.execute(f'DROP VIEW {catalog}.default."{name}"')
    cursor.fetchall()


@needs_trino
def test_real_trino_rejects_unknown_catalog(local_fabric: Fabric) -> None:
    ghost = _TrinoTable("no_such_catalog_skyfabric", "s", "t", pa.schema([("x", pa.int64())]))
    view = View("v", catalog="no_such_catalog_skyfabric", fabric=local_fabric).from_("t", ghost)
    with pytest.raises(ViewApplyError, match="Trino refused statement 1 of 1"):
        ViewService(local_fabric).apply(view, engine="trino")
