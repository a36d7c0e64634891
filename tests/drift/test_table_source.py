"""Drift over Iceberg tables: ``table:<namespace.name>[@snapshot_id]`` sources.

A small table on a local store with its own SQLite catalog (everything under the test's tmp
dir): drift over the table must count exactly what drift over the same rows as a
``pyarrow.Table`` counts, at the current snapshot and at an earlier one (time travel).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

import skyfabric
from skyfabric.cli import app
from skyfabric.cli.drift_cmds import EXIT_ERROR, EXIT_OK, EXIT_USAGE
from skyfabric.drift import check, fit_baseline
from skyfabric.drift.check import save_baseline
from skyfabric.drift.sources import TableSource, open_source
from skyfabric.errors import DriftError
from skyfabric.tables.errors import SnapshotNotFoundError, TableNotFoundError

COLS = ["x", "n", "c"]


def rows(seed: int, size: int, shift: float = 0.0) -> pa.Table:
    """``size`` rows: x float64 (with nulls), n int32, c string (categorical), part string."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, size=size)
    mask = rng.random(size) < 0.05
    cats = np.array(["AA", "B6", "DL", "UA", "WN"])
    return pa.table(
        {
            "x": pa.array(x, mask=mask),
            "n": pa.array(rng.integers(0, 50, size), pa.int32()),
            "c": pa.array(cats[rng.integers(0, 5, size)]),
            "part": pa.array(np.where(rng.random(size) < 0.5, "east", "west")),
        }
    )


@pytest.fixture
def config(tmp_path: Path) -> dict[str, Any]:
    """A local store ``lake`` and a SQLite catalog, both under the test's tmp dir."""
    return {
        "stores": {"lake": {"kind": "local", "path": str(tmp_path / "lake")}},
        "catalog": {
            "kind": "sql",
            "uri": f"sqlite:///{tmp_path / 'catalog.db'}",
            "warehouse": "fabric://lake/warehouse",
        },
    }


@pytest.fixture
def fab(config: dict[str, Any]) -> skyfabric.Fabric:
    return skyfabric.connect(config)


@pytest.fixture
def table(fab: skyfabric.Fabric) -> tuple[Any, pa.Table, pa.Table, int]:
    """``ns.events`` partitioned by ``part``: two appends; returns (table, first, second, id)."""
    first, second = rows(1, 3_000), rows(2, 2_000, shift=0.8)
    t = fab.create_table("ns.events", first.schema, partition_by=["part"])
    snap = t.append(first)
    t.append(second)
    assert snap is not None
    return t, first, second, snap.snapshot_id


def same_counts(a: Any, b: Any) -> None:
    assert a.rows == b.rows
    assert [c.column for c in a.columns] == [c.column for c in b.columns]
    for ca, cb in zip(a.columns, b.columns, strict=True):
        assert np.array_equal(ca.current.counts, cb.current.counts), ca.column
        assert ca.current.missing == cb.current.missing, ca.column
        assert ca.psi == cb.psi, ca.column


def test_current_snapshot_equals_arrow(fab, table) -> None:
    t, first, second, _ = table
    base = fit_baseline(first, COLS, bins=8)
    got = check(base, "table:ns.events", fabric=fab, batch_size=700)
    want = check(base, pa.concat_tables([first, second]))
    assert got.rows == 5_000
    same_counts(got, want)
    assert got.source == f"table:ns.events@{t.current_snapshot().snapshot_id}"


def test_earlier_snapshot_sees_only_first_rows(fab, table) -> None:
    _, first, _, first_id = table
    base = fit_baseline(first, COLS, bins=8)
    got = check(base, f"table:ns.events@{first_id}", fabric=fab)
    same_counts(got, check(base, first))
    assert got.rows == 3_000
    assert all(c.psi is not None and c.psi < 0.01 for c in got.columns)


def test_baseline_from_table_equals_arrow(fab, table) -> None:
    _, first, _, first_id = table
    from_table = fit_baseline(f"table:ns.events@{first_id}", COLS, bins=8, fabric=fab)
    from_arrow = fit_baseline(first, COLS, bins=8)
    assert from_table.rows == from_arrow.rows == 3_000
    for col in COLS:
        a, b = from_table.columns[col].histogram, from_arrow.columns[col].histogram
        assert np.array_equal(a.counts, b.counts), col
        assert a.edges == b.edges if a.edges is None else np.array_equal(a.edges, b.edges)


def test_snapshot_is_pinned_when_opened(fab, table) -> None:
    t = table[0]
    src = open_source("table:ns.events", fabric=fab)
    assert isinstance(src, TableSource) and src.count_rows() == 5_000
    t.append(rows(3, 500))
    assert sum(b.num_rows for b in src.batches(["x"])) == 5_000
    assert sum(b.num_rows for b in src.batches([])) == 5_000
    assert open_source("table:ns.events", fabric=fab).count_rows() == 5_500


def test_unknown_table_and_snapshot(fab, table) -> None:
    base = fit_baseline(table[1], COLS, bins=8)
    with pytest.raises(TableNotFoundError, match=r"ns\.events"):
        check(base, "table:ns.event", fabric=fab)
    with pytest.raises(SnapshotNotFoundError, match="no snapshot 12345"):
        check(base, "table:ns.events@12345", fabric=fab)
    with pytest.raises(DriftError, match="not a snapshot id"):
        check(base, "table:ns.events@latest", fabric=fab)
    with pytest.raises(DriftError, match="names no table"):
        check(base, "table:", fabric=fab)


def test_empty_table(fab) -> None:
    fab.create_table("ns.empty", rows(1, 10).schema)
    base = fit_baseline(rows(1, 1_000), COLS, bins=8)
    got = check(base, "table:ns.empty", fabric=fab)
    assert got.rows == 0 and got.source == "table:ns.empty"


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        processes=True, n_workers=1, threads_per_worker=2, dashboard_address=":0"
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def test_dask_equals_local(fab, table, client) -> None:
    _, first, _, first_id = table
    base = fit_baseline(first, COLS, bins=8)
    for source in ("table:ns.events", f"table:ns.events@{first_id}"):
        local = check(base, source, fabric=fab)
        dask = check(base, source, fabric=fab, engine="dask", client=client)
        same_counts(dask, local)


def test_dask_refuses_evolved_schema(fab, table, client) -> None:
    t, first, _, _ = table
    t.append(rows(4, 100).append_column("extra", pa.array(np.zeros(100))), evolve=True)
    base = fit_baseline(first, COLS, bins=8)
    with pytest.raises(DriftError, match="engine='local'"):
        check(base, "table:ns.events", fabric=fab, engine="dask", client=client)
    assert check(base, "table:ns.events", fabric=fab).rows == 5_100


def test_cli_check_table(fab, table, config, tmp_path: Path) -> None:
    _, first, _, first_id = table
    cfg = tmp_path / "skyfabric.toml"
    cfg.write_text(
        f'[stores.lake]\nkind = "local"\npath = "{config["stores"]["lake"]["path"]}"\n'
        f'[catalog]\nkind = "sql"\nuri = "{config["catalog"]["uri"]}"\n'
        'warehouse = "fabric://lake/warehouse"\n'
    )
    save_baseline(fit_baseline(first, COLS, bins=8), "fabric://lake/baselines/b.json", fab)

    def run(*args: str) -> Any:
        return CliRunner().invoke(
            app,
            [
                "--config",
                str(cfg),
                "drift",
                "check",
                "--baseline",
                "fabric://lake/baselines/b.json",
                *args,
            ],
        )

    res = run(f"table:ns.events@{first_id}", "--json")
    assert res.exit_code == EXIT_OK, res.output
    out = json.loads(res.stdout)
    assert out["rows"] == 3_000 and out["source"] == f"table:ns.events@{first_id}"
    now = run("table:ns.events", "--json", "--fail-on", "never")
    assert now.exit_code == EXIT_OK, now.output
    assert json.loads(now.stdout)["rows"] == 5_000
    unknown = run("table:ns.event")
    assert unknown.exit_code == EXIT_ERROR and "ns.events" in unknown.output
    bad_snap = run("table:ns.events@1")
    assert bad_snap.exit_code in (EXIT_ERROR, EXIT_USAGE) and "no snapshot 1" in bad_snap.output


def test_table_source_import_paths() -> None:
    """TableSource has its own module; the old import path keeps working."""
    from skyfabric.drift import sources, table_source

    assert sources.TableSource is table_source.TableSource is TableSource
    with pytest.raises(AttributeError):
        sources.NoSuchThing  # noqa: B018
