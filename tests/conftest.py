"""Session fixtures: real protocol servers on loopback, and store configs on them.

- ``servers`` (session): moto x2 (AWS S3 and an on-prem S3-compatible endpoint),
  fake-gcs-server and Azurite, started together on free 127.0.0.1 ports, stopped at the end.
- ``store_configs`` (session): kind name -> store config dict (DESIGN.md's TOML shape) for
  ``s3``, ``minio``, ``gcs``, ``azure``, ``local`` and ``memory``; shared, do not mutate.
- ``make_bucket``: ``make_bucket(kind) -> dict``, a new empty bucket / container /
  dir / memory root each call, so tests never see each other's objects.
- ``store_kind`` (parametrized over the six kinds), ``fresh_store_config`` (a fresh store of
  that kind), ``fresh_store`` (fresh store of the kind given by indirect parametrization) and
  ``pair_configs`` (fresh source and destination stores of two kinds, for cross-store tests).

Servers start only when a test needs a cloud kind; local/memory-only runs start nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:  # `import servers` also under --import-mode=importlib
    sys.path.insert(0, _TESTS_DIR)

from servers import (  # noqa: E402
    STORE_KINDS,
    ServerSet,
    ServerStartError,
    check_gcsfs_mode,
    isolate_environment,
    isolate_user_state,
    make_store_config,
)

# Now, at conftest import, before any test module imports gcsfs (which reads
# GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT at import time) or a cloud client reads credentials.
isolate_environment()
# Each test process (each xdist worker imports this) gets its own HOME and data dirs.
isolate_user_state()

CLOUD_KINDS = ("s3", "minio", "gcs", "azure")

# Cross-store pairs: every ordered pair of the six kinds (same kind included: a copy inside
# one store goes through the same verified path).
STORE_PAIRS = [(a, b) for a in STORE_KINDS for b in STORE_KINDS]

_started: list[ServerSet] = []


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerSet]:
    """The four test servers, running; endpoints as ``.s3_endpoint``, ``.minio_endpoint``,
    ``.gcs_endpoint``, ``.azure_blob_endpoint``, ``.azure_connection_string``."""
    check_gcsfs_mode()
    server_set = ServerSet(tmp_path_factory.mktemp("server-logs"))
    try:
        server_set.start()
    except ServerStartError as exc:
        failure = str(exc)  # says what failed, the server's log tail and how to fix it
    else:
        failure = ""
    if failure:
        pytest.fail(failure, pytrace=False)
    _started.append(server_set)
    try:
        yield server_set
    finally:
        server_set.stop()


@pytest.fixture(scope="session")
def local_store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory under which local stores are created."""
    return tmp_path_factory.mktemp("local-stores")


@pytest.fixture(scope="session")
def store_configs(servers: ServerSet, local_store_root: Path) -> dict[str, dict]:
    """Kind name -> store config dict, one shared store per kind, created once per session
    (bucket/container ``skyfabric-test``; memory root ``skyfabric-test``). Do not mutate."""
    return {
        kind: make_store_config(kind, servers, local_root=local_store_root, name="skyfabric-test")
        for kind in STORE_KINDS
    }


@pytest.fixture
def make_bucket(request: pytest.FixtureRequest, local_store_root: Path) -> Callable[..., dict]:
    """``make_bucket(kind, name=None) -> store config dict`` on a new, empty bucket/container.

    ``kind`` is one of ``s3``, ``minio``, ``gcs``, ``azure``, ``local``, ``memory``; the
    servers are started (once per session) only when a cloud kind is asked for.
    """

    def make(kind: str, name: str | None = None) -> dict:
        server_set = request.getfixturevalue("servers") if kind in CLOUD_KINDS else None
        return make_store_config(kind, server_set, local_root=local_store_root, name=name)

    return make


@pytest.fixture(params=STORE_KINDS, ids=list(STORE_KINDS))
def store_kind(request: pytest.FixtureRequest) -> str:
    """Each store kind in turn: s3, minio, gcs, azure, local, memory."""
    return str(request.param)


@pytest.fixture
def fresh_store_config(store_kind: str, make_bucket: Callable[..., dict]) -> dict:
    """A store config dict on a new, empty bucket/container/dir of ``store_kind``."""
    return make_bucket(store_kind)


@pytest.fixture
def fresh_store(request: pytest.FixtureRequest, make_bucket: Callable[..., dict]) -> dict:
    """A fresh store of the kind given by ``@pytest.mark.parametrize("fresh_store", [...],
    indirect=True)``."""
    kind = getattr(request, "param", None)
    if kind is None:
        raise pytest.UsageError(
            "fresh_store needs a kind: use "
            '@pytest.mark.parametrize("fresh_store", ["s3", "gcs"], indirect=True), '
            "or use fresh_store_config, which runs over every kind"
        )
    return make_bucket(kind)


@pytest.fixture(params=STORE_PAIRS, ids=[f"{a}-to-{b}" for a, b in STORE_PAIRS])
def pair_configs(request: pytest.FixtureRequest, make_bucket: Callable[..., dict]) -> tuple:
    """(source, destination) store config dicts on fresh stores of two different kinds."""
    src_kind, dst_kind = request.param
    return make_bucket(src_kind), make_bucket(dst_kind)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for server_set in _started:
        terminalreporter.write_line(
            f"skyfabric test servers started in {server_set.startup_seconds:.1f} s: "
            + ", ".join(
                f"{s.label} {s.url if s.port else '-'} ({s.startup_seconds or 0:.1f} s)"
                for s in server_set.all
            )
            + f"; logs in {server_set.log_dir}"
        )
