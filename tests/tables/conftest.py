"""Fixtures of the table suite: a Fabric with one fresh store of each kind and its own catalog.

``lake`` runs every test that uses it once per store kind (s3, minio, gcs, azure, local,
memory): the store is a fresh bucket/container/dir named ``lake``, the warehouse is
``fabric://lake/warehouse`` and the SQLite catalog lives in the test's tmp dir, so tests never
see each other's tables.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tables_data import lake_config

import skyfabric


@pytest.fixture
def lake(fresh_store_config: dict, tmp_path: Path) -> Any:
    """A Fabric (with the table layer) on a fresh store of each kind in turn."""
    return skyfabric.connect(lake_config(fresh_store_config, tmp_path))


@pytest.fixture
def local_lake(make_bucket: Callable[..., dict], tmp_path: Path) -> Any:
    """A Fabric on one fresh local store (for behaviour that does not depend on the kind)."""
    return skyfabric.connect(lake_config(make_bucket("local"), tmp_path))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_uri() -> Iterator[str]:
    """A throwaway PostgreSQL server on loopback (initdb + pg_ctl), as a SQLAlchemy URI.

    Skips when the PostgreSQL server binaries or the psycopg2 driver are not installed. As
    root, the server runs as the ``postgres`` user (PostgreSQL refuses to run as root).
    """
    pytest.importorskip("psycopg2", reason="psycopg2 not installed (skyfabric[postgres])")
    found = [shutil.which("initdb"), *map(str, sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb")))]
    initdb = next((f for f in found if f), None)
    if not initdb:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found")
    pg_ctl = str(Path(initdb).with_name("pg_ctl"))
    prefix: list[str] = []
    # Not under pytest's tmp dir: as root that is mode 700, which the postgres user cannot enter.
    root = Path(tempfile.mkdtemp(prefix="skyfabric-pg-"))
    if os.geteuid() == 0:
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    data, port = root / "data", _free_port()
    run = [*prefix, str(initdb), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
    if subprocess.run(run, capture_output=True, text=True).returncode != 0:
        pytest.skip("initdb failed; cannot start a test PostgreSQL")
    start = [*prefix, pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "-o",
             f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start"]
    if subprocess.run(start, capture_output=True, text=True).returncode != 0:
        pytest.skip(f"PostgreSQL did not start; see {root / 'log'}")
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
