"""Spark settings rendered from the configuration, and a real Spark 3.5 with the Iceberg 1.10
runtime reading and appending to a table skyfabric wrote (row-equal both ways, time travel
included) through exactly those settings. The runtime is assembled by `spark_runtime`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from spark_runtime import SparkUnavailable, prepare
from tables_data import readings
from typer.testing import CliRunner

import skyfabric
from skyfabric.config import config_from_dict
from skyfabric.errors import ConfigError
from skyfabric.tables import spark_config
from skyfabric.tables._spark import spark_settings

CONFIG = {
    "stores": {
        "lake": {"kind": "s3", "bucket": "acme-lake", "prefix": "prod", "region": "us-west-2",
                 "access_key_env": "LAKE_KEY", "secret_key_env": "LAKE_SECRET"},
        "onprem": {"kind": "s3", "bucket": "telemetry-raw", "endpoint": "http://minio.local:9000",
                   "access_key_env": "MINIO_ACCESS_KEY", "secret_key_env": "MINIO_SECRET_KEY"},
        "archive": {"kind": "gcs", "bucket": "acme-archive", "project": "acme-ml",
                    "token_file_env": "GCS_KEY_FILE"},
        "features": {"kind": "azure", "container": "features", "account": "acmefeatures",
                     "account_key_env": "FEATURES_KEY"},
        "scratch": {"kind": "local", "path": "/data/scratch"},
    },
    "catalog": {"kind": "sql", "uri": "postgresql+psycopg2://iceberg:hunter2@pg.local:5432/lake",
                "warehouse": "fabric://lake/warehouse"},
}
CATALOG = "spark.sql.catalog.skyfabric"


def test_settings_for_catalog_and_every_store() -> None:
    settings = spark_settings(config_from_dict(CONFIG))
    conf = settings.conf
    assert {k: v for k, v in conf.items() if k.startswith(CATALOG)} == {
        CATALOG: "org.apache.iceberg.spark.SparkCatalog",
        f"{CATALOG}.cache-enabled": "false",
        f"{CATALOG}.type": "jdbc",
        f"{CATALOG}.uri": "jdbc:postgresql://pg.local:5432/lake",
        f"{CATALOG}.jdbc.user": "iceberg",
        f"{CATALOG}.jdbc.password": "${env.SKYFABRIC_CATALOG_PASSWORD}",
        f"{CATALOG}.warehouse": "s3://acme-lake/prod/warehouse",
    }
    assert conf["spark.sql.extensions"].endswith("IcebergSparkSessionExtensions")
    hadoop = {k[len("spark.hadoop."):]: v for k, v in conf.items() if k.startswith("spark.hadoop.")}
    assert hadoop == {
        "fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "fs.s3a.bucket.acme-lake.endpoint.region": "us-west-2",
        "fs.s3a.bucket.acme-lake.access.key": "${env.LAKE_KEY}",
        "fs.s3a.bucket.acme-lake.secret.key": "${env.LAKE_SECRET}",
        "fs.s3a.bucket.telemetry-raw.endpoint": "http://minio.local:9000",
        "fs.s3a.bucket.telemetry-raw.path.style.access": "true",
        "fs.s3a.bucket.telemetry-raw.connection.ssl.enabled": "false",
        "fs.s3a.bucket.telemetry-raw.endpoint.region": "us-east-1",
        "fs.s3a.bucket.telemetry-raw.access.key": "${env.MINIO_ACCESS_KEY}",
        "fs.s3a.bucket.telemetry-raw.secret.key": "${env.MINIO_SECRET_KEY}",
        "fs.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem",
        "fs.AbstractFileSystem.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFS",
        "fs.gs.project.id": "acme-ml",
        "fs.gs.auth.type": "SERVICE_ACCOUNT_JSON_KEYFILE",
        "fs.gs.auth.service.account.json.keyfile": "${env.GCS_KEY_FILE}",
        "fs.azure.account.key.acmefeatures.dfs.core.windows.net": "${env.FEATURES_KEY}",
    }
    # the runtime and the catalog's driver first, then each store kind's connector once, in
    # store-name order (archive: gcs, features: azure, lake: s3); Spark takes any order
    assert conf["spark.jars.packages"].split(",") == [
        "org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:1.10.2",
        "org.postgresql:postgresql:42.7.4",
        "com.google.cloud.bigdataoss:gcs-connector:hadoop3-2.2.22",
        "org.apache.hadoop:hadoop-azure:3.3.4", "org.apache.hadoop:hadoop-aws:3.3.4",
    ]
    notes = "\n".join(settings.notes)
    assert "JDBC driver class org.postgresql.Driver" in notes
    assert "scratch: a local directory" in notes and "abfs://features/<path>" in notes
    assert "hunter2" not in json.dumps(conf) + notes


def test_secrets_resolved_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    config = config_from_dict(CONFIG)
    with pytest.raises(ConfigError, match="needs the environment variable SKYFABRIC_CATALOG_PASSWORD"):
        spark_config(config, resolve_secrets=True)
    monkeypatch.setenv("SKYFABRIC_CATALOG_PASSWORD", "hunter2")
    conf = spark_config(config, resolve_secrets=True, packages=False)
    assert conf[f"{CATALOG}.jdbc.password"] == "hunter2" and "spark.jars.packages" not in conf
    assert conf["spark.hadoop.fs.s3a.bucket.acme-lake.access.key"] == "${env.LAKE_KEY}"
    rest = config_from_dict({"stores": {}, "catalog": {"kind": "rest", "uri": "https://cat.example/api"}})
    rest_conf = spark_config(rest)
    assert rest_conf[f"{CATALOG}.type"] == "rest" and rest_conf[f"{CATALOG}.uri"] == "https://cat.example/api"
    assert rest_conf[f"{CATALOG}.token"] == "${env.PYICEBERG_CATALOG__SKYFABRIC__TOKEN}"
    with pytest.raises(ConfigError, match="in-memory SQLite"):
        spark_config(config_from_dict({"catalog": {"uri": "sqlite:///:memory:"}}))


def test_cli_engines_spark(tmp_path: Path) -> None:
    from skyfabric.cli import app

    cfg = tmp_path / "skyfabric.toml"
    cfg.write_text('[stores.lake]\nkind = "s3"\nbucket = "acme-lake"\nendpoint = "http://minio:9000"\n'
                   f'[catalog]\nuri = "sqlite:///{tmp_path}/catalog.db"\nwarehouse = "fabric://lake/wh"\n')
    text = CliRunner().invoke(app, ["--config", str(cfg), "engines", "spark"])
    assert text.exit_code == 0, text.output
    lines = [line for line in text.stdout.splitlines() if line and not line.startswith("#")]
    assert f"{CATALOG}.uri jdbc:sqlite:{tmp_path}/catalog.db" in lines
    assert "spark.hadoop.fs.s3a.bucket.acme-lake.path.style.access true" in lines
    assert f"{CATALOG}.jdbc.init-catalog-tables false" in lines  # see _spark._jdbc
    assert "# note: catalog: JDBC driver class org.sqlite.JDBC" in text.stdout
    as_json = CliRunner().invoke(app, ["--config", str(cfg), "engines", "spark", "--json", "--no-packages"])
    assert as_json.exit_code == 0, as_json.output
    got = json.loads(as_json.stdout)
    assert got["conf"][f"{CATALOG}.warehouse"] == "s3://acme-lake/wh"
    assert "spark.jars.packages" not in got["conf"] and got["notes"]


# -- a real Spark -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """(Fabric on a local store with a SQLite catalog, SparkSession configured by
    ``spark_config(fabric)``); skipped, with the reason, when Spark cannot be assembled."""
    try:
        runtime = prepare()
    except SparkUnavailable as exc:
        pytest.skip(f"Spark runtime unavailable: {exc}")
    from pyspark.sql import SparkSession

    root = tmp_path_factory.mktemp("spark-lake")
    fab = skyfabric.connect({
        "stores": {"lake": {"kind": "local", "path": str(root / "lake")}},
        "catalog": {"kind": "sql", "uri": f"sqlite:///{root / 'catalog.db'}",
                    "warehouse": "fabric://lake/warehouse"},
    })
    assert fab.catalog is not None  # creates the SQLite catalog tables before Spark opens it
    spark = (SparkSession.builder.master("local[1]").appName("skyfabric-test")
             .config(map=spark_config(fab, packages=False))
             .config("spark.jars", ",".join(str(j) for j in runtime.jars))
             .config("spark.driver.extraJavaOptions", f"-Djava.library.path={runtime.library_path}")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "1")
             .getOrCreate())
    try:
        yield fab, spark
    finally:
        spark.stop()


COLUMNS = ["id", "site", "ts", "temp"]


def arrow_rows(table: pa.Table, columns: list[str] = COLUMNS) -> list[tuple]:
    """Rows sorted by id, timestamps as epoch microseconds (the way Spark's are selected)."""
    cols = []
    for name in columns:
        col = table[name]
        if pa.types.is_timestamp(col.type):
            col = pc.cast(pc.cast(col, pa.timestamp("us")), pa.int64())
        cols.append(col.to_pylist())
    return sorted(zip(*cols, strict=True))


def spark_rows(spark: Any, source: str, columns: list[str] = COLUMNS) -> list[tuple]:
    select = ", ".join(f"unix_micros({c}) AS {c}" if c == "ts" else c for c in columns)
    return sorted(tuple(r) for r in spark.sql(f"SELECT {select} FROM {source}").collect())


@pytest.mark.slow
def test_spark_reads_and_appends_a_table_skyfabric_wrote(spark_lake: tuple[Any, Any]) -> None:
    fab, spark = spark_lake
    table = fab.create_table("sensors.spark", readings(0, 60), partition_by=["day(ts)", "site"])
    table.append(readings(60, 30))
    table.delete("id < 10")
    table.upsert(readings(20, 5).set_column(3, "temp", pa.array([99.5] * 5)), on=["id"])
    with table.update_partitioning() as spec:  # an evolved partition spec
        spec.add_field("id", "bucket[4]", "id_bucket")
    extra = readings(90, 10).append_column("unit", pa.array(["C"] * 10))
    table.append(extra, evolve=True)  # and an evolved schema
    name = "skyfabric.sensors.spark"

    # Spark reads skyfabric's table: current snapshot and every earlier one
    assert spark_rows(spark, name) == arrow_rows(table.to_arrow())
    assert spark_rows(spark, name, [*COLUMNS, "unit"]) == arrow_rows(table.to_arrow(), [*COLUMNS, "unit"])
    snapshots = table.snapshots()
    assert len(snapshots) >= 5
    for snap in snapshots:
        expected = arrow_rows(table.to_arrow(snapshot_id=snap.snapshot_id, columns=COLUMNS))
        assert spark_rows(spark, f"{name} VERSION AS OF {snap.snapshot_id}") == expected

    # Spark appends; skyfabric reads the same rows, and time travel to before the append
    before = arrow_rows(table.to_arrow())
    last_ours = table.current_snapshot().snapshot_id
    spark.sql(f"INSERT INTO {name} (id, site, ts, temp, unit) VALUES "
              "(1000, 'oslo', TIMESTAMP '2026-12-01 06:00:00', 1.5, 'K'), "
              "(1001, 'lima', TIMESTAMP '2026-12-02 07:30:00', -2.0, NULL)")
    spark_after = spark_rows(spark, name, [*COLUMNS, "unit"])
    ours = fab.table("sensors.spark")
    assert arrow_rows(ours.to_arrow(), [*COLUMNS, "unit"]) == spark_after
    ts = int((datetime(2026, 12, 1, 6, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC))
             / timedelta(microseconds=1))
    assert (1000, "oslo", ts, 1.5, "K") in spark_after
    assert arrow_rows(ours.to_arrow(snapshot_id=last_ours)) == before
    spark_snap = ours.current_snapshot()
    assert spark_snap.snapshot_id != last_ours and spark_snap.operation == "append"

    # skyfabric compacts (a replace snapshot); Spark reads the same rows, and both still
    # travel to the snapshot Spark wrote
    result = ours.compact("64MiB")
    assert result.snapshot_id is not None and ours.current_snapshot().operation == "replace"
    assert spark_rows(spark, name, [*COLUMNS, "unit"]) == spark_after
    assert spark_rows(spark, f"{name} VERSION AS OF {spark_snap.snapshot_id}") == arrow_rows(
        ours.to_arrow(snapshot_id=spark_snap.snapshot_id, columns=COLUMNS))
    operations = dict(spark.sql(f"SELECT snapshot_id, operation FROM {name}.snapshots").collect())
    assert operations[result.snapshot_id] == "replace"
    assert operations[spark_snap.snapshot_id] == "append"
