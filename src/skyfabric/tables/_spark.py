"""Spark settings for the fabric catalog and every store, rendered from the configuration.

``spark_config(config)`` returns a ``dict`` for ``SparkSession.builder.config(map=...)``;
``skyfabric engines spark`` prints the same as ``spark-defaults.conf`` lines. What is set:

- the Iceberg catalog ``skyfabric`` (``org.apache.iceberg.spark.SparkCatalog``; the name is
  fixed: Iceberg's JDBC catalog keeps it in each row, and pyiceberg wrote ``skyfabric``):
  ``type=jdbc`` over the SQL catalog's database (JDBC URL from the SQLAlchemy URI; the
  driver class is named in the settings' notes and its Maven package added) or ``type=rest``,
  with the warehouse as a native URL; Iceberg's SQL extensions;
- S3 stores through S3A (``s3://`` mapped to ``S3AFileSystem``), each bucket's endpoint,
  path-style access, region and keys as per-bucket options (``fs.s3a.bucket.<b>.*``), so
  MinIO and AWS buckets coexist; GCS stores through the Cloud Storage connector; Azure
  stores through ABFS (account key per account);
- ``spark.jars.packages``: the Iceberg runtime, ``hadoop-aws``, the GCS connector,
  ``hadoop-azure`` and the JDBC driver the configuration needs (Maven coordinates; pass
  ``packages=False`` when the jars are provided another way).

Secrets are never written: each is an environment reference ``${env.NAME}`` to the variable
the configuration names. Hadoop's ``Configuration`` expands ``${env.NAME}`` in every
``spark.hadoop.*`` value; Iceberg catalog options (JDBC password, REST token) are not
expanded by Spark, so `spark_config` reads those from the environment when called with
``resolve_secrets=True`` (in the process that builds the session), and the CLI notes them.

Versions: Spark 3.5 (Scala 2.12, Hadoop 3.3.4) with Iceberg 1.10.2, the pairing checked
against skyfabric's tables (docs/tables.md, "Spark").
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from skyfabric.errors import ConfigError, register_secret
from skyfabric.storage.kinds._spark import spark_env_ref

if TYPE_CHECKING:
    from skyfabric.config import FabricConfig

__all__ = ["SPARK_PACKAGES", "SparkSettings", "spark_config", "spark_settings"]

CATALOG = "skyfabric"  # skyfabric.tables._catalog.CATALOG_NAME: the JDBC rows' catalog_name
ICEBERG_RUNTIME = "org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:1.10.2"
#: Maven packages of the catalog side (Spark 3.5 is built on Hadoop 3.3.4); each store
#: kind names its own connector (`StoreKind.spark_package`).
SPARK_PACKAGES = {
    "iceberg": ICEBERG_RUNTIME,
    "postgresql": "org.postgresql:postgresql:42.7.4",
    "mysql": "com.mysql:mysql-connector-j:8.4.0",
    "sqlite": "org.xerial:sqlite-jdbc:3.46.1.3",
}
JDBC_DRIVERS = {"postgresql": "org.postgresql.Driver", "mysql": "com.mysql.cj.jdbc.Driver",
                "sqlite": "org.sqlite.JDBC"}
PASSWORD_ENV = "SKYFABRIC_CATALOG_PASSWORD"
REST_TOKEN_ENV = "PYICEBERG_CATALOG__SKYFABRIC__TOKEN"


@dataclass
class SparkSettings:
    """Rendered Spark settings: ``conf`` (key -> value, for ``builder.config(map=conf)``),
    ``notes`` (what needs a hand or cannot be expressed), ``secrets`` (conf keys whose
    value is an environment reference Spark does not expand)."""

    conf: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        """``spark-defaults.conf`` lines (notes as ``#`` comments first)."""
        lines = ["# Spark settings for the skyfabric catalog and stores (skyfabric engines spark);",
                 "# secrets are ${env.NAME} references"]
        lines += [f"# note: {n}" for n in self.notes]
        lines += [f"{k} {v}" for k, v in self.conf.items()]
        return "\n".join(lines) + "\n"


def _jdbc(uri: str, notes: list[str], packages: list[str],
          conf: dict[str, str], secrets: dict[str, str], prefix: str) -> None:
    """JDBC catalog options from a SQLAlchemy URI (``postgresql+psycopg2://u:p@h:5432/db``)."""
    parts = urlsplit(uri)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "sqlite":
        path = uri.split(":///", 1)[1].split("?", 1)[0] if ":///" in uri else ""
        if not path or path == ":memory:":
            raise ConfigError(f"catalog.uri {uri!r} is an in-memory SQLite database, which Spark "
                              "cannot open; fix: point catalog.uri at a file or a server")
        conf[f"{prefix}.uri"] = f"jdbc:sqlite:{Path(unquote(path)).resolve()}"
        # Iceberg's table-existence check at start leaves a result set open (JdbcCatalog.
        # atomicCreateTable); on SQLite that pins the pooled connection to a read snapshot, so
        # Spark would never see later commits and its own commits fail (SQLITE_BUSY_SNAPSHOT).
        # skyfabric creates the catalog tables when it first opens the catalog.
        conf[f"{prefix}.jdbc.init-catalog-tables"] = "false"
        notes.append("catalog: SQLite is one file on this machine: Spark reaches it only in local "
                     "mode or where the same path is mounted; use PostgreSQL or REST for a cluster. "
                     "Spark does not create its tables: open the catalog with skyfabric first "
                     "(e.g. `skyfabric tables`)")
    elif scheme in ("postgresql", "mysql"):
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        conf[f"{prefix}.uri"] = f"jdbc:{scheme}://{host}{port}{parts.path}"
        if parts.username:
            conf[f"{prefix}.jdbc.user"] = unquote(parts.username)
        if parts.password is not None:
            conf[f"{prefix}.jdbc.password"] = spark_env_ref(PASSWORD_ENV)
            secrets[f"{prefix}.jdbc.password"] = PASSWORD_ENV
    else:
        raise ConfigError(f"catalog.uri scheme {parts.scheme!r} has no JDBC driver Spark can use; "
                          "fix: use sqlite, postgresql or mysql, or a REST catalog")
    packages.append(SPARK_PACKAGES[scheme])
    notes.append(f"catalog: JDBC driver class {JDBC_DRIVERS[scheme]} ({SPARK_PACKAGES[scheme]})")


def spark_settings(config: FabricConfig, *, packages: bool = True,
                   resolve_secrets: bool = False) -> SparkSettings:
    """Spark settings for ``config``'s catalog and stores (see the module docstring).

    Args:
        config: the skyfabric configuration.
        packages: add ``spark.jars.packages`` (Maven coordinates Spark downloads at start).
        resolve_secrets: put the values of the catalog's secret environment variables (JDBC
            password, REST token) in ``conf`` instead of ``${env.NAME}`` references; Hadoop
            options stay references (Hadoop expands them).

    Raises:
        ConfigError: the catalog is an in-memory SQLite database or has no JDBC driver;
            ``resolve_secrets`` and a named variable is not set.
    """
    from skyfabric.storage.stores import Store

    out = SparkSettings()
    conf, notes = out.conf, out.notes
    prefix = f"spark.sql.catalog.{CATALOG}"
    needed = [ICEBERG_RUNTIME]
    conf["spark.sql.extensions"] = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
    conf[prefix] = "org.apache.iceberg.spark.SparkCatalog"
    # skyfabric (and other engines) commit to the same tables: Iceberg's catalog cache would
    # serve Spark a table up to 30 s stale
    conf[f"{prefix}.cache-enabled"] = "false"
    cat = config.catalog
    if cat.kind == "rest":
        conf[f"{prefix}.type"] = "rest"
        conf[f"{prefix}.uri"] = cat.uri or ""
        conf[f"{prefix}.token"] = spark_env_ref(REST_TOKEN_ENV)
        out.secrets[f"{prefix}.token"] = REST_TOKEN_ENV
    else:
        conf[f"{prefix}.type"] = "jdbc"
        uri = config.catalog_uri  # the configuration's own catalog.db by default
        assert uri is not None
        _jdbc(uri, notes, needed, conf, out.secrets, prefix)
    warehouse = _warehouse(config)
    if warehouse:
        conf[f"{prefix}.warehouse"] = warehouse
    for name, cfg in sorted(config.stores.items()):
        store = Store(name, cfg)
        store.spark_settings(conf, notes)
        if store.spark_package and store.spark_package not in needed:
            needed.append(store.spark_package)
    if packages:
        conf["spark.jars.packages"] = ",".join(needed)
    if resolve_secrets:
        for key, var in out.secrets.items():
            value = os.environ.get(var)
            if value is None:
                raise ConfigError(f"Spark setting {key} needs the environment variable {var}, "
                                  f"which is not set; fix: export {var}=... first")
            register_secret(value)
            conf[key] = value
    else:
        notes += [f"{key}: Spark does not expand ${{env.{var}}} here; set it at deploy time or "
                  "use skyfabric.tables.spark_config(resolve_secrets=True)"
                  for key, var in out.secrets.items()]
    return out


def _warehouse(config: FabricConfig) -> str | None:
    """The warehouse as the native URL Iceberg records (``s3://...``, ``file:///...``)."""
    from skyfabric.storage.stores import Store
    from skyfabric.tables._catalog import _default_warehouse

    wh = _default_warehouse(config)
    if not wh or not wh.startswith("fabric://"):
        return wh
    from skyfabric.storage.paths import parse

    fp = parse(wh)
    cfg = config.stores.get(fp.store)
    if cfg is None:
        raise ConfigError(f"catalog.warehouse {wh!r} names store {fp.store!r}, which is not "
                          f"configured; stores: {', '.join(sorted(config.stores)) or 'none'}")
    return Store(fp.store, cfg).spark_url(fp.key)


def spark_config(config: Any = None, *, packages: bool = True,
                 resolve_secrets: bool = False) -> dict[str, str]:
    """The Spark settings for the fabric catalog and stores, as a dict.

    ``SparkSession.builder.config(map=skyfabric.tables.spark_config(fab)).getOrCreate()``;
    then ``spark.table("skyfabric.<namespace>.<table>")``.

    Args:
        config: a `skyfabric.Fabric`, a `FabricConfig`, a path or dict (default: the
            configuration `skyfabric.connect()` would load).
        packages: add ``spark.jars.packages`` (see `spark_settings`).
        resolve_secrets: put catalog secrets from the environment in the map (see
            `spark_settings`).

    Raises:
        ConfigError: see `spark_settings`.
    """
    from skyfabric.config import FabricConfig, load_config

    if not isinstance(config, FabricConfig):
        config = getattr(config, "config", None) or load_config(config)
    return spark_settings(config, packages=packages, resolve_secrets=resolve_secrets).conf
