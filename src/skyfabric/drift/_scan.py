"""Stream the batches of a ``pyarrow.dataset.Dataset`` with memory bounded by the reader.

This module imports nothing but the standard library and pyarrow, so that
``benchmarks/bench_drift.py`` can load it on its own (without numba) and time pyarrow doing
exactly the scan a drift check does.

Why not simply ``Dataset.to_batches``: pyarrow's dataset scanner does not wait for a slow
consumer. It keeps decoding ahead, whatever ``batch_readahead``/``fragment_readahead`` say,
so while the consumer is busy (or starved of CPU by other processes) the decoded batches
pile up: measured with pyarrow 26 on 1 GB of local parquet, a consumer that pauses for one
second at its first batch sees the process grow by ~800 MB. For local parquet the scan here
reads one row group at a time (`pyarrow.dataset.ParquetFileFragment.split_by_row_group`,
each row group's columns decoded by pyarrow's threads) from a background thread into a
queue of ``depth`` batches; the thread blocks when the queue is full, so at most one row
group being decoded plus ``depth`` batches exist at any time, however slow the consumer.
Other datasets (object stores, CSV, datasets filtered with ``Dataset.filter``) use the scanner
with a small readahead.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs

__all__ = ["QUEUE_DEPTH", "scan_batches", "scan_options"]

QUEUE_DEPTH = 4
"""Batches decoded ahead of the consumer by the row-group scan: enough to keep pyarrow
busy while a batch is counted (two row groups of 256 Ki rows at 128 Ki-row batches)."""


def scan_options(data: pads.Dataset) -> dict[str, Any]:
    """Keyword arguments for ``Dataset.to_batches`` / ``Fragment.to_batches`` on ``data``.

    pyarrow's defaults (4 files and 16 batches ahead, each parquet file's column chunks
    pre-buffered whole) hold ~1.2 GB for 8 columns of 1 GB of local parquet. Local files are
    read without pre-buffering (the page cache serves small reads well); remote stores keep
    pre-buffering (it coalesces the many small range requests) and read two files ahead to
    hide latency.
    """
    local = isinstance(getattr(data, "filesystem", None), pafs.LocalFileSystem)
    opts: dict[str, Any] = {"fragment_readahead": 1 if local else 2, "batch_readahead": 4}
    if local and isinstance(getattr(data, "format", None), pads.ParquetFileFormat):
        opts["fragment_scan_options"] = pads.ParquetFragmentScanOptions(pre_buffer=False)
    return opts


def _row_group_scan(data: pads.Dataset) -> bool:
    """True for unfiltered local parquet, where reading row group by row group costs nothing.

    pyarrow does not list the fragments of a filtered dataset (``Dataset.filter``); those
    keep its scanner.
    """
    return (
        isinstance(data, pads.FileSystemDataset)
        and isinstance(data.format, pads.ParquetFileFormat)
        and isinstance(data.filesystem, pafs.LocalFileSystem)
        and (getattr(data, "_scan_options", None) or {}).get("filter") is None
    )


def _row_groups(
    data: pads.FileSystemDataset, columns: list[str], batch_size: int
) -> Iterator[pa.RecordBatch]:
    """Batches of every row group of every file, in order, one row group scanned at a time."""
    opts = {k: v for k, v in scan_options(data).items() if k != "fragment_readahead"}
    for fragment in data.get_fragments():
        for piece in fragment.split_by_row_group():
            # schema=data.schema: a column missing from this file reads as nulls, and
            # partition values come from the fragment's path, exactly as the dataset scan
            yield from piece.to_batches(
                schema=data.schema,
                columns=columns,
                batch_size=batch_size,
                use_threads=True,
                **opts,
            )


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_DONE = object()


def _prefetch(batches: Iterator[pa.RecordBatch], depth: int) -> Iterator[pa.RecordBatch]:
    """Yield ``batches``, produced by a background thread at most ``depth`` batches ahead.

    Errors raised while reading are re-raised in the consumer; a consumer that stops early
    (``close()``, an exception) stops the thread after the batch it is reading.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(_Failed(exc))
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="skyfabric-scan", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()


def scan_batches(
    data: pads.Dataset, columns: list[str], batch_size: int, depth: int = QUEUE_DEPTH
) -> Iterator[pa.RecordBatch]:
    """Batches of ``columns`` (``batch_size`` rows at most) of ``data``, memory bounded.

    Local parquet: row group by row group, at most ``depth`` batches ahead (module
    docstring); otherwise ``Dataset.to_batches`` with `scan_options`.
    """
    if _row_group_scan(data):
        yield from _prefetch(_row_groups(data, columns, batch_size), depth)  # type: ignore[arg-type]
    else:
        yield from data.to_batches(
            columns=columns, batch_size=batch_size, use_threads=True, **scan_options(data)
        )
