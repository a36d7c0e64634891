"""fabric:// URLs work in pandas, pyarrow, duckdb, dask and (through resolve) polars."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pytest

import skyfabric
from skyfabric.storage.filesystem import FabricFileSystem

pytestmark = pytest.mark.xdist_group("servers")

FRAME = pd.DataFrame(
    {"id": [1, 2, 3, 4], "city": ["Oslo", "Lima", "Pune", "Kyiv"], "x": [0.5, None, 2.0, 3.5]}
)


@pytest.fixture
def written(fresh_store_config: dict) -> tuple[dict, skyfabric.Fabric]:
    config = {"stores": {"t": fresh_store_config}}
    fab = skyfabric.connect(config)
    FRAME.to_parquet("fabric://t/tbl/part-0.parquet", storage_options={"config": config})
    return config, fab


def test_pandas_and_pyarrow(written: tuple[dict, skyfabric.Fabric]) -> None:
    config, fab = written
    back = pd.read_parquet("fabric://t/tbl/part-0.parquet", storage_options={"config": config})
    pd.testing.assert_frame_equal(back, FRAME)
    table = fab.dataset("fabric://t/tbl").to_table()
    assert table.num_rows == 4
    fs = FabricFileSystem(config=config)
    ds = pads.dataset("t/tbl", filesystem=fs, format="parquet")
    assert ds.to_table().column("id").to_pylist() == [1, 2, 3, 4]


def test_duckdb(written: tuple[dict, skyfabric.Fabric]) -> None:
    duckdb = pytest.importorskip("duckdb")
    _, fab = written
    con = duckdb.connect()
    con.register_filesystem(fab.fs)
    rows = con.sql("select sum(id) from read_parquet('fabric://t/tbl/*.parquet')").fetchall()
    assert rows == [(10,)]


def test_dask(written: tuple[dict, skyfabric.Fabric]) -> None:
    dd = pytest.importorskip("dask.dataframe")
    config, _ = written
    df = dd.read_parquet("fabric://t/tbl/", storage_options={"config": config})
    assert int(df["id"].sum().compute()) == 10


def test_polars_through_resolve(written: tuple[dict, skyfabric.Fabric]) -> None:
    pl = pytest.importorskip("polars")
    _, fab = written
    resolved = fab.resolve("fabric://t/tbl/part-0.parquet")
    if resolved.kind == "memory":
        pytest.skip("polars has no in-process memory filesystem")
    frame = pl.read_parquet(resolved.url, storage_options=resolved.polars_storage_options())
    assert frame["id"].to_list() == [1, 2, 3, 4]


def test_resolve_repr_redacts_secrets(written: tuple[dict, skyfabric.Fabric]) -> None:
    _, fab = written
    resolved = fab.resolve("fabric://t/tbl/part-0.parquet")
    text = repr(resolved)
    for key in ("secret", "connection_string", "account_key"):
        value = resolved.storage_options.get(key)
        if isinstance(value, str) and value:
            assert value not in text


def _read_in_child(fab: skyfabric.Fabric) -> int:
    return pa.Table.from_pandas(pd.read_parquet(fab.open("fabric://t/tbl/part-0.parquet"))).num_rows


def test_fabric_pickles_as_config(written: tuple[dict, skyfabric.Fabric]) -> None:
    _, fab = written
    if fab.store("t").kind == "memory":
        pytest.skip("a memory store is per process")
    fab.fs.ls("fabric://t/tbl")  # build live clients first: they must not be pickled
    blob = pickle.dumps(fab)
    assert len(blob) < 20_000
    with ProcessPoolExecutor(max_workers=2) as pool:
        assert list(pool.map(_read_in_child, [fab, fab])) == [4, 4]


def test_unknown_store_and_empty_bucket(tmp_path: Path) -> None:
    from skyfabric.errors import ConfigError, UnknownStoreError

    fab = skyfabric.connect({"stores": {"a": {"kind": "local", "path": str(tmp_path)}}})
    with pytest.raises(UnknownStoreError, match="configured stores: a"):
        fab.ls("fabric://b/x")
    with pytest.raises(ConfigError, match="bucket is empty"):
        skyfabric.connect({"stores": {"s": {"kind": "s3", "bucket": ""}}})
