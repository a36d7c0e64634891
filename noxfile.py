"""Developer sessions: ``nox -s tests`` (the CI command), ``lint``, ``docs``, ``bench``."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
AZURITE_DIR = ROOT / ".nox" / "azurite"
AZURITE_VERSION = "3.35.0"


def _install_azurite(session: nox.Session) -> str:
    """Install Azurite (npm) into .nox/azurite once; return the azurite-blob path."""
    binary = AZURITE_DIR / "node_modules" / ".bin" / "azurite-blob"
    if not binary.exists():
        AZURITE_DIR.mkdir(parents=True, exist_ok=True)
        session.run(
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--prefix",
            str(AZURITE_DIR),
            f"azurite@{AZURITE_VERSION}",
            external=True,
        )
    return str(binary)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole test suite against real servers (moto, fake-gcs-server, Azurite)."""
    session.install("-e", ".[test]")
    env = {"SKYFABRIC_AZURITE_BIN": _install_azurite(session)}
    args = session.posargs or ["-n", "2", "--dist", "loadgroup"]
    session.run("pytest", *args, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over sources, tests, benchmarks and docs hooks."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "src", "tests", "benchmarks", "docs", "noxfile.py")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site, strict (every warning is an error)."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", "-d", "site")


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmark in benchmarks/ and print the ratios against the peers."""
    session.install("-e", ".[bench]")
    env = {"SKYFABRIC_AZURITE_BIN": _install_azurite(session)}
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs, env=env)
