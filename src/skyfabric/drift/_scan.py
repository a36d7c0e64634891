"""Stream the batches of a ``pyarrow.dataset.Dataset`` with memory bounded by the reader.

This module imports nothing but the standard library and pyarrow, so that
``benchmarks/bench_drift.py`` can load it on its own (without numba) and time pyarrow doing
exactly the scan a drift check does.

Why not simply ``Dataset.to_batches``: pyarrow's dataset scanner does not wait for a slow
consumer. It keeps decoding ahead, whatever ``batch_readahead``/``fragment_readahead`` say,
so while the consumer is busy (or starved of CPU by other processes) the decoded batches
pile up: measured with pyarrow 26 on 1 GB of local parquet, a consumer that pauses for one
second at its first batch sees the process grow by ~800 MB. For local parquet the scan here
reads row group by row group (`pyarrow.dataset.ParquetFileFragment.split_by_row_group`,
each row group's columns decoded by pyarrow's threads) from `READERS` background threads,
each into a queue of ``depth`` batches; a thread blocks when its queue is full, so at most
`READERS` row groups being decoded plus ``READERS * depth`` batches exist at any time,
however slow the consumer. Batches come out in the dataset's order.
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

__all__ = ["QUEUE_DEPTH", "READERS", "scan_batches", "scan_options"]

QUEUE_DEPTH = 4
"""Batches decoded ahead of the consumer by each reader of the row-group scan: enough to keep
pyarrow busy while a batch is counted (two row groups of 256 Ki rows at 128 Ki-row batches)."""
READERS = 1
"""Row groups read at once, each decoded by pyarrow's threads. Measured with 2 CPUs on 1 GB of
local parquet (8 columns): two readers read in ~0.45 s where one takes ~0.6 s, but a drift
check then peaks at 380-410 MB instead of 330-370 MB, against a 400 MB budget; so one."""


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
    """True for unfiltered local parquet: the data the row-group scan reads.

    Local only: on an object store, a request per row group and no readahead across them
    would cost latency (not measured yet). pyarrow does not list the fragments of a filtered
    dataset (``Dataset.filter``); those keep its scanner too.
    """
    return (
        isinstance(data, pads.FileSystemDataset)
        and isinstance(data.format, pads.ParquetFileFormat)
        and isinstance(data.filesystem, pafs.LocalFileSystem)
        and (getattr(data, "_scan_options", None) or {}).get("filter") is None
    )


def _row_groups(
    data: pads.FileSystemDataset, columns: list[str], batch_size: int, workers: int
) -> tuple[list[Iterator[Any]], int]:
    """(``workers`` streams of batches, number of row groups). Stream ``i`` reads row groups
    ``i, i + workers, ...`` (in dataset order), one at a time, and yields `_PIECE_END` after
    each of them."""
    opts = {k: v for k, v in scan_options(data).items() if k != "fragment_readahead"}
    # every footer is read here, before the first batch: ~5 ms for 20 local files
    pieces = [p for fragment in data.get_fragments() for p in fragment.split_by_row_group()]

    def stream(first: int) -> Iterator[Any]:
        for piece in pieces[first::workers]:
            # schema=data.schema: a column missing from this file reads as nulls, and
            # partition values come from the fragment's path, exactly as the dataset scan
            yield from piece.to_batches(
                schema=data.schema,
                columns=columns,
                batch_size=batch_size,
                use_threads=True,
                **opts,
            )
            yield _PIECE_END

    streams = [stream(i) for i in range(workers)]
    return streams, len(pieces)


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_DONE = object()
_PIECE_END = object()


class _Prefetch:
    """Iterate ``batches`` produced by a background thread at most ``depth`` batches ahead.

    The thread starts at once (not at the first ``next``). Errors raised while reading are
    re-raised in the consumer. `close` (also called at the end, on an error, and when the
    iterator is garbage collected) stops the thread after the batch it is reading.
    """

    def __init__(self, batches: Iterator[Any], depth: int) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        # the thread gets the queue, the event and the source, never self: so that dropping
        # this iterator lets __del__ stop it
        self._thread = threading.Thread(
            target=_produce,
            args=(batches, self._queue, self._stop),
            name="skyfabric-scan",
            daemon=True,
        )
        self._thread.start()

    def __iter__(self) -> _Prefetch:
        return self

    def __next__(self) -> Any:
        if self._stop.is_set():
            raise StopIteration
        item = self._queue.get()
        if item is _DONE:
            self.close()
            raise StopIteration
        if isinstance(item, _Failed):
            self.close()
            raise item.exc
        return item

    def close(self) -> None:
        """Stop the producer and wait for it (at most the batch it is reading)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def __del__(self) -> None:
        self._stop.set()  # no join here: the thread ends by itself within ~50 ms


def _produce(batches: Iterator[Any], q: queue.Queue[Any], stop: threading.Event) -> None:
    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

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


def _prefetch(batches: Iterator[Any], depth: int) -> _Prefetch:
    """``batches``, read by a background thread at most ``depth`` batches ahead."""
    return _Prefetch(batches, depth)


def _ordered(streams: list[Iterator[Any]], pieces: int, depth: int) -> Iterator[pa.RecordBatch]:
    """The batches of row groups ``0 .. pieces - 1`` in order, ``len(streams)`` read at once.

    Each stream is prefetched by its own thread, at most ``depth`` batches ahead; row group
    ``k`` is taken from stream ``k % len(streams)`` up to its `_PIECE_END`. The order is the
    dataset's, whatever the threads' timing, so order-dependent consumers (a quantile
    sketch) give the same result on every run.
    """
    readers = [_prefetch(s, depth) for s in streams]
    try:
        for k in range(pieces):
            for item in readers[k % len(readers)]:
                if item is _PIECE_END:
                    break
                yield item
    finally:
        for r in readers:  # also those never reached, whose threads are already reading
            r.close()


def scan_batches(
    data: pads.Dataset, columns: list[str], batch_size: int, depth: int | None = None
) -> Iterator[pa.RecordBatch]:
    """Batches of ``columns`` (``batch_size`` rows at most) of ``data``, memory bounded.

    Local parquet: row group by row group, at most ``depth`` batches ahead (module
    docstring); otherwise ``Dataset.to_batches`` with `scan_options`.
    """
    if _row_group_scan(data):
        streams, pieces = _row_groups(data, columns, batch_size, READERS)
        yield from _ordered(streams, pieces, depth or QUEUE_DEPTH)
    else:
        yield from data.to_batches(
            columns=columns, batch_size=batch_size, use_threads=True, **scan_options(data)
        )
