"""``skyfabric tables ...`` end to end on a local lake (CliRunner, JSON output, exit codes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import typer
from tables_data import readings
from typer.testing import CliRunner

from skyfabric.cli import tables_cmds


@pytest.fixture
def cli(make_bucket: Any, tmp_path: Path) -> Any:
    """``run(*args) -> Result`` against a root app with the global ``--config`` option."""
    store = make_bucket("local")
    config = tmp_path / "skyfabric.toml"
    config.write_text(
        f'[stores.lake]\nkind = "local"\npath = "{store["path"]}"\n\n'
        f'[catalog]\nkind = "sql"\nuri = "sqlite:///{tmp_path / "catalog.db"}"\n'
        'warehouse = "fabric://lake/warehouse"\n'
    )
    root = typer.Typer(no_args_is_help=True)

    @root.callback()
    def _global(ctx: typer.Context, config: Annotated[Path | None, typer.Option("--config")] = None
                ) -> None:
        ctx.ensure_object(dict)["config"] = config

    tables_cmds.register(root)
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(root, ["--config", str(config), *args])

    return run


def test_create_append_show_history_expire_gc(cli: Any, tmp_path: Path) -> None:
    pq.write_table(readings(0, 30), tmp_path / "first.parquet")
    pacsv.write_csv(readings(30, 10).drop_columns(["ts"]), tmp_path / "more.csv")

    done = cli("tables", "create", "sensors.t", "--from", str(tmp_path / "first.parquet"),
               "--partition-by", "site", "--key", "id")
    assert done.exit_code == 0, done.output
    assert "30 rows" in done.output
    assert cli("tables", "append", "sensors.t", str(tmp_path / "more.csv")).exit_code == 0

    listed = json.loads(cli("tables", "--json").stdout)
    assert [(e["name"], e["kind"], e["rows"]) for e in listed] == [("sensors.t", "iceberg", 40)]
    shown = json.loads(cli("tables", "show", "sensors.t", "--json").stdout)
    assert shown["partitioning"] == ["site"] and shown["identifier_fields"] == ["id"]
    assert [c["name"] for c in shown["schema"]] == ["id", "site", "ts", "temp"]
    assert len(shown["snapshots"]) == 2
    history = json.loads(cli("tables", "history", "sensors.t", "--json").stdout)
    assert [h["operation"] for h in history] == ["append", "append"]
    assert "sensors.t" in cli("tables", "history", "sensors.t").stdout

    dry = json.loads(cli("tables", "expire", "sensors.t", "--older-than", "0s", "--dry-run",
                         "--json").stdout)
    assert dry["dry_run"] and len(dry["snapshot_ids"]) == 1
    real = json.loads(cli("tables", "expire", "sensors.t", "--older-than", "0s", "--json").stdout)
    assert real["files"] == dry["files"]
    gc = json.loads(cli("tables", "gc", "--older-than", "0s", "--json").stdout)
    assert gc["sensors.t"]["files"] == []
    human = cli("tables")
    assert human.exit_code == 0 and "sensors.t" in human.stdout


def test_create_from_a_fabric_url(cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "skyfabric.toml"
    import skyfabric

    fab = skyfabric.connect(config)
    for month in (1, 2):
        with fab.fs.open(f"fabric://lake/raw/month={month}/part-0.parquet", "wb") as fh:
            pq.write_table(readings(10 * month, 10), fh)
    done = cli("tables", "create", "raw.readings", "--from", "fabric://lake/raw/",
               "-p", "month")
    assert done.exit_code == 0, done.output
    shown = json.loads(cli("tables", "show", "raw.readings", "--json").stdout)
    assert shown["partitioning"] == ["month"] and shown["snapshots"][0]["records"] == 20
    listed = {e["name"]: e["kind"] for e in json.loads(cli("tables", "--json").stdout)}
    assert listed == {"raw.readings": "iceberg", "fabric://lake/raw": "parquet"}


def test_errors_exit_codes(cli: Any, tmp_path: Path) -> None:
    pq.write_table(readings(0, 3), tmp_path / "x.parquet")
    assert cli("tables", "create", "s.one", "--from", str(tmp_path / "x.parquet")).exit_code == 0
    missing = cli("tables", "show", "s.onee")
    assert missing.exit_code == 2 and "Did you mean s.one?" in missing.output
    bad_age = cli("tables", "expire", "s.one", "--older-than", "soon")
    assert bad_age.exit_code == 2 and "cannot read duration" in bad_age.output
    pq.write_table(readings(0, 1).append_column("extra", pa.array([1])), tmp_path / "extra.parquet")
    mismatch = cli("tables", "append", "s.one", str(tmp_path / "extra.parquet"))
    assert mismatch.exit_code == 2 and "extra" in mismatch.output
    assert cli("tables", "append", "s.one", str(tmp_path / "extra.parquet"), "--evolve"
               ).exit_code == 0
