"""``skyfabric drift monitor`` and ``drift baseline --model``: exit codes, outputs, history,
baselines beside models, and the webhook alert (a real HTTP server on loopback)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_monitor import SRC, write_months
from typer.testing import CliRunner

import skyfabric
from skyfabric.cli import app
from skyfabric.cli.drift_cmds import EXIT_ERROR, EXIT_OK, EXIT_SIGNIFICANT, EXIT_USAGE


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """skyfabric.toml: local stores ``lake`` and ``registry``, SQLite catalog; six months."""
    (tmp_path / "lake").mkdir()
    (tmp_path / "registry").mkdir()
    (tmp_path / "skyfabric.toml").write_text(
        f'[stores.lake]\nkind = "local"\npath = "{tmp_path / "lake"}"\n'
        f'[stores.registry]\nkind = "local"\npath = "{tmp_path / "registry"}"\n'
        f'[catalog]\nkind = "sql"\nuri = "sqlite:///{tmp_path / "catalog.db"}"\n'
        'warehouse = "fabric://lake/warehouse"\n'
    )
    write_months(skyfabric.connect(tmp_path / "skyfabric.toml"))
    return tmp_path


def run(lake: Path, *args: str):
    return CliRunner().invoke(app, ["--config", str(lake / "skyfabric.toml"), *args])


def fit_model_baseline(lake: Path) -> None:
    res = run(lake, "drift", "baseline", f"{SRC}month=[1-3]/", "--columns", "x,site",
              "--model", "readings", "--version", "3")
    assert res.exit_code == EXIT_OK, res.output


def test_baseline_beside_the_model_and_monitor_finds_it(lake: Path) -> None:
    folder = lake / "registry" / "models" / "readings" / "3"
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text(json.dumps({"name": "readings", "framework": "sk"}))
    (folder / "model.pkl").write_bytes(b"the model")
    fit_model_baseline(lake)
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["framework"] == "sk" and meta["baseline"]["path"] == "baseline.json"
    assert meta["baseline"]["rows"] == 3 * 4_000
    assert json.loads((folder / "baseline.json").read_text())["rows"] == 3 * 4_000
    out = lake / "out"
    res = run(lake, "drift", "monitor", SRC, "--model", "readings", "--version", "3",
              "--by", "month", "--json-out", str(out / "m.json"), "--report", str(out / "t.html"))
    assert res.exit_code == EXIT_SIGNIFICANT, res.output
    data = json.loads((out / "m.json").read_text())
    assert data["baseline"] == "fabric://registry/models/readings/3/baseline.json"
    assert [w["status"] for w in data["windows"]][-1] == "significant"
    assert (out / "t.html").read_text().count("<details>") == 6
    assert "month=6" in res.stdout

    # the next run finds every window in the history: nothing new, nothing to fail on
    again = run(lake, "drift", "monitor", SRC, "--model", "readings", "--version", "3",
                "--by", "month", "--json")
    assert again.exit_code == EXIT_OK, again.output
    assert len(json.loads(again.stdout)["skipped"]) == 6
    missing = run(lake, "drift", "monitor", SRC, "--model", "readings", "--version", "4",
                  "--by", "month")
    assert missing.exit_code == EXIT_ERROR and "has no baseline" in missing.output


def test_exit_codes_and_usage(lake: Path) -> None:
    fit_model_baseline(lake)
    base = "fabric://registry/models/readings/3/baseline.json"
    never = run(lake, "drift", "monitor", SRC, "-b", base, "--by", "month", "--fail-on", "never",
                "--no-history")
    assert never.exit_code == EXIT_OK, never.output
    every = run(lake, "drift", "monitor", SRC, "-b", base, "--every", "1mo", "--time-column",
                "ts", "--history", "ops.trend", "--json")
    assert every.exit_code == EXIT_SIGNIFICANT, every.output
    assert json.loads(every.stdout)["windows"][0]["window"] == "2026-01"
    for args in (
        [],  # neither --by nor --every
        ["--by", "month", "--every", "1d"],
        ["--every", "1d"],  # no --time-column
    ):
        res = run(lake, "drift", "monitor", SRC, "-b", base, *args)
        assert res.exit_code == EXIT_USAGE, res.output
    both = run(lake, "drift", "monitor", SRC, "--by", "month")
    assert both.exit_code == EXIT_USAGE and "--baseline" in both.output
    assert run(lake, "drift", "baseline", SRC, "--model", "m").exit_code == EXIT_USAGE
    bad = run(lake, "drift", "baseline", SRC, "--model", "../x", "--version", "1")
    assert bad.exit_code != EXIT_OK and "not a plain name" in bad.output


class Hook:
    """A loopback HTTP server recording POST bodies; answers with ``statuses`` in turn."""

    def __init__(self, statuses: list[int]) -> None:
        self.bodies: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                hook.bodies.append(json.loads(self.rfile.read(length)))
                status = statuses.pop(0) if statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T000/B000/secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook([500])  # the first attempt fails: the alert is retried
    yield h
    h.server.shutdown()


def test_alert_posts_one_payload_slack_and_teams_accept(
    lake: Path, hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    fit_model_baseline(lake)
    monkeypatch.setenv("DRIFT_HOOK", hook.url)
    res = run(lake, "drift", "monitor", SRC, "--model", "readings", "--version", "3",
              "--by", "month", "--alert-webhook-env", "DRIFT_HOOK",
              "--report", str(lake / "trend.html"), "--report-link", "https://ci/trend.html")
    assert res.exit_code == EXIT_SIGNIFICANT, res.output
    assert len(hook.bodies) == 2 and hook.bodies[0] == hook.bodies[1]  # one retry
    text = hook.bodies[-1]["text"]
    assert list(hook.bodies[-1]) == ["text"]
    assert "month=6: significant" in text and "https://ci/trend.html" in text
    assert "month=1" not in text
    assert "secret-token" not in res.output and "alert posted" in res.output


def test_alert_failures_name_the_variable_never_the_url(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fit_model_baseline(lake)
    refused = Hook([404])
    try:
        monkeypatch.setenv("DRIFT_HOOK", refused.url)
        res = run(lake, "drift", "monitor", SRC, "--model", "readings", "--version", "3",
                  "--by", "month", "--no-history", "--alert-webhook-env", "DRIFT_HOOK")
    finally:
        refused.server.shutdown()
    assert res.exit_code == EXIT_ERROR, res.output
    assert "DRIFT_HOOK" in res.output and "secret-token" not in res.output
    assert len(refused.bodies) == 1  # a 404 is not retried
    monkeypatch.delenv("DRIFT_HOOK")
    unset = run(lake, "drift", "monitor", SRC, "--model", "readings", "--version", "3",
                "--by", "month", "--alert-webhook-env", "DRIFT_HOOK")
    assert unset.exit_code == EXIT_USAGE and "DRIFT_HOOK" in unset.output


def test_a_failed_alert_is_sent_again_by_the_next_run(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a new user: the history kept the windows of a failed alert, so the next
    run read them back, posted nothing and exited 0."""
    fit_model_baseline(lake)
    args = ("drift", "monitor", SRC, "--model", "readings", "--version", "3", "--by", "month",
            "--alert-webhook-env", "DRIFT_HOOK")
    down = Hook([404])
    try:
        monkeypatch.setenv("DRIFT_HOOK", down.url)
        first = run(lake, *args)
    finally:
        down.server.shutdown()
    assert first.exit_code == EXIT_ERROR, first.output
    assert "alerts again" in first.output
    up = Hook([])
    try:
        monkeypatch.setenv("DRIFT_HOOK", up.url)
        second = run(lake, *args)
    finally:
        up.server.shutdown()
    assert second.exit_code == EXIT_SIGNIFICANT, second.output
    assert len(up.bodies) == 1 and "month=6: significant" in up.bodies[0]["text"]
    third = run(lake, *args)  # delivered: those windows are history now, nothing to send
    assert third.exit_code == EXIT_OK, third.output
