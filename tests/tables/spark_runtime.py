"""A local Spark 3.5 with the Iceberg 1.10 runtime, assembled from PyPI and Debian packages.

- PySpark 3.5 and the Iceberg Spark runtime jar come from PyPI (``pyspark``,
  ``snowpark-connect-deps-iceberg``; both in the ``test`` extra).
- That runtime jar lacks Iceberg's relocated Jackson classes
  (``org.apache.iceberg.shaded.com.fasterxml.jackson``); Spark's own Jackson jars are
  relocated into that package with ``jarjar`` (Debian ``libjarjar-java``). The multi-release
  ``META-INF/versions/`` copies are dropped first (jarjar would map them onto the same names).
- The SQLite JDBC driver for the catalog is Debian's ``libxerial-sqlite-jdbc-java`` with its
  JNI library ``libxerial-sqlite-jdbc-jni``.

The Debian packages are fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x``
into the cache (no system install). Everything lands in ``<repo>/.nox/spark`` (or
``$SKYFABRIC_SPARK_CACHE``), built once under a file lock (pytest-xdist workers share it).
`prepare` raises `SparkUnavailable` with the exact reason when a piece cannot be had.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SparkRuntime", "SparkUnavailable", "prepare"]

ROOT = Path(__file__).resolve().parents[2]
DEBS = ("libjarjar-java", "libxerial-sqlite-jdbc-java", "libxerial-sqlite-jdbc-jni")
JACKSON = ("jackson-core", "jackson-databind", "jackson-annotations")
RULE = "rule com.fasterxml.jackson.** org.apache.iceberg.shaded.com.fasterxml.jackson.@1\n"


class SparkUnavailable(RuntimeError):
    """A piece of the Spark runtime cannot be had here; the message says which and why."""


@dataclass
class SparkRuntime:
    """Jars for ``spark.jars`` and the directory of the SQLite JDBC JNI library."""

    jars: list[Path]
    library_path: Path


def _cache() -> Path:
    return Path(os.environ.get("SKYFABRIC_SPARK_CACHE") or ROOT / ".nox" / "spark")


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)


def _debian(cache: Path) -> Path:
    """Unpack the Debian packages into ``cache/root``; return that root."""
    root = cache / "root"
    if (root / ".complete").exists():
        return root
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise SparkUnavailable(f"{tool} not found: the jarjar and SQLite JDBC jars come from "
                                   f"Debian packages {', '.join(DEBS)}")
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    got = _run(["apt-get", "download", *DEBS], debs)
    if got.returncode != 0 and os.geteuid() == 0:  # no package lists yet on a fresh machine
        _run(["apt-get", "update"], debs)
        got = _run(["apt-get", "download", *DEBS], debs)
    if got.returncode != 0:
        raise SparkUnavailable(f"apt-get download {' '.join(DEBS)} failed: "
                               f"{(got.stderr or got.stdout).strip()[-400:]}")
    for deb in sorted(debs.glob("*.deb")):
        unpacked = _run(["dpkg-deb", "-x", str(deb), str(root)], debs)
        if unpacked.returncode != 0:
            raise SparkUnavailable(f"dpkg-deb -x {deb.name} failed: {unpacked.stderr.strip()}")
    (root / ".complete").write_text("ok")
    return root


def _relocated_jackson(cache: Path, spark_jars: Path, jarjar: Path, java: str) -> list[Path]:
    """Spark's Jackson jars with their classes moved to Iceberg's shaded package."""
    out = []
    (cache / "rules.txt").write_text(RULE)
    for name in JACKSON:
        target = cache / f"iceberg-shaded-{name}.jar"
        out.append(target)
        if target.exists():
            continue
        found = sorted(spark_jars.glob(f"{name}-2.*.jar"))
        if not found:
            raise SparkUnavailable(f"pyspark ships no {name} jar in {spark_jars}")
        flat = cache / f"{name}-flat.jar"
        with zipfile.ZipFile(found[-1]) as src, zipfile.ZipFile(flat, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                if not info.filename.startswith("META-INF/versions/"):
                    dst.writestr(info, src.read(info))
        partial = target.with_suffix(".part")
        done = _run([java, "-jar", str(jarjar), "process", str(cache / "rules.txt"), str(flat),
                     str(partial)], cache)
        if done.returncode != 0:
            raise SparkUnavailable(f"jarjar could not relocate {found[-1].name}: "
                                   f"{(done.stderr or done.stdout).strip()[-400:]}")
        partial.rename(target)
        flat.unlink()
    return out


def prepare() -> SparkRuntime:
    """Assemble (once) and return the runtime; raises `SparkUnavailable` with the reason."""
    java = shutil.which("java")
    if java is None and os.environ.get("JAVA_HOME"):
        candidate = Path(os.environ["JAVA_HOME"]) / "bin" / "java"
        java = str(candidate) if candidate.exists() else None
    if java is None:
        raise SparkUnavailable("no Java runtime (java on PATH or $JAVA_HOME): Spark 3.5 needs "
                               "Java 8/11/17, e.g. Debian openjdk-17-jre-headless")
    try:
        import pyspark
        import snowpark_connect_deps_iceberg
    except ImportError as exc:
        raise SparkUnavailable(f"{exc.name} is not installed: pip install -e '.[test]'") from exc
    if not pyspark.__version__.startswith("3.5."):
        raise SparkUnavailable(f"pyspark {pyspark.__version__}: the Iceberg runtime here is for Spark 3.5")
    runtime = Path(snowpark_connect_deps_iceberg.__file__).parent / "jars"
    iceberg = sorted(runtime.glob("iceberg-spark-runtime-3.5_2.12-*.jar"))
    if not iceberg:
        raise SparkUnavailable(f"no iceberg-spark-runtime-3.5_2.12 jar in {runtime}")
    cache = _cache()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        root = _debian(cache)
        jarjar = root / "usr/share/java/jarjar-1.4.jar"
        sqlite = root / "usr/share/java/xerial-sqlite-jdbc.jar"
        jni = next(iter(sorted(root.glob("usr/lib/*/jni/libsqlitejdbc.so"))), None)
        if not (jarjar.exists() and sqlite.exists() and jni is not None):
            raise SparkUnavailable(f"the unpacked Debian packages in {root} lack jarjar, the "
                                   "SQLite JDBC jar or its JNI library; delete it to fetch again")
        jackson = _relocated_jackson(cache, Path(pyspark.__file__).parent / "jars", jarjar, java)
    return SparkRuntime(jars=[iceberg[-1], *jackson, sqlite], library_path=jni.parent)
