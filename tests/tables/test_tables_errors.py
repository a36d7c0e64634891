"""Errors say what, with which input, and the fix; conflicts are retried; nothing half-written."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from tables_data import readings, sorted_rows

import skyfabric.tables._upsert as upsert_module
from skyfabric.errors import FabricError
from skyfabric.tables import (
    CommitConflictError,
    DuplicateKeysError,
    SchemaMismatchError,
    TableExistsError,
    TableNotFoundError,
)


def _data_files(lake: Any, t: Any) -> set[str]:
    return set(lake.fs.find(f"{t.location}/data"))


def test_missing_table_names_near_matches(local_lake: Any) -> None:
    local_lake.create_table("sensors.telemetry", readings(0, 3))
    with pytest.raises(TableNotFoundError, match=r"Did you mean sensors\.telemetry\?") as err:
        local_lake.table("sensors.telemtry")
    assert isinstance(err.value, LookupError) and isinstance(err.value, FabricError)
    with pytest.raises(TableNotFoundError, match=r"no table 'default\.telemetry'.*sensors\.telemetry"):
        local_lake.table("telemetry")
    with pytest.raises(TableExistsError, match="already exists"):
        local_lake.create_table("sensors.telemetry", readings(0, 3))
    assert local_lake.create_table("sensors.telemetry", readings(0, 3), exist_ok=True).count() == 3


def test_schema_mismatch_names_each_column_and_the_fix(local_lake: Any) -> None:
    schema = pa.schema([pa.field("id", pa.int64(), nullable=False), ("temp", pa.float32()),
                        ("name", pa.string())])
    t = local_lake.create_table("s.strict", schema)
    cases = [
        (pa.table({"id": [1], "extra": [2.0]}), "in the data, not in the table: extra (double)"),
        (pa.table({"temp": pa.array([1.0], pa.float32())}),
         "required by the table, missing from the data: id"),
        (pa.table({"id": [1], "temp": [1.5]}), "temp: table has float, data has double"),
        (pa.table({"id": pa.array([None, 1], pa.int64())}),
         "id: table has required long, data has optional long, with nulls"),
    ]
    for data, says in cases:
        with pytest.raises(SchemaMismatchError) as err:
            t.append(data)
        assert says in str(err.value) and "evolve=True" in str(err.value)
    with pytest.raises(SchemaMismatchError, match="name") as err:
        t.append(pa.table({"id": [1], "name": [7]}), evolve=True)  # string -> long: impossible
    assert t.current_snapshot() is None and _data_files(local_lake, t) == set()

    t.append(pa.table({"id": [1], "temp": [1.5], "battery": [3.3]}), evolve=True)
    assert str(t.schema.find_field("temp").field_type) == "double"
    assert t.to_arrow().column_names == ["id", "temp", "name", "battery"]
    t.append(pa.table({"id": [2]}))  # missing optional columns are fine; no nulls -> required ok
    assert t.count() == 2


def test_upsert_errors(local_lake: Any) -> None:
    t = local_lake.create_table("s.keys", readings(0, 5), key=["id"])
    with pytest.raises(DuplicateKeysError, match="duplicate key"):
        t.upsert(pa.concat_tables([readings(1, 2), readings(1, 1)]))
    plain = local_lake.create_table("s.nokey", readings(0, 5))
    with pytest.raises(ValueError, match="needs key columns"):
        plain.upsert(readings(1, 2))
    with pytest.raises(SchemaMismatchError, match="extra"):
        t.upsert(readings(1, 1).append_column("extra", pa.array([1])))
    assert t.count() == 5 and len(t.snapshots()) == 1


def test_stale_handles_both_land(local_lake: Any) -> None:
    local_lake.create_table("s.shared", readings(0, 1))
    a, b = local_lake.table("s.shared"), local_lake.table("s.shared")
    a.append(readings(1, 1))
    b.append(readings(2, 1))  # b's metadata was stale: refreshed before writing
    assert sorted(a.to_arrow().column("id").to_pylist()) == [0, 1, 2]


def test_upsert_replans_after_a_conflicting_commit(local_lake: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    t = local_lake.create_table("s.race", readings(0, 10), key=["id"])
    other = local_lake.table("s.race")
    real_probe = upsert_module._probe
    calls = []

    def probe_then_race(*args: Any, **kwargs: Any) -> Any:
        found = real_probe(*args, **kwargs)
        if not calls:  # another writer commits between our plan and our commit
            other.append(readings(100, 2))
        calls.append(1)
        return found

    monkeypatch.setattr(upsert_module, "_probe", probe_then_race)
    result = t.upsert(readings(5, 2, site="new"))
    assert len(calls) == 2 and (result.updated, result.inserted) == (2, 0)
    rows = {r["id"]: r for r in t.to_arrow().to_pylist()}
    assert sorted(rows) == [*range(10), 100, 101] and rows[5]["site"] == rows[6]["site"] == "new"
    assert t.gc(older_than=0, dry_run=True).files == []  # the lost attempt left nothing


def test_commit_conflict_error_when_writers_keep_winning(local_lake: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from pyiceberg.exceptions import CommitFailedException

    t = local_lake.create_table("s.busy", readings(0, 3))
    before, data_before = sorted_rows(t.to_arrow()), _data_files(local_lake, t)
    catalog = type(local_lake.catalog)

    def always_conflict(*args: Any, **kwargs: Any) -> Any:
        raise CommitFailedException("Table has been updated by another process")

    monkeypatch.setattr(catalog, "commit_table", always_conflict)
    monkeypatch.setattr(type(t), "max_attempts", 2)
    monkeypatch.setattr("pyiceberg.table.TableProperties.COMMIT_NUM_RETRIES_DEFAULT", 0)
    with pytest.raises(CommitConflictError, match="nothing was committed") as err:
        t.append(readings(3, 3))
    assert "2 time(s)" in str(err.value)
    monkeypatch.undo()
    assert sorted_rows(t.to_arrow()) == before
    assert _data_files(local_lake, t) == data_before  # the written files were removed


def test_null_in_a_required_column_mid_stream_leaves_nothing(local_lake: Any) -> None:
    t = local_lake.create_table("s.stream", readings(0, 2), key=["id"])
    files = _data_files(local_lake, t)
    bad = pa.table({"id": pa.array([None], pa.int64()), "site": ["x"], "ts": readings(0, 1)["ts"],
                    "temp": [1.0]}).cast(readings(0, 1).schema)
    reader = pa.RecordBatchReader.from_batches(
        bad.schema, [*readings(2, 4).to_batches(max_chunksize=2), *bad.to_batches()])
    with pytest.raises(SchemaMismatchError, match="'id' is required"):
        t.append(reader)
    assert t.count() == 2 and _data_files(local_lake, t) == files
