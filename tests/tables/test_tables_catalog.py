"""The catalog from the config: SQLite (WAL, busy timeout), PostgreSQL and REST by URI; one
catalog whose FileIO reaches every store; FileIO properties rendered from store configs."""

from __future__ import annotations

import json
import pickle
import sqlite3
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tables_data import lake_config, readings

import skyfabric.tables
from skyfabric.errors import FabricError, MissingDependencyError
from skyfabric.storage.stores import Store
from skyfabric.tables import CatalogError, TableError, fileio_properties
from skyfabric.tables._catalog import SQLITE_BUSY_TIMEOUT

pytestmark = pytest.mark.xdist_group("servers")


def test_sqlite_catalog_uses_wal_and_a_busy_timeout(local_lake: Any, tmp_path: Path) -> None:
    engine = local_lake.catalog.engine
    with engine.connect() as con:
        assert con.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert con.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT * 1000
    with sqlite3.connect(tmp_path / "catalog.db") as raw:  # persistent for every other client
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_embedded_default_catalog_lives_in_the_data_dir(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYFABRIC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SKYFABRIC_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    fab = skyfabric.connect()
    t = fab.create_table("notes.first", readings(0, 3))
    assert (tmp_path / "data" / "catalog.db").is_file()
    assert t.location == "fabric://local/warehouse/notes/first"
    assert any((tmp_path / "data" / "lake" / "warehouse" / "notes" / "first" / "data").iterdir())


def test_postgres_uri_needs_its_driver_and_hides_the_password(tmp_path: Path) -> None:
    config = {"stores": {"lake": {"kind": "local", "path": str(tmp_path)}},
              "catalog": {"kind": "sql", "uri": "postgresql://ml:hunter22@127.0.0.1:9/lake"}}
    with pytest.raises((MissingDependencyError, CatalogError)) as err:
        _ = skyfabric.connect(config).catalog
    assert "hunter22" not in str(err.value)
    if isinstance(err.value, MissingDependencyError):
        assert "pip install 'skyfabric[postgres]'" in str(err.value)


class _RestStub(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = {"defaults": {}, "overrides": {}} if self.path.startswith("/v1/config") \
            else {"namespaces": [["remote"]]}
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def rest_stub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RestStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_rest_catalog_from_uri(rest_stub: str, tmp_path: Path) -> None:
    config = {"stores": {"lake": {"kind": "local", "path": str(tmp_path)}},
              "catalog": {"kind": "rest", "uri": rest_stub, "warehouse": "fabric://lake/wh"}}
    fab = skyfabric.connect(config)
    catalog = fab.catalog
    assert type(catalog).__name__ == "RestCatalog"
    assert catalog.properties["py-io-impl"] == "skyfabric.tables._fileio.FabricFileIO"
    assert catalog.properties["warehouse"] == f"file://{tmp_path}/wh"
    assert fab._table_service.namespaces() == ["remote"]
    with pytest.raises(CatalogError, match="cannot open the rest catalog"):
        _ = skyfabric.connect({**config, "catalog": {"kind": "rest",
                                                           "uri": "http://127.0.0.1:9"}}).catalog


def test_one_catalog_places_tables_on_every_store(make_bucket: Callable[..., dict],
                                                   tmp_path: Path) -> None:
    config = lake_config(make_bucket("local"), tmp_path, aws=make_bucket("s3"),
                         archive=make_bucket("gcs"), features=make_bucket("azure"),
                         onprem=make_bucket("minio"))
    fab = skyfabric.connect(config)
    fab.create_namespace("cold", location="fabric://archive/namespaces/cold")
    placed = {
        "hot.local": fab.create_table("hot.local", readings(0, 4)),
        "hot.aws": fab.create_table("hot.aws", readings(0, 5), location="fabric://aws/t/aws"),
        "cold.archived": fab.create_table("cold.archived", readings(0, 6)),
        "ml.features": fab.create_table("ml.features", readings(0, 7),
                                        location="fabric://features/tables/f"),
        "edge.onprem": fab.create_table("edge.onprem", readings(0, 8),
                                        location="fabric://onprem/iceberg/edge"),
    }
    stores = {"hot.local": "lake", "hot.aws": "aws", "cold.archived": "archive",
              "ml.features": "features", "edge.onprem": "onprem"}
    again = skyfabric.connect(config)  # a new process would see the same
    for name, t in placed.items():
        assert t.store == stores[name]
        fresh = again.table(name)
        fresh.append(readings(100, 1))
        assert fresh.count() == t.count() == len(t.to_arrow())
        assert fab.fs.find(f"{t.location}/data")
    assert placed["cold.archived"].location == "fabric://archive/namespaces/cold/archived"
    listed = {e.name: e.store for e in again.datasets() if e.kind == "iceberg"}
    assert listed == stores


def test_same_bucket_name_on_two_endpoints_is_told_apart(make_bucket: Callable[..., dict],
                                                         tmp_path: Path) -> None:
    name = "sf-twin-" + tmp_path.name[-8:].lower().replace("_", "-")
    config = lake_config(make_bucket("local"), tmp_path, aws=make_bucket("s3", name=name),
                         onprem=make_bucket("minio", name=name))
    fab = skyfabric.connect(config)
    a = fab.create_table("twin.a", readings(0, 3), location="fabric://aws/a")
    b = fab.create_table("twin.b", readings(0, 4), location="fabric://onprem/b")
    assert fab.fs.find("fabric://aws/a/data") and not fab.fs.exists("fabric://onprem/a")
    assert fab.fs.find("fabric://onprem/b/data") and not fab.fs.exists("fabric://aws/b")
    again = skyfabric.connect(config)
    assert (again.table("twin.a").count(), again.table("twin.b").count()) == (3, 4)
    assert (again.table("twin.a").store, again.table("twin.b").store) == ("aws", "onprem")
    b.append(readings(10, 1))
    assert b.gc(older_than=0).files == [] and a.count() == 3
    with pytest.raises(TableError, match="could be in any of the stores aws, onprem"):
        fab._table_service.store_of(f"s3://{name}/x")


def test_fileio_properties_rendered_from_store_configs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K_ID", "AKIA-example")
    monkeypatch.setenv("K_SECRET", "s3cr3t-value")
    monkeypatch.setenv("AZ_CONN", "DefaultEndpointsProtocol=http;AccountName=acct;"
                       "AccountKey=a2V5a2V5;BlobEndpoint=http://10.0.0.5:10000/acct;")
    minio = Store("onprem", _cfg({"kind": "s3", "bucket": "raw", "endpoint": "http://minio:9000",
                                  "access_key_env": "K_ID", "secret_key_env": "K_SECRET"}))
    assert fileio_properties(minio) == {
        "s3.access-key-id": "AKIA-example", "s3.secret-access-key": "s3cr3t-value",
        "s3.endpoint": "http://minio:9000", "s3.force-virtual-addressing": "false",
        "s3.region": "us-east-1"}
    aws = Store("lake", _cfg({"kind": "s3", "bucket": "lake", "region": "eu-west-1",
                              "profile": "prod"}))
    assert fileio_properties(aws) == {"s3.profile-name": "prod", "s3.region": "eu-west-1"}
    gcs = Store("archive", _cfg({"kind": "gcs", "bucket": "arch", "project": "p",
                                 "anonymous": True, "endpoint": "http://gcs:4443"}))
    assert fileio_properties(gcs) == {"gcs.project-id": "p", "gcs.oauth2.token": "anon",
                                      "gcs.service.host": "http://gcs:4443"}
    azure = Store("features", _cfg({"kind": "azure", "container": "feat",
                                    "connection_string_env": "AZ_CONN"}))
    assert fileio_properties(azure) == {
        "adls.account-name": "acct", "adls.account-key": "a2V5a2V5",
        "adls.blob-storage-authority": "10.0.0.5:10000", "adls.blob-storage-scheme": "http",
        "adls.dfs-storage-authority": "10.0.0.5:10000", "adls.dfs-storage-scheme": "http"}
    cloud = Store("c", _cfg({"kind": "azure", "container": "feat", "account": "acct"}))
    assert fileio_properties(cloud) == {"adls.account-name": "acct"}  # default chain
    assert fileio_properties(Store("l", _cfg({"kind": "local", "path": "/tmp/x"}))) == {}


def _cfg(data: dict[str, Any]) -> Any:
    from skyfabric.config import config_from_dict

    return config_from_dict({"stores": {"x": data}}).stores["x"]


def test_fileio_pickles_as_configuration(local_lake: Any) -> None:
    t = local_lake.create_table("s.pickled", readings(0, 3))
    io = pickle.loads(pickle.dumps(t.iceberg.io))
    path = t.scan().files()[0]
    with io.new_input(path).open() as fh:
        assert fh.read(4) == b"PAR1"
    assert "s3cr3t" not in repr(pickle.dumps(t.iceberg.io))


def test_namespaces_listing_and_drop(local_lake: Any) -> None:
    local_lake.create_table("a.one", readings(0, 1))
    t = local_lake.create_table("b.two", readings(0, 1))
    assert local_lake.tables() == ["a.one", "b.two"] and local_lake.tables("a") == ["a.one"]
    with pytest.raises(FabricError, match="no namespace 'zzz'"):
        local_lake.tables("zzz")
    location = t.location
    local_lake.drop_table("b.two", purge=True)
    assert local_lake.tables() == ["a.one"] and not local_lake.fs.find(location)


def test_sql_catalog_on_postgresql(postgres_uri: str, make_bucket: Callable[..., dict],
                                   tmp_path: Path) -> None:
    config = lake_config(make_bucket("local"), tmp_path)
    config["catalog"]["uri"] = postgres_uri
    fab = skyfabric.connect(config)
    assert fab.catalog.engine.dialect.name == "postgresql"
    t = fab.create_table("pg.readings", readings(0, 10), key=["id"])
    t.upsert(readings(5, 10, site="pg"))
    other = skyfabric.connect(config).table("pg.readings")
    assert other.count() == 15 and other.count("site = 'pg'") == 10
