"""Capture live inference inputs as time-partitioned parquet on any store.

::

    from skyfabric.capture import Capture

    with Capture("fabric://lake/monitoring/churn-inputs", sample_rate=0.1) as cap:
        cap.log({"tenure": 12, "plan": "pro"})        # a dict: one row
        cap.log(list_of_dicts)                          # rows
        cap.log(pandas_frame)                           # or a pyarrow Table / RecordBatch

Files land under ``<url>/dt=YYYY-MM-DD/hour=HH/`` (``partition="hour"``, UTC, the time
each row was logged) or ``<url>/dt=YYYY-MM-DD/`` (``"day"``), named
``part-<utc time>-<host>-<pid>-<capture id>-<n>.parquet``: every process and worker writes
its own files, so many can capture to one URL at once. Each row gets a ``captured_at``
column (UTC, microseconds; ``time_column=None`` leaves it out), so a monitor can window by
it: ``skyfabric drift monitor <url> --every 1h --time-column captured_at``.

**Buffering and flushing.** ``log`` samples the rows (``sample_rate``: each row is kept
with that probability) and appends them to an in-memory buffer; it never does I/O. The
buffer is handed to one background writer thread when it holds ``max_rows`` rows or an
estimated ``max_bytes`` bytes, when its oldest row is ``max_age`` seconds old, on
`flush` and on `close`. The writer converts it to Arrow and writes one file per partition.

**Memory bound.** At most three buffers exist: one filling, one handed over, one being
written; a ``log`` that would hand over a fourth waits for the writer (back-pressure
instead of growth). Peak memory is thus about ``3 x max_bytes`` plus one file's Arrow copy.

**What a crash loses.** Files appear whole or not at all (a local file is written to a
hidden temporary name and renamed; an object store publishes an object when its upload
completes), so a reader never sees a partial file. A normal interpreter exit closes (flushes)
every open capture. A process that dies (killed, ``os._exit``) loses the rows not
yet written: at most the three buffers above, i.e. at most ``3 x max_rows`` rows or
``max_age`` seconds of rows plus the writer's time. A write that fails is retried
(3 attempts); if it still fails its rows are dropped and the next ``log``, `flush` or
`close` raises `CaptureError` saying how many.

**Column names.** A column named like a partition folder of the capture (``dt``, and
``hour`` with ``partition="hour"``) is refused: readers take a partition key's value from
the folder, so the row's own value would be lost. Capture such rows with
``partition="day"`` or rename the column.

**Schema.** Columns may appear in later rows (earlier files simply lack them; readers
such as `skyfabric.drift` read them as nulls), and a column's type may widen (int to
float, null to any type, a narrower int or float to a wider one). A type that cannot be
widened into the column's type so far (a string in an int column, a bool in a float column)
is refused: a pandas frame or Arrow table by the ``log`` call itself (nothing of that call
is kept); dict rows, whose types are only read when the buffer is converted (checking each
value on the calling thread would cost more than the whole ``log``), when their buffer is
written: the refused rows are left out, the others written, and the next ``log``, `flush`
or `close` raises `CaptureError` naming the column, the types and the number of rows.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import random
import secrets
import socket
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from skyfabric.errors import CaptureError, FabricError

if TYPE_CHECKING:
    from skyfabric.fabric import Fabric

__all__ = ["Capture"]

#: Captures not yet closed, closed (flushed) when the interpreter exits normally.
_OPEN: weakref.WeakSet[Capture] = weakref.WeakSet()
_PERIOD = {"hour": 3600, "day": 86400}
_KEYS = {"hour": ("dt", "hour"), "day": ("dt",)}
_RETRIES = 3


@dataclass
class _Buffer:
    """Rows waiting to be written: dict rows with their times, and Arrow chunks with theirs."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    chunks: list[tuple[pa.Table, float]] = field(default_factory=list)
    count: int = 0
    nbytes: int = 0
    started: float = 0.0


def _kind_error(rows: Any) -> CaptureError:
    return CaptureError(
        f"Capture.log takes a dict (one row), a list of dicts, a pandas DataFrame, or a "
        f"pyarrow Table or RecordBatch, got {type(rows).__name__}; fix: pass one of those"
    )


class Capture:
    """Sample, buffer and write rows as time-partitioned parquet (see the module docstring).

    Args:
        url: ``fabric://<store>/<prefix>`` or a local folder.
        sample_rate: probability in ``(0, 1]`` that a row is kept.
        partition: ``"hour"`` (``dt=.../hour=HH/``) or ``"day"`` (``dt=.../``), UTC.
        fabric: resolves ``fabric://`` URLs (default ``skyfabric.connect()``).
        max_rows, max_bytes, max_age: flush when the buffer reaches this many rows, this
            many estimated bytes, or this age in seconds.
        time_column: name of the logged-at column added to each row (None: none).
        seed: seeds the sampling (reproducible runs and tests).

    Raises:
        CaptureError: ``sample_rate``, ``partition`` or a limit is out of range.
    """

    def __init__(
        self,
        url: str,
        sample_rate: float = 1.0,
        partition: Literal["hour", "day"] = "hour",
        *,
        fabric: Fabric | None = None,
        max_rows: int = 50_000,
        max_bytes: int = 32 * 2**20,
        max_age: float = 60.0,
        time_column: str | None = "captured_at",
        seed: int | None = None,
    ) -> None:
        if not 0 < sample_rate <= 1:
            raise CaptureError(f"sample_rate must be in (0, 1], got {sample_rate!r}")
        if partition not in _PERIOD:
            raise CaptureError(f"partition must be 'hour' or 'day', got {partition!r}")
        if max_rows < 1 or max_bytes < 1 or max_age <= 0:
            raise CaptureError(
                f"max_rows, max_bytes and max_age must be positive, got {max_rows}, "
                f"{max_bytes}, {max_age}"
            )
        if url.startswith("fabric://") and fabric is None:
            from skyfabric.fabric import connect

            fabric = connect()
        self.url = url.rstrip("/")
        self.sample_rate = float(sample_rate)
        self.partition = partition
        self.max_rows, self.max_bytes, self.max_age = max_rows, max_bytes, float(max_age)
        self.time_column = time_column
        self.files: list[str] = []  # URLs written, in order
        self.rows_written = 0
        self._fabric = fabric
        self._random = random.Random(seed)
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._buffer = _Buffer()
        self._schema = pa.schema([])  # columns and types so far (widened)
        self._bytes_per_row = 100.0  # estimate for dict rows, updated at each write
        self._dict_rows_max = self._rows_bound()
        self._id = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self._seq = 0
        self._error: CaptureError | None = None
        self._closed = False
        self._queue: queue.Queue[_Buffer | None] = queue.Queue(maxsize=1)
        self._idle = threading.Condition()
        self._pending = 0  # buffers handed over and not yet written
        self._writer = threading.Thread(target=self._run, name="skyfabric-capture", daemon=True)
        self._writer.start()
        _OPEN.add(self)

    # -- logging --------------------------------------------------------------------------

    def log(self, rows: Any) -> int:
        """Sample and buffer ``rows``; return how many were kept.

        Args:
            rows: a dict (one row), a list of dicts, a pandas DataFrame, or a pyarrow
                Table or RecordBatch.

        Raises:
            CaptureError: the capture is closed; ``rows`` is of another kind; a column's
                type cannot be widened (nothing of this call is kept); or an earlier write
                failed (its rows were dropped).
        """
        if self._error is not None or self._closed:
            self._raise_pending()
        if type(rows) is dict:  # the hot path: one row, no conversion, no I/O
            if self.sample_rate < 1 and self._random.random() >= self.sample_rate:
                return 0
            now = time.time()
            with self._lock:
                buf = self._buffer
                buf.rows.append(rows)
                buf.times.append(now)
                buf.count += 1
                if buf.count == 1:
                    buf.started = now
                full = buf.count >= self._dict_rows_max
            if full:
                self._hand_over()
            return 1
        if isinstance(rows, dict):
            return self.log(dict(rows))
        if isinstance(rows, list):
            if not all(isinstance(r, dict) for r in rows):
                raise _kind_error(rows)
            if self.sample_rate < 1:
                rows = [r for r in rows if self._random.random() < self.sample_rate]
            return self._log_dicts(rows) if rows else 0
        return self._log_table(self._as_table(rows))

    def _log_dicts(self, rows: list[dict[str, Any]]) -> int:
        now = time.time()
        with self._lock:
            buf = self._buffer
            if not buf.count:
                buf.started = now
            buf.rows.extend(rows)
            buf.times.extend([now] * len(rows))
            buf.count += len(rows)
            full = buf.count >= self._dict_rows_max or buf.nbytes >= self.max_bytes
        if full:
            self._hand_over()
        return len(rows)

    def _as_table(self, rows: Any) -> pa.Table:
        if isinstance(rows, pa.Table):
            return rows
        if isinstance(rows, pa.RecordBatch):
            return pa.Table.from_batches([rows])
        if type(rows).__module__.startswith("pandas") and hasattr(rows, "columns"):
            return pa.Table.from_pandas(rows, preserve_index=False)
        raise _kind_error(rows)

    def _log_table(self, table: pa.Table) -> int:
        if self.sample_rate < 1 and table.num_rows:
            table = table.filter(pa.array(self._rng.random(table.num_rows) < self.sample_rate))
        if not table.num_rows:
            return 0
        now = time.time()
        with self._lock:
            self._admit_schema(table.schema, None)
            buf = self._buffer
            if not buf.count:
                buf.started = now
            buf.chunks.append((table, now))
            buf.count += table.num_rows
            buf.nbytes += table.nbytes
            full = (
                buf.count >= self.max_rows
                or buf.nbytes + len(buf.rows) * self._bytes_per_row >= self.max_bytes
            )
        if full:
            self._hand_over()
        return table.num_rows

    def _rows_bound(self) -> int:
        """Dict rows a buffer may hold: ``max_rows``, fewer when the rows seen so far are
        large enough that ``max_bytes`` comes first."""
        return max(1, min(self.max_rows, int(self.max_bytes / self._bytes_per_row)))

    def _admit_schema(self, schema: pa.Schema, row: dict[str, Any] | None) -> None:
        """Widen the known schema by ``schema`` or refuse it (called under the lock)."""
        keys = [k for k in _KEYS[self.partition] if k in schema.names]
        if keys:
            raise CaptureError(
                f"the rows have column(s) {', '.join(map(repr, keys))}, the name of a "
                f"partition folder of this capture ({'/'.join(_KEYS[self.partition])}): "
                "readers would take its value from the folder, not the row; fix: rename "
                "the column, or capture with partition='day' (folders dt=... only)"
            )
        if self.time_column is not None and self.time_column in schema.names:
            raise CaptureError(
                f"the rows have a column {self.time_column!r}, the name of the column Capture "
                "adds with each row's time; fix: rename it, or pass time_column='<other>' "
                "(or None) to Capture"
            )
        try:
            self._schema = pa.unify_schemas([self._schema, schema], promote_options="permissive")
        except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
            had = {f.name: f.type for f in self._schema}
            bad = [f for f in schema if f.name in had and not _widens(had[f.name], f.type)]
            detail = "; ".join(f"{f.name!r} was {had[f.name]}, now {f.type}" for f in bad)
            example = f" (row {row!r})" if row is not None and len(repr(row)) < 200 else ""
            raise CaptureError(
                f"cannot capture to {self.url}: column type changed and cannot be widened: "
                f"{detail or exc}{example}; nothing of this call was kept; fix: send the "
                "column with one type (cast it where the rows are built), or capture the new "
                "type under a new column name or URL"
            ) from exc

    # -- flushing -------------------------------------------------------------------------

    def _take(self) -> _Buffer | None:
        """Swap in an empty buffer; the full one (None when empty) counts as pending."""
        with self._lock:
            buf, self._buffer = self._buffer, _Buffer()
        if not buf.count:
            return None
        with self._idle:
            self._pending += 1
        return buf

    def _hand_over(self) -> None:
        """Give the current buffer to the writer (waits while it is busy: back-pressure)."""
        buf = self._take()
        if buf is not None:
            self._queue.put(buf)

    def _write_pending(self, buf: _Buffer) -> None:
        try:
            self._write(buf)
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def flush(self) -> None:
        """Write every buffered row now and wait until it is written.

        Raises:
            CaptureError: a write failed (its rows were dropped).
        """
        self._hand_over()
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0)
        self._raise_pending()

    def close(self) -> None:
        """Flush, then stop the writer. Idempotent.

        Raises:
            CaptureError: a write failed (its rows were dropped).
        """
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._queue.put(None)
            self._writer.join()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Capture({self.url!r}, sample_rate={self.sample_rate}, partition={self.partition!r})"

    def _raise_pending(self) -> None:
        if self._closed:
            raise CaptureError(f"the capture to {self.url} is closed; fix: open a new Capture")
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        """The writer thread: write handed-over buffers; flush a buffer that got old."""
        while True:
            try:
                item = self._queue.get(timeout=min(1.0, self.max_age / 4))
            except queue.Empty:
                with self._lock:
                    old = self._buffer.count and time.time() - self._buffer.started >= self.max_age
                item = self._take() if old else None
                if item is not None:
                    self._write_pending(item)
                continue
            if item is None:
                return
            self._write_pending(item)

    def _write(self, buf: _Buffer) -> None:
        try:
            with self._lock:
                schema = self._schema
            for key, table in self._tables(buf, schema).items():
                self._write_file(key, table)
        except Exception as exc:  # kept for the caller's thread: this one has no caller
            self._error = CaptureError(
                f"{buf.count} captured row(s) could not be written to {self.url} and were "
                f"dropped: {type(exc).__name__}: {exc}; fix: check the store (reachable, "
                "credentials, space); later rows are still captured"
            )

    def _tables(self, buf: _Buffer, schema: pa.Schema) -> dict[int, pa.Table]:
        """Partition period number -> the buffer's rows of that period, in ``schema``."""
        period = _PERIOD[self.partition]
        parts: dict[int, list[pa.Table]] = {}
        if buf.rows:
            times = np.asarray(buf.times)
            table, keep = self._rows_table(buf.rows)
            if keep is not None:
                times = times[keep]
            self._bytes_per_row = max(16.0, table.nbytes / max(table.num_rows, 1))
            self._dict_rows_max = self._rows_bound()
            with self._lock:
                schema = self._schema
            table = _conform(table, schema)
            keys = (times // period).astype(np.int64)
            if keys[0] == keys[-1] and (keys == keys[0]).all():  # the usual case: one period
                parts.setdefault(int(keys[0]), []).append(self._stamped(table, times))
                keys = keys[:0]
            for key in np.unique(keys):
                mask = keys == key
                piece = table.filter(pa.array(mask))
                parts.setdefault(int(key), []).append(self._stamped(piece, times[mask]))
        for chunk, when in buf.chunks:
            stamped = self._stamped(_conform(chunk, schema), np.full(chunk.num_rows, when))
            parts.setdefault(int(when // period), []).append(stamped)
        return {k: pa.concat_tables(v) for k, v in parts.items()}

    def _rows_table(self, rows: list[dict[str, Any]]) -> tuple[pa.Table, np.ndarray | None]:
        """Dict rows as a table typed by the known schema, widened where the rows need it;
        rows whose value cannot be widened into its column are left out (returned mask),
        and reported by the next call (`CaptureError`)."""
        first = list(rows[0])  # every key: the first row's in order, then any others
        names = first + sorted(set().union(*rows).difference(first))
        keep = np.ones(len(rows), dtype=bool)
        arrays: dict[str, pa.Array] = {}
        refused: list[str] = []
        for name in names:
            values = [r.get(name) for r in rows]
            with self._lock:
                known = self._schema.field(name).type if name in self._schema.names else None
            array, bad = _column(values, known)
            if bad is not None:
                keep &= ~bad
                example = next(v for v, b in zip(values, bad, strict=True) if b)
                refused.append(
                    f"{int(bad.sum())} row(s) with column {name!r} = {type(example).__name__} "
                    f"values (e.g. {example!r:.60}) where the column is {array.type}"
                )
            arrays[name] = array
            with self._lock:
                self._admit_schema(pa.schema([(name, array.type)]), None)
        table = pa.table(arrays)
        if refused:
            table = table.filter(pa.array(keep))
            self._error = CaptureError(
                f"cannot capture to {self.url}: a column's type changed and cannot be widened: "
                f"{'; '.join(refused)}; those rows were refused (not written), the others were "
                "written; fix: send each column with one type (cast it where the rows are "
                "built), or capture the new type under a new column name"
            )
            return table, keep
        return table, None

    def _stamped(self, table: pa.Table, times: np.ndarray) -> pa.Table:
        if self.time_column is None:
            return table
        micros = (times * 1e6).astype("int64")
        column = pa.array(micros, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
        return table.append_column(self.time_column, column)

    def _write_file(self, key: int, table: pa.Table) -> None:
        from skyfabric.drift.file_io import write_bytes

        start = datetime.fromtimestamp(key * _PERIOD[self.partition], UTC)
        folder = f"dt={start:%Y-%m-%d}" + (f"/hour={start:%H}" if self.partition == "hour" else "")
        self._seq += 1
        name = f"part-{datetime.now(UTC):%Y%m%dT%H%M%S}-{self._id}-{self._seq:06d}.parquet"
        url = f"{self.url}/{folder}/{name}"
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)  # snappy, pyarrow's default: the cheapest to write
        data = sink.getvalue().to_pybytes()
        for attempt in range(_RETRIES):
            try:
                write_bytes(url, data, fabric=self._fabric, example="part-0.parquet")
                break
            except (FabricError, OSError):
                if attempt + 1 == _RETRIES:
                    raise
                time.sleep(0.2 * 2**attempt)
        self.files.append(url)
        self.rows_written += table.num_rows


def _column(values: list[Any], known: pa.DataType | None) -> tuple[pa.Array, np.ndarray | None]:
    """(Arrow array of ``values`` in ``known`` widened as needed, mask of the values that
    cannot go in it, or None when all fit).

    The column's type is ``known`` widened by the type of each kind of Python value in
    turn, first seen first; a kind whose type cannot be widened into it is refused."""
    if known is not None and _safe_kinds(known) >= set(map(type, values)):
        try:  # the steady state: the column's type is known, no inference
            return pa.array(values, type=known), None
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass  # e.g. an int beyond int64: the general path says which rows
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types within this buffer
        array = None
    if array is not None and (known is None or _widens(known, array.type)):
        if known is not None:
            array = array.cast(_unified(known, array.type))
        return array, None
    target = None if known is None or pa.types.is_null(known) else known
    examples: dict[type, Any] = {}
    for v in values:
        if v is not None and type(v) not in examples:
            examples[type(v)] = v
    refused: set[type] = set()
    for kind, example in examples.items():
        try:
            t = pa.array([example]).type
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            refused.add(kind)
            continue
        if target is None:
            target = t
        elif _widens(target, t):
            target = _unified(target, t)
        else:
            refused.add(kind)
    bad = np.fromiter((type(v) in refused for v in values), dtype=bool, count=len(values))
    good = [None if b else v for v, b in zip(values, bad, strict=True)]
    return pa.array(good, type=target), bad


def _safe_kinds(known: pa.DataType) -> set[type]:
    """Python types whose values go into a ``known`` column exactly (no truncation, no
    bool-to-number), so it can be converted without inference; empty when unsure."""
    if pa.types.is_boolean(known):
        kinds: set[type] = {bool}
    elif pa.types.is_integer(known):
        kinds = {int}
    elif pa.types.is_floating(known):
        kinds = {float, int}
    elif pa.types.is_string(known) or pa.types.is_large_string(known):
        kinds = {str}
    else:
        return set()
    return kinds | {type(None)}


def _unified(old: pa.DataType, new: pa.DataType) -> pa.DataType:
    one = pa.unify_schemas([pa.schema([("c", old)]), pa.schema([("c", new)])],
                           promote_options="permissive")
    return one.field("c").type


@atexit.register
def _close_open_captures() -> None:
    """A normal exit flushes what a forgotten `Capture.close` would have."""
    for cap in list(_OPEN):
        with contextlib.suppress(Exception):
            cap.close()


def _widens(old: pa.DataType, new: pa.DataType) -> bool:
    try:
        pa.unify_schemas([pa.schema([("c", old)]), pa.schema([("c", new)])],
                         promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return False
    return True


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns and types (absent columns as nulls)."""
    arrays = [
        table.column(f.name).cast(f.type) if f.name in table.column_names
        else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)
