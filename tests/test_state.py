"""Local state belongs to its configuration, and a used user data dir blocks nothing.

- each configuration has its own state directory (catalog, placement journal), printed by
  ``skyfabric stores``;
- a user data dir poisoned as a real one was (a table registered on an S3 endpoint that no
  longer answers, another whose metadata is gone, 900 moves of another project in the shared
  placement journal) does not stop ``placement plan``, listings or ``quickstart``;
- tables left in the shared catalog of earlier versions stay reachable: a warning names them
  and the ``[catalog] uri`` line that points back at them;
- the suite itself never sees the real user's HOME or data dir.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

import skyfabric
from skyfabric.cli import app
from skyfabric.config import STATE_FOLDER, data_dir, load_config
from skyfabric.errors import ConfigError
from skyfabric.tables.errors import UnreachableLocationError
from skyfabric.warnings import (
    LegacyStateWarning,
    UnreachableStoreWarning,
    UnreadableTableWarning,
)

ROWS = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "v": pa.array(["a", "b", "c"])})


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _local_config(folder: Path, extra: str = "", top: str = "") -> Path:
    """A project's skyfabric.toml with one local store ``hot`` and one ``cold``; ``top``
    holds top-level keys, ``extra`` goes last."""
    return _write(
        folder / "skyfabric.toml",
        f'{top}[stores.hot]\nkind = "local"\npath = "{(folder / "hot").as_posix()}"\n\n'
        f'[stores.cold]\nkind = "local"\npath = "{(folder / "cold").as_posix()}"\n'
        f'tier = "cold"\n\n[catalog]\nwarehouse = "fabric://hot/warehouse"\n{extra}',
    )


@pytest.fixture
def user_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user data dir of this test's own; no config in the environment or the cwd."""
    data = tmp_path / "user-data"
    monkeypatch.setenv("SKYFABRIC_DATA_DIR", str(data))
    monkeypatch.delenv("SKYFABRIC_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return data


# -- one state directory per configuration --------------------------------------------------


def test_state_dir_defaults(user_data: Path, tmp_path: Path) -> None:
    embedded = load_config()
    assert embedded.state_path == user_data  # where skyfabric always kept it
    assert embedded.catalog_uri == f"sqlite:///{(user_data / 'catalog.db').as_posix()}"
    assert embedded.placement_state_path == user_data / "placement"

    project = load_config(_local_config(tmp_path / "proj"))
    assert project.state_path == (tmp_path / "proj" / STATE_FOLDER).resolve()
    assert project.catalog_uri == f"sqlite:///{(project.state_path / 'catalog.db').as_posix()}"
    assert project.placement_state_path == project.state_path / "placement"

    named = load_config(_local_config(tmp_path / "named", top='state_dir = "var/state"\n'))
    assert named.state_path == (tmp_path / "named" / "var" / "state").resolve()

    # in code: keyed by the stores; the same stores share state, other stores do not
    stores = {"s": {"kind": "local", "path": str(tmp_path / "s")}}
    a, b = skyfabric.connect({"stores": stores}), skyfabric.connect({"stores": stores})
    other = skyfabric.connect({"stores": {"t": {"kind": "local", "path": str(tmp_path / "t")}}})
    assert a.config.state_path == b.config.state_path != other.config.state_path
    assert a.config.state_path.parent == user_data / "configs"


def test_two_configurations_never_share_tables_or_moves(user_data: Path, tmp_path: Path) -> None:
    one = skyfabric.connect(_local_config(tmp_path / "one"))
    two = skyfabric.connect(_local_config(tmp_path / "two"))
    one.create_table("flights.flights", ROWS)
    assert one.tables() == ["flights.flights"]
    assert two.tables() == []
    assert [d.name for d in two.datasets() if d.kind == "iceberg"] == []
    assert one.placement.state_dir != two.placement.state_dir
    assert not (user_data / "catalog.db").exists()  # nothing went to the shared place


def test_stores_prints_where_state_lives(user_data: Path, tmp_path: Path) -> None:
    config = _local_config(tmp_path / "proj")
    out = CliRunner().invoke(app, ["--config", str(config), "stores", "--json"])
    assert out.exit_code == 0, out.output
    info = json.loads(out.stdout)
    state = (tmp_path / "proj" / STATE_FOLDER).resolve()
    assert info["state_dir"] == str(state)
    assert info["catalog"] == f"sqlite:///{(state / 'catalog.db').as_posix()}"
    assert info["placement_state_dir"] == str(state / "placement")
    text = CliRunner().invoke(app, ["--config", str(config), "stores"])
    assert f"state dir: {state}" in " ".join(text.stdout.split())


# -- a used, broken user data dir -----------------------------------------------------------


def _register_row(db: Path, namespace: str, name: str, metadata: str) -> None:
    """Add a table row to pyiceberg's SQL catalog as another project's skyfabric would have."""
    con = sqlite3.connect(db)
    try:
        con.execute(
            "INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name, "
            "metadata_location, previous_metadata_location) VALUES ('skyfabric', ?, ?, ?, NULL)",
            (namespace, name, metadata),
        )
        con.commit()
    finally:
        con.close()


def poison(data: Path) -> None:
    """Make ``data`` a user data dir that another project used, then broke:

    - ``other.telemetry``: registered on an S3 endpoint that no configuration here names;
    - ``other.gone``: its metadata file was deleted;
    - the shared placement journal and location index: 900 moves between stores ``hot``
      and ``cold`` of that other project.
    """
    embedded = skyfabric.connect()  # creates the shared catalog's schema, as a user's did
    embedded.create_namespace("other")
    embedded.create_table("other.gone", ROWS)
    db = data / "catalog.db"
    # on the S3-compatible endpoint of that project's `[stores.onprem]`, which no
    # configuration here names: reading it would guess credentials and reach for IMDS
    _register_row(db, "other", "telemetry",
                  "s3://telemetry-raw/wh/telemetry/metadata/00001-x.metadata.json")

    for meta in (data / "lake" / "warehouse" / "other" / "gone").rglob("*.metadata.json"):
        meta.unlink()
    placement = data / "placement"
    placement.mkdir(parents=True, exist_ok=True)
    with (placement / "journal.jsonl").open("w") as journal, (placement / "locations.jsonl").open("w") as index:
        for i in range(900):
            src, dst = f"fabric://hot/t/{i}.bin", f"fabric://cold/t/{i}.bin"
            journal.write(json.dumps({"id": f"m{i}", "state": "done", "move": {"src": src, "dst": dst}}) + "\n")
            index.write(json.dumps({"from": src, "to": dst}) + "\n")


def test_broken_entries_warn_and_block_nothing(user_data: Path, tmp_path: Path) -> None:
    poison(user_data)
    fab = skyfabric.connect()  # the embedded default: it shares that catalog
    with pytest.warns(UnreadableTableWarning) as caught:
        names = [d.name for d in fab.datasets() if d.kind == "iceberg"]
    assert names == []
    text = " ".join(str(w.message) for w in caught)
    assert "other.telemetry" in text and "other.gone" in text and "tables drop" in text
    with pytest.raises(UnreachableLocationError, match="in no store of this configuration"):
        fab.table("other.telemetry")
    # the entry can still be removed without loading it
    fab.drop_table("other.telemetry")
    assert "other.telemetry" not in fab.tables()


def test_placement_plan_and_listings_under_a_project_config(
    user_data: Path, tmp_path: Path
) -> None:
    poison(user_data)
    config = _local_config(
        tmp_path / "proj",
        '\n[[placement.rules]]\nname = "old"\nmatch = "fabric://hot/logs/**"\n'
        'older_than = "1d"\ntarget = "cold"\n',
    )
    fab = skyfabric.connect(config)
    fab.fs.pipe("fabric://hot/logs/a.txt", b"x" * 10)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        plan = fab.placement.plan(now=4102444800)  # 2100-01-01
        listed = fab.tables()
    kinds = sorted({w.category.__name__ for w in seen})
    assert kinds == ["LegacyStateWarning"]  # told where the old state is; nothing of it loaded
    assert [m.src for m in plan.moves] == ["fabric://hot/logs/a.txt"]
    assert listed == []
    status = CliRunner().invoke(app, ["--config", str(config), "placement", "status", "--json"])
    assert status.exit_code == 0, status.output
    assert "900" not in status.stdout  # the other project's moves are not this one's


def test_cli_placement_plan_and_quickstart_finish_on_a_poisoned_data_dir(
    user_data: Path, tmp_path: Path
) -> None:
    """The report's two hangs, as subprocesses with a deadline: each must finish."""
    poison(user_data)
    config = _local_config(
        tmp_path / "proj",
        '\n[[placement.rules]]\nname = "old"\nmatch = "fabric://hot/**"\n'
        'older_than = "1d"\ntarget = "cold"\n',
    )
    # a flights.flights of an earlier quickstart: dropping it (with its files) asks which
    # files are other tables', which loaded every table and hung on other.telemetry
    skyfabric.connect().create_table("flights.flights", ROWS)
    env = {**os.environ, "SKYFABRIC_DATA_DIR": str(user_data)}
    plan = subprocess.run(
        [sys.executable, "-m", "skyfabric", "--config", str(config), "placement", "plan"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert plan.returncode == 0, plan.stderr
    quick = subprocess.run(
        [sys.executable, "-m", "skyfabric", "quickstart"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert quick.returncode == 0, quick.stderr[-3000:]
    assert "warning:" in quick.stderr and "other.telemetry" in quick.stderr
    assert "Traceback" not in quick.stderr
    assert skyfabric.connect().table("flights.flights").count() == 336_776


# -- nothing lost on upgrade ----------------------------------------------------------------


def test_tables_in_the_shared_catalog_stay_reachable(user_data: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    old = skyfabric.connect({
        "stores": {"hot": {"kind": "local", "path": str(lake)}},
        "catalog": {"uri": f"sqlite:///{(user_data / 'catalog.db').as_posix()}",
                    "warehouse": "fabric://hot/warehouse"},
    })
    old.create_table("crm.accounts", ROWS)  # as an earlier version kept it, in the shared one
    config = _write(
        tmp_path / "proj" / "skyfabric.toml",
        f'[stores.hot]\nkind = "local"\npath = "{lake.as_posix()}"\n',
    )
    with pytest.warns(LegacyStateWarning, match=r"crm\.accounts") as caught:
        assert skyfabric.connect(config).tables() == []
    uri = f"sqlite:///{(user_data / 'catalog.db').as_posix()}"
    assert str(caught[0].message).endswith(
        f'set uri = "{uri}" in the [catalog] section of {config}'
    )
    assert len(caught) == 1  # once, though listing looked and nothing was created
    # the embedded default's own tables (its local lake, not a store of this file) are not
    # the file's: a project on other stores is not told about them
    other = _local_config(tmp_path / "other")
    with warnings.catch_warnings():
        warnings.simplefilter("error", LegacyStateWarning)
        assert skyfabric.connect(other).tables() == []
    config.write_text(config.read_text() + f'\n[catalog]\nuri = "{uri}"\n')
    assert skyfabric.connect(config).table("crm.accounts").count() == 3


def test_shared_placement_journal_is_pointed_at(user_data: Path, tmp_path: Path) -> None:
    (user_data / "placement").mkdir(parents=True)
    (user_data / "placement" / "journal.jsonl").write_text('{"id": "m1", "state": "done"}\n')
    config = _local_config(tmp_path / "proj")
    with pytest.warns(LegacyStateWarning, match=r'set state_dir = ".*" in the \[placement\] section'):
        skyfabric.connect(config).placement.status()


# -- found by a new user on a used machine ---------------------------------------------------


def test_gc_over_every_table_skips_a_broken_one(user_data: Path, tmp_path: Path) -> None:
    poison(user_data)
    skyfabric.connect().create_table("flights.flights", ROWS)
    out = CliRunner().invoke(app, ["tables", "gc", "--dry-run", "--json"])
    assert out.exit_code == 0, out.output
    assert list(json.loads(out.stdout)) == ["flights.flights"]
    assert "skipped table 'other.telemetry'" in out.stderr
    assert "its metadata file is gone" in out.stderr  # other.gone: the fix is to drop it
    assert out.stderr.count("fix:") == out.stderr.count("warning:")  # one fix each, whole


def test_a_store_that_does_not_answer_is_skipped_by_listings(
    user_data: Path, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on: refused at once
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    config = _local_config(
        tmp_path / "proj",
        f'\n[stores.onprem]\nkind = "s3"\nbucket = "telemetry-raw"\n'
        f'endpoint = "http://127.0.0.1:{dead}"\naccess_key_env = "SKYFABRIC_TEST_S3_KEY"\n'
        'secret_key_env = "SKYFABRIC_TEST_S3_SECRET"\n',
    )
    fab = skyfabric.connect(config)
    fab.fs.pipe("fabric://hot/sales/part-0.parquet", b"PAR1")
    with pytest.warns(UnreachableStoreWarning, match="skipped store 'onprem'"):
        names = [d.name for d in fab.datasets()]
    assert names == ["fabric://hot/sales"]


def test_relative_paths_are_taken_from_the_file(
    user_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _write(
        tmp_path / "proj" / "skyfabric.toml",
        'state_dir = "state"\n[stores.hot]\nkind = "local"\npath = "data/hot"\n',
    )
    monkeypatch.chdir(tmp_path)  # not the file's folder
    loaded = load_config(config)
    assert loaded.stores["hot"].path == (tmp_path / "proj" / "data" / "hot").resolve()
    assert loaded.state_path == (tmp_path / "proj" / "state").resolve()


@pytest.mark.parametrize("value", ['""', '"  "'])
def test_empty_state_dir_is_refused(tmp_path: Path, value: str) -> None:
    config = _write(tmp_path / "skyfabric.toml", f"state_dir = {value}\n")
    with pytest.raises(ConfigError, match="state_dir is empty; fix: name a directory"):
        load_config(config)


def test_an_unwritable_state_dir_is_named_with_the_fix(user_data: Path, tmp_path: Path) -> None:
    blocker = _write(tmp_path / "proj" / "not-a-dir", "a file where the state would go\n")
    config = _local_config(tmp_path / "proj", top=f'state_dir = "{blocker.name}/state"\n')
    fab = skyfabric.connect(config)
    assert fab.tables() == []  # reading creates nothing
    assert fab.placement.status()["counts"] == {}
    with pytest.raises(ConfigError, match=r"cannot create skyfabric's state directory .*not-a-dir/state.*fix: set state_dir"):
        fab.create_table("a.b", ROWS)


def test_apply_leaves_other_configurations_moves_alone(user_data: Path, tmp_path: Path) -> None:
    placement = user_data / "placement"
    placement.mkdir(parents=True)
    with (placement / "journal.jsonl").open("w") as journal:
        for i in range(30):  # unfinished moves of stores named hot/cold, of another project
            move = {"rule": "r", "action": "move", "src": f"fabric://hot/t/{i}",
                    "dst": f"fabric://cold/t/{i}", "bytes": 1}
            journal.write(json.dumps({"id": f"m{i}", "state": "intent", "move": move}) + "\n")
    out = CliRunner().invoke(app, ["placement", "apply", "--json"])  # the embedded default
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert summary["failed"] == {} and summary["foreign"] == 30
    states = {json.loads(line)["state"] for line in (placement / "journal.jsonl").open()}
    assert states == {"intent"}  # untouched: still in flight for the project that made them


# -- the suite is hermetic ------------------------------------------------------------------


def test_test_processes_never_see_the_real_user_state() -> None:
    from servers import USER_ROOT_ENV

    root = Path(os.environ[USER_ROOT_ENV])
    assert root.name.startswith("skyfabric-test-user-")
    for var in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "SKYFABRIC_DATA_DIR"):
        assert Path(os.environ[var]).is_relative_to(root), var
    assert data_dir().is_relative_to(root)
    assert Path.home().is_relative_to(root)
    assert "SKYFABRIC_CONFIG" not in os.environ
