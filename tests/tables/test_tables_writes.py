"""Write paths that do not depend on the store kind: inputs, coercions, upsert planning."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tables_data import readings, sorted_rows

from skyfabric.tables._upsert import IN_LIST_MAX, match_mask


def test_inputs_pandas_polars_reader_and_coercions(local_lake: Any) -> None:
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    t = local_lake.create_table("w.inputs", readings(0, 4), key=["id"])
    frame = readings(4, 3).to_pandas()  # ns timestamps, nullable id: both coerced
    frame["ts"] = frame["ts"].astype("datetime64[ns, UTC]")
    t.append(frame)
    t.append(pl.from_arrow(readings(7, 3)))  # string_view / large types
    t.append(pl.from_arrow(readings(10, 2)).lazy())
    reader = pa.RecordBatchReader.from_batches(readings(0, 1).schema,
                                               readings(12, 6).to_batches(max_chunksize=2))
    t.append(reader)  # streamed into files, never one Arrow table
    t.append(readings(0, 1).slice(0, 0))  # empty: nothing to write
    assert sorted(t.to_arrow().column("id").to_pylist()) == list(range(18))
    assert pd.api.types.is_datetime64_any_dtype(t.to_pandas()["ts"])


def test_upsert_planning_paths(local_lake: Any) -> None:
    t = local_lake.create_table("w.ups", readings(0, 300), partition_by=["bucket(4, id)"],
                                key=["id"])
    few = readings(10, 3, site="few")  # <= IN_LIST_MAX keys: In() prunes to their buckets
    assert len(few) <= IN_LIST_MAX
    assert t.upsert(few).updated == 3
    many = pa.concat_tables([readings(0, 250, site="many"), readings(1000, 5)])  # range path
    result = t.upsert(many)
    assert (result.updated, result.inserted) == (250, 5)
    rows = {r["id"]: r["site"] for r in t.to_arrow().to_pylist()}
    assert len(rows) == 305 and rows[12] == "many" and rows[260] != "many"

    insert_only = t.upsert(readings(0, 2, site="ignored").append_column(
        "x", pa.array([1, 2])).drop_columns(["x"]), update=False)
    assert (insert_only.updated, insert_only.inserted) == (0, 0)
    assert t.count("site = 'ignored'") == 0


def test_upsert_on_two_key_columns(local_lake: Any) -> None:
    base = pa.table({"site": ["oslo", "oslo", "lima"], "day": [1, 2, 1], "v": [1.0, 2.0, 3.0]})
    t = local_lake.create_table("w.multi", base)
    result = t.upsert(pa.table({"site": ["oslo", "lima"], "day": [2, 2], "v": [20.0, 30.0]}),
                      on=["site", "day"])
    assert (result.updated, result.inserted) == (1, 1)
    assert sorted_rows(t.to_arrow(), "v") == [
        {"site": "oslo", "day": 1, "v": 1.0}, {"site": "lima", "day": 1, "v": 3.0},
        {"site": "oslo", "day": 2, "v": 20.0}, {"site": "lima", "day": 2, "v": 30.0}]


def test_match_mask_semantics() -> None:
    left = pa.table({"a": [1, 2, None, 4], "b": ["x", "y", "z", "w"]})
    right = pa.table({"a": pa.array([4, None, 1], pa.int32()), "b": ["w", "z", "q"]})
    assert match_mask(left, right, ["a"]).to_pylist() == [True, False, False, True]
    assert match_mask(left, right, ["a", "b"]).to_pylist() == [False, False, False, True]
    assert match_mask(left.slice(0, 0), right, ["a"]).to_pylist() == []


def test_register_a_single_file_and_a_glob(local_lake: Any) -> None:
    for i in range(3):
        with local_lake.fs.open(f"fabric://lake/drop/part-{i}.parquet", "wb") as fh:
            pq.write_table(readings(10 * i, 10), fh)
    one = local_lake.register_parquet("raw.one", "fabric://lake/drop/part-0.parquet")
    two = local_lake.register_parquet("raw.two", "fabric://lake/drop/part-[12].parquet")
    assert (one.count(), two.count()) == (10, 20)
    with pytest.raises(FileNotFoundError):
        local_lake.register_parquet("raw.none", "fabric://lake/nothing-here")


def test_timestamps_round_trip_and_as_of_text(local_lake: Any) -> None:
    ts = np.array(["2026-11-01T10:00:00.123456789"], dtype="datetime64[ns]")
    t = local_lake.create_table("w.ts", pa.table({"ts": pa.array(ts)}))
    assert t.to_arrow()["ts"].type == pa.timestamp("us")
    now = datetime.now(UTC).isoformat()
    assert t.count(as_of=now) == 1
