"""Trino catalog files from the store config: one per store, secrets only as ${ENV:...}."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import skyfabric
from skyfabric.config import config_from_dict
from skyfabric.views import InvalidViewError, trino_catalogs

CONFIG = {
    "stores": {
        "lake": {"kind": "s3", "bucket": "acme-lake", "prefix": "prod", "region": "us-west-2",
                 "access_key_env": "LAKE_KEY", "secret_key_env": "LAKE_SECRET",
                 "storage_class": "STANDARD_IA"},
        "on-prem": {"kind": "s3", "bucket": "telemetry-raw", "endpoint": "http://minio.factory.local:9000",
                    "access_key_env": "MINIO_ACCESS_KEY", "secret_key_env": "MINIO_SECRET_KEY"},
        "archive": {"kind": "gcs", "bucket": "acme-archive", "project": "acme-ml",
                    "token_file_env": "GCS_KEY_FILE"},
        "features": {"kind": "azure", "container": "features", "account": "acmefeatures",
                     "account_key_env": "FEATURES_KEY"},
        "blobs": {"kind": "azure", "container": "blobs", "account": "acmeblobs",
                  "connection_string_env": "BLOBS_CONN"},
        "scratch": {"kind": "local", "path": "/data/scratch"},
        "tmp": {"kind": "memory"},
    },
    "catalog": {"kind": "sql", "uri": "postgresql+psycopg2://iceberg:hunter2-secret@pg.local:5432/lake",
                "warehouse": "fabric://lake/warehouse"},
}
SECRETS = {"LAKE_KEY": "AKIA-LAKE-9f8e", "LAKE_SECRET": "lake-secret-value-77", "MINIO_SECRET_KEY": "minio-pw-1234",
           "FEATURES_KEY": "azure-key-Zx9==", "BLOBS_CONN": "AccountName=acmeblobs;AccountKey=blob-key-q1w2"}

ICEBERG_JDBC_HEAD = (
    "connector.name=iceberg\n"
    "iceberg.catalog.type=jdbc\n"
    "iceberg.jdbc-catalog.catalog-name=skyfabric\n"
    "iceberg.jdbc-catalog.driver-class=org.postgresql.Driver\n"
    "iceberg.jdbc-catalog.connection-url=jdbc:postgresql://pg.local:5432/lake\n"
    "iceberg.jdbc-catalog.connection-user=iceberg\n"
    "iceberg.jdbc-catalog.connection-password=${ENV:SKYFABRIC_CATALOG_PASSWORD}\n"
)


def _toml(config: dict) -> str:
    """The test config as TOML (string values only, two levels of tables)."""
    lines = []
    for name, cfg in config["stores"].items():
        lines.append(f'[stores."{name}"]')
        lines += [f'{k} = "{v}"' for k, v in cfg.items()]
    lines.append("[catalog]")
    lines += [f'{k} = "{v}"' for k, v in config["catalog"].items()]
    return "\n".join(lines) + "\n"


def _body(text: str) -> str:
    return "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))


def test_one_file_per_object_store_with_exact_properties(monkeypatch: pytest.MonkeyPatch) -> None:
    for var, value in SECRETS.items():
        monkeypatch.setenv(var, value)
    files = trino_catalogs(config_from_dict(CONFIG), version=482)
    assert sorted(files.files) == [
        "archive.properties", "archive_hive.properties", "blobs.properties", "blobs_hive.properties",
        "features.properties", "features_hive.properties", "lake.properties", "lake_hive.properties",
        "on_prem.properties", "on_prem_hive.properties",
    ]
    # each catalog's default warehouse is on its own store (the warehouse's key under its root)
    assert _body(files.files["on_prem.properties"]) == ICEBERG_JDBC_HEAD + (
        "iceberg.jdbc-catalog.default-warehouse-dir=s3://telemetry-raw/warehouse\n"
        "fs.s3.enabled=true\n"
        "s3.region=us-east-1\n"
        "s3.endpoint=http://minio.factory.local:9000\n"
        "s3.path-style-access=true\n"
        "s3.aws-access-key=${ENV:MINIO_ACCESS_KEY}\n"
        "s3.aws-secret-key=${ENV:MINIO_SECRET_KEY}\n"
    )
    assert _body(files.files["lake_hive.properties"]) == (
        "connector.name=hive\n"
        "hive.metastore=file\n"
        "hive.metastore.catalog.dir=s3://acme-lake/prod/_trino_metastore\n"
        "fs.s3.enabled=true\n"
        "s3.region=us-west-2\n"
        "s3.aws-access-key=${ENV:LAKE_KEY}\n"
        "s3.aws-secret-key=${ENV:LAKE_SECRET}\n"
        "s3.storage-class=STANDARD_IA\n"
    )
    assert _body(files.files["archive.properties"]).endswith(
        "fs.gcs.enabled=true\ngcs.project-id=acme-ml\ngcs.json-key-file-path=${ENV:GCS_KEY_FILE}\n")
    assert _body(files.files["features.properties"]).endswith(
        "fs.azure.enabled=true\nazure.auth-type=ACCESS_KEY\nazure.access-key=${ENV:FEATURES_KEY}\n")
    assert "azure.access-key=${ENV:SKYFABRIC_BLOBS_ACCOUNT_KEY}" in files.files["blobs.properties"]
    everything = "\n".join(files.files.values())
    for secret in [*SECRETS.values(), "hunter2-secret", "blob-key-q1w2"]:
        assert secret not in everything
    assert any("scratch: skipped" in n for n in files.notes)
    assert any("tmp: skipped" in n for n in files.notes)
    assert any("SKYFABRIC_BLOBS_ACCOUNT_KEY" in n for n in files.notes)
    assert any("SKYFABRIC_CATALOG_PASSWORD" in n for n in files.notes)


def test_default_warehouse_of_each_catalog_is_on_its_own_store() -> None:
    files = trino_catalogs(config_from_dict(CONFIG)).files
    wh = {name: next(line.split("=", 1)[1] for line in text.splitlines()
                     if line.startswith("iceberg.jdbc-catalog.default-warehouse-dir="))
          for name, text in files.items() if "_hive" not in name}
    assert wh == {
        "lake.properties": "s3://acme-lake/prod/warehouse",  # the configured warehouse
        "on_prem.properties": "s3://telemetry-raw/warehouse",
        "archive.properties": "gs://acme-archive/warehouse",
        "features.properties": "abfs://features@acmefeatures.dfs.core.windows.net/warehouse",
        "blobs.properties": "abfs://blobs@acmeblobs.dfs.core.windows.net/warehouse",
    }


def test_catalogs_enable_every_file_system_placement_moves_table_files_to() -> None:
    """Found by a new user: a rule moving flights.flights partitions to a GCS store left
    lake.properties with only S3 enabled, so Trino could not read the moved files."""
    rules = [{"name": "cold-flights", "table": "flights.flights", "partition": "month <= 6",
              "target": "archive"},
             {"name": "to-minio", "table": "flights.planes", "target": "on-prem"},
             {"name": "objects", "match": "fabric://lake/raw/**", "target": "features"}]
    config = config_from_dict({**CONFIG, "placement": {"rules": rules}})
    files = trino_catalogs(config, version=482)
    lake = _body(files.files["lake.properties"])
    # its own S3 file system, then GCS where the rule moves files; the object rule moves no
    # table files, so Azure stays off
    assert lake.index("fs.s3.enabled=true") < lake.index("fs.gcs.enabled=true")
    assert "gcs.json-key-file-path=${ENV:GCS_KEY_FILE}\n" in lake
    assert "fs.azure.enabled" not in lake and lake.count("fs.s3.enabled=true") == 1
    # the GCS catalog reads the same tables: their unmoved files are on the warehouse's S3 store
    archive = _body(files.files["archive.properties"])
    assert "fs.gcs.enabled=true" in archive and "fs.s3.enabled=true" in archive
    assert "s3.aws-access-key=${ENV:LAKE_KEY}" in archive
    features = _body(files.files["features.properties"])
    for switch in ("fs.azure.enabled=true", "fs.s3.enabled=true", "fs.gcs.enabled=true"):
        assert features.count(switch) == 1
    # one S3 configuration per catalog: the MinIO target cannot join lake's, and the note says so
    assert "minio.factory.local" not in lake
    assert any(n.startswith("lake: cannot also read table files placement moves to store 'on-prem'")
               and "'on_prem'" in n for n in files.notes)
    # Hive catalogs (plain parquet) are unchanged by table rules
    assert "fs.gcs.enabled" not in files.files["lake_hive.properties"]
    assert _body(trino_catalogs(config_from_dict(CONFIG)).files["lake.properties"]).count(
        "fs.") == 1
    for secret in SECRETS.values():
        assert secret not in "\n".join(files.files.values())


def test_property_names_follow_the_trino_version() -> None:
    config = config_from_dict(CONFIG)
    old = trino_catalogs(config, version=470).files
    assert "fs.native-s3.enabled=true" in old["lake.properties"]
    assert "fs.native-gcs.enabled=true" in old["archive.properties"]
    assert "fs.native-azure.enabled=true" in old["features.properties"]
    assert "fs.s3.enabled" not in "".join(old.values())
    new = trino_catalogs(config, version=481).files
    assert "fs.s3.enabled=true" in new["lake.properties"] and "fs.native" not in "".join(new.values())
    assert "for Trino 481" in new["lake.properties"]
    with pytest.raises(InvalidViewError, match="Trino 430 predates the native file systems"):
        trino_catalogs(config, version=430)
    assert "lake_hive.properties" not in trino_catalogs(config, hive=False).files


def test_rest_and_sqlite_catalogs_and_name_clashes(tmp_path: Path) -> None:
    rest = config_from_dict({"stores": {"lake": CONFIG["stores"]["lake"]},
                             "catalog": {"kind": "rest", "uri": "https://iceberg.example.com/api",
                                         "warehouse": "fabric://lake/wh"}})
    text = trino_catalogs(rest).files["lake.properties"]
    assert "iceberg.catalog.type=rest\niceberg.rest-catalog.uri=https://iceberg.example.com/api\n" in text
    assert "iceberg.rest-catalog.warehouse=s3://acme-lake/prod/wh\n" in text
    sqlite = config_from_dict({"stores": {"lake": CONFIG["stores"]["lake"]},
                               "catalog": {"uri": f"sqlite:///{tmp_path}/c.db"}})
    files = trino_catalogs(sqlite)
    assert any("not reachable by Trino" in n for n in files.notes)
    clash = config_from_dict({"stores": {"on-prem": CONFIG["stores"]["on-prem"],
                                         "on_prem": CONFIG["stores"]["on-prem"]}})
    with pytest.raises(InvalidViewError, match="both map to Trino catalog 'on_prem'"):
        trino_catalogs(clash)


def test_cli_writes_the_files(tmp_path: Path, cli_app: typer.Typer) -> None:
    cfg = tmp_path / "skyfabric.toml"
    cfg.write_text(_toml(CONFIG), encoding="utf-8")
    out = tmp_path / "catalog"
    result = CliRunner().invoke(cli_app, ["--config", str(cfg), "views", "trino-catalogs", "--out", str(out),
                                      "--trino-version", "475"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir())[:2] == ["archive.properties", "archive_hive.properties"]
    assert "fs.native-s3.enabled=true" in (out / "lake.properties").read_text()
    bad = CliRunner().invoke(cli_app, ["--config", str(cfg), "views", "trino-catalogs", "--out", str(out),
                                   "--trino-version", "400"])
    assert bad.exit_code == 2
    assert skyfabric.connect(str(cfg)).config.stores["lake"].kind == "s3"
