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
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa

from skyfabric.drift.capture_files import KEYS, PERIOD, by_period, file_url, stamped, write_parquet
from skyfabric.drift.capture_rows import conform, rows_table, widens
from skyfabric.errors import CaptureError

if TYPE_CHECKING:
    from skyfabric.fabric import Fabric

__all__ = ["Capture"]

#: Captures not yet closed, closed (flushed) when the interpreter exits normally.
_OPEN: weakref.WeakSet[Capture] = weakref.WeakSet()


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
        if partition not in PERIOD:
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
        keys = [k for k in KEYS[self.partition] if k in schema.names]
        if keys:
            raise CaptureError(
                f"the rows have column(s) {', '.join(map(repr, keys))}, the name of a "
                f"partition folder of this capture ({'/'.join(KEYS[self.partition])}): "
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
            bad = [f for f in schema if f.name in had and not widens(had[f.name], f.type)]
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
        period = PERIOD[self.partition]
        parts: dict[int, list[pa.Table]] = {}
        if buf.rows:
            times = np.asarray(buf.times)
            table, keep = self._rows_table(buf.rows)
            if keep is not None:
                times = times[keep]
        if buf.rows and table.num_rows:  # every row refused: nothing of them to write
            self._bytes_per_row = max(16.0, table.nbytes / max(table.num_rows, 1))
            self._dict_rows_max = self._rows_bound()
            with self._lock:
                schema = self._schema
            for key, (piece, when) in by_period(conform(table, schema), times, period).items():
                parts.setdefault(key, []).append(stamped(piece, when, self.time_column))
        for chunk, at in buf.chunks:
            times = np.full(chunk.num_rows, at)
            piece = stamped(conform(chunk, schema), times, self.time_column)
            parts.setdefault(int(at // period), []).append(piece)
        return {k: pa.concat_tables(v) for k, v in parts.items()}

    def _rows_table(self, rows: list[dict[str, Any]]) -> tuple[pa.Table, np.ndarray | None]:
        """Dict rows as a table (`rows_table`); the known schema widens with them, and rows
        that cannot be widened into their column are left out (returned mask) and reported
        by the next call (`CaptureError`)."""
        with self._lock:
            known = self._schema
        table, keep, refused = rows_table(rows, known)
        with self._lock:
            self._admit_schema(table.schema, None)
        if refused:
            self._error = CaptureError(
                f"cannot capture to {self.url}: a column's type changed and cannot be widened: "
                f"{'; '.join(refused)}; those rows were refused (not written), the others were "
                "written; fix: send each column with one type (cast it where the rows are "
                "built), or capture the new type under a new column name"
            )
            return table, keep
        return table, None

    def _write_file(self, key: int, table: pa.Table) -> None:
        self._seq += 1
        url = file_url(self.url, key, self.partition, self._id, self._seq)
        write_parquet(url, table, self._fabric)
        self.files.append(url)
        self.rows_written += table.num_rows


@atexit.register
def _close_open_captures() -> None:
    """A normal exit flushes what a forgotten `Capture.close` would have."""
    for cap in list(_OPEN):
        with contextlib.suppress(Exception):
            cap.close()
