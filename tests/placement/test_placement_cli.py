"""``skyfabric placement plan|apply|status|log`` end to end on local stores."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from placement_data import md5, seed
from typer.testing import CliRunner

import skyfabric
from skyfabric.cli.placement_cmds import parse_size

AS_OF = "2100-01-01"


def _config(tmp_path: Path, rule: str) -> Path:
    hot, cold = tmp_path / "hot", tmp_path / "cold"
    path = tmp_path / "skyfabric.toml"
    path.write_text(
        f"""
[stores.hot]
kind = "local"
path = "{hot}"

[stores.cold]
kind = "local"
path = "{cold}"

[[placement.rules]]
{rule}
"""
    )
    return path


RULE = 'name = "cold"\nmatch = "fabric://hot/t/**"\nolder_than = "30d"\ntarget = "cold"'


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SKYFABRIC_DATA_DIR", str(tmp_path / "data"))
    return _config(tmp_path, RULE)


def test_plan_apply_status_log(env: Path, cli_app) -> None:
    fab = skyfabric.connect(env)
    data = seed(fab, "hot", "t", 4, size=1000)
    runner = CliRunner()
    base = ["--config", str(env), "placement"]

    out = runner.invoke(cli_app, [*base, "plan", "--json", "--as-of", AS_OF])
    assert out.exit_code == 0, out.output
    plan = json.loads(out.stdout)
    assert plan["moves"] == 4 and plan["bytes"] == sum(len(v) for v in data.values())
    assert {i["reason"] for i in plan["items"]} == {"rule 'cold'"}

    table = runner.invoke(cli_app, [*base, "plan", "--as-of", AS_OF])
    assert table.exit_code == 0 and "placement plan: 4 moves" in table.output

    dry = runner.invoke(cli_app, [*base, "apply", "--dry-run", "--as-of", AS_OF, "--json"])
    assert json.loads(dry.stdout)["done"] == 4 and len(fab.ls("fabric://hot/t")) == 4

    some = runner.invoke(
        cli_app, [*base, "apply", "--max-bytes", "2.1KB", "--as-of", AS_OF, "--json"]
    )
    assert some.exit_code == 0, some.output
    assert json.loads(some.stdout)["done"] == 2 and json.loads(some.stdout)["deferred"] == 2

    rest = runner.invoke(cli_app, [*base, "apply", "--as-of", AS_OF])
    assert rest.exit_code == 0 and "applied 2 moves" in rest.output
    assert {k: md5(fab.fs.cat_file(f"fabric://cold/{k}")) for k in data} == {
        k: md5(v) for k, v in data.items()
    }

    status = runner.invoke(cli_app, [*base, "status", "--json"])
    assert json.loads(status.stdout)["counts"] == {"done": 4}
    assert "done 4" in runner.invoke(cli_app, [*base, "status"]).output

    log = runner.invoke(cli_app, [*base, "log", "--json"])
    records = json.loads(log.stdout)
    assert len(records) == 4 and all(r["md5"] and r["who"] for r in records)
    text = runner.invoke(cli_app, [*base, "log", "--limit", "1"]).output
    assert text.count("\n") == 1 and "move fabric://hot/t/" in text
    # the configuration's own state directory, beside its file (issue 13), not the data dir
    assert os.path.isdir(env.parent / ".skyfabric" / "placement")
    assert not os.path.exists(Path(os.environ["SKYFABRIC_DATA_DIR"]) / "placement")


def test_invalid_rule_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_app) -> None:
    monkeypatch.setenv("SKYFABRIC_DATA_DIR", str(tmp_path / "data"))
    bad = _config(tmp_path, 'name = "x"\nmatch = "fabric://hot/**"\ntarget = "hot"')
    out = CliRunner().invoke(cli_app, ["--config", str(bad), "placement", "plan"])
    assert out.exit_code == 2 and "source store" in out.output


def test_sizes() -> None:
    assert parse_size("512") == 512
    assert parse_size("10GB") == 10 * 10**9
    assert parse_size("1GiB") == 2**30
    assert parse_size("2.5 MiB") == int(2.5 * 2**20)
