"""Stream the batches of a ``pyarrow.dataset.Dataset`` with memory bounded by the reader.

This module imports nothing but the standard library and pyarrow, so that
``benchmarks/bench_drift.py`` can load it on its own (without numba) and time pyarrow doing
exactly the scan a drift check does.

Why not simply ``Dataset.to_batches``: pyarrow's dataset scanner does not wait for a slow
consumer. It keeps decoding ahead, whatever ``batch_readahead``/``fragment_readahead`` say,
so while the consumer is busy (or starved of CPU by other processes) the decoded batches
pile up: measured with pyarrow 26 on 1 GB of local parquet, a consumer that pauses for one
second at its first batch sees the process grow by ~800 MB. For local parquet the scan here
reads row group by row group (`_row_group_pieces`: one row group, or consecutive small ones
together, each piece's columns decoded by pyarrow's threads) from `READERS` background threads,
each into a queue of ``depth`` batches; a thread blocks when its queue is full, so at most
`READERS` row groups being decoded plus ``READERS * depth`` batches exist at any time,
however slow the consumer. Batches come out in the dataset's order.

Parquet on any other filesystem (object stores through ``fabric://``, i.e.
``PyFileSystem(FSSpecHandler(s3fs/gcsfs/adlfs))``, or pyarrow's own S3/GCS filesystems) is read
the same way by `REMOTE_READERS` threads, with pyarrow's pre-buffering kept (a row group's
column chunks in one or a few coalesced range requests), each file's footer read only when its
first row group is due, and fsspec files opened without their own read-ahead (`_ExactReads`).
Measured with 2 CPUs on 430 MB of parquet (4 files, 8 columns, 256 Ki-row groups,
``benchmarks/bench_remote_scan.py``), peak RSS of a fresh process / wall time:

=================================  ===================  ==================  ==============
                                   consumer pauses 1 s  fast consumer       drift check
=================================  ===================  ==================  ==============
fake-gcs-server, scanner (before)  1,170 MB / 1.11 s    740 MB / 0.72 s     800 MB / 0.90 s
fake-gcs-server, row groups        410 MB / 1.59 s      390 MB / 0.61 s     480 MB / 0.73 s
moto S3, scanner (before)          1,090 MB / 1.71 s    890 MB / 1.53 s     870 MB / 1.86 s
moto S3, row groups                340 MB / 3.32 s      340 MB / 2.49 s     440 MB / 2.70 s
=================================  ===================  ==================  ==============

(the process holds ~240 MB before the scan, ~345 MB with numba for a check.) moto answers
every range request by copying the whole object, so its time grows with the number of
requests times the object's size: the row-group scan makes about twice the requests of the
scanner (one per row group instead of one per ~32 MB of a file) and moto spent 2.6 s of CPU
serving it instead of 1.2 s, on the same 2 CPUs; with 27 MB objects the gap is 8%.

Other datasets (CSV, datasets filtered with ``Dataset.filter``) use the scanner with a small
readahead: their memory is not bounded with a slow consumer.
"""

from __future__ import annotations

import functools
import itertools
import os
import queue
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs

__all__ = [
    "LOCAL_MMAP",
    "QUEUE_DEPTH",
    "READERS",
    "REMOTE_READERS",
    "decodes_in_parallel",
    "scan_batches",
    "scan_memory_pool",
    "scan_options",
]

QUEUE_DEPTH = 2
"""Batches decoded ahead of the consumer by each reader of the row-group scan (one row group of
256 Ki rows at 128 Ki-row batches): with `READERS` readers, ``READERS * QUEUE_DEPTH`` batches
wait while one is counted, which keeps both CPUs busy; deeper queues only raise the peak."""
READERS = 2
"""Local row groups read at once, each decoded by pyarrow's threads. Measured with 2 CPUs on
1 GB of local parquet (8 columns, ``benchmarks/bench_drift.py``), a drift check counting in
the consumer thread: one reader (4 batches queued) 0.78-0.85 s, peak 330-360 MB; two readers
(2 queued each) 0.65-0.69 s, 370-390 MB, against a 400 MB budget (both with pyarrow's
default pool, before `scan_memory_pool`: 335-345 MB now; three readers or three batches
queued each were measured no faster since); pyarrow alone reads the same columns in
0.41-0.47 s with two readers and 0.55 s with one."""
REMOTE_READERS = 3
"""Row groups read at once from any non-local filesystem (object stores), each by its own
thread into its own queue: two row groups are fetched while the consumer reads a third, so a
request's latency is hidden behind the others' transfer and decoding. Measured with 2 CPUs
on 430 MB (module docstring) with a fast consumer, against pyarrow's scanner: one reader
2.1x its time on moto S3, two 1.1x on fake-gcs-server and 1.6x on moto, three 0.86x and
1.5x (1.08x with 27 MB objects: moto copies the whole object per request); each reader adds
~20-50 MB to the peak (one row group's bytes and decoded columns, plus its queue)."""


_FALSE = frozenset({"0", "false", "no", "off"})
_TRUE = frozenset({"1", "true", "yes", "on"})


def _env_flag(name: str, default: bool) -> bool:
    """The boolean environment variable ``name``: ``0``/``false``/``no``/``off`` or
    ``1``/``true``/``yes``/``on`` (any case, blanks around ignored); unset or empty is
    ``default``. Any other value is not guessed at: it warns (`RuntimeWarning`, naming the
    variable and the accepted spellings) and keeps ``default``."""
    raw = os.environ.get(name, "")
    value = raw.strip().lower()
    if not value:
        return default
    if value in _FALSE or value in _TRUE:
        return value in _TRUE
    warnings.warn(
        f"{name}={raw!r} is not understood, so it stays {'on' if default else 'off'} (the "
        f"default); fix: set it to 0, false, no or off to turn it off, or 1, true, yes or "
        "on to turn it on",
        RuntimeWarning,
        stacklevel=2,
    )
    return default


LOCAL_MMAP = _env_flag("SKYFABRIC_LOCAL_MMAP", default=True)
"""Read local parquet through memory maps (``pyarrow.fs.LocalFileSystem(use_mmap=True)``):
column chunks are read from the page cache in place instead of copied out of it by
``pread`` (13% of a local scan's CPU time in ``perf``). Measured with 2 CPUs on 1 GB of
local parquet (8 columns): 0.70-0.74 CPU-s instead of 0.76-0.80, the same peak RSS (a
file is unmapped when its row group is read). The price: a file truncated by another process
while it is being read ends the process with SIGBUS instead of raising an error, as with
pyarrow's own ``memory_map=True``; set this to False where files are rewritten in place, or
the environment variable ``SKYFABRIC_LOCAL_MMAP`` (read at import) to ``0``, ``false``, ``no``
or ``off`` (any case; ``1``, ``true``, ``yes``, ``on`` or unset keep memory maps; any other
value warns and keeps them)."""


@functools.cache
def scan_memory_pool() -> pa.MemoryPool | None:
    """The pool the scan decodes into: pyarrow's jemalloc pool, unless the environment
    variable ``ARROW_DEFAULT_MEMORY_POOL`` chose a pool (that choice stands) or this pyarrow
    has no jemalloc (Windows builds): then ``None``, pyarrow's default pool.

    A streaming scan allocates and frees batches of the same few sizes from several threads
    for as long as it runs. Measured with 2 CPUs on 1 GB of local parquet (8 columns,
    ``benchmarks/bench_drift.py``, six fresh processes each): a drift check peaked at
    360-378 MB with pyarrow's default mimalloc pool and 331-340 MB with jemalloc, at the same
    speed; on 2 GB mimalloc peaked at 377-423 MB (it kept more freed memory the longer the
    scan ran) and jemalloc at 340-349 MB. The rest of the process keeps the default pool
    (as do part of the allocations of pyarrow's scanner, which filtered datasets use).
    """
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return None
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:  # pyarrow built without jemalloc
        return None


def scan_options(data: pads.Dataset) -> dict[str, Any]:
    """Keyword arguments for ``Dataset.to_batches`` / ``Fragment.to_batches`` on ``data``.

    pyarrow's defaults (4 files and 16 batches ahead, each parquet file's column chunks
    pre-buffered whole) hold ~1.2 GB for 8 columns of 1 GB of local parquet. Local files are
    read without pre-buffering (the page cache serves small reads well); remote stores keep
    pre-buffering (it coalesces the many small range requests) and read two files ahead to
    hide latency. Batches are decoded into `scan_memory_pool`.
    """
    local = isinstance(getattr(data, "filesystem", None), pafs.LocalFileSystem)
    opts: dict[str, Any] = {
        "fragment_readahead": 1 if local else 2,
        "batch_readahead": 4,
        "memory_pool": scan_memory_pool(),
    }
    if local and isinstance(getattr(data, "format", None), pads.ParquetFileFormat):
        opts["fragment_scan_options"] = pads.ParquetFragmentScanOptions(pre_buffer=False)
    return opts


def decodes_in_parallel(data: Any) -> bool:
    """True when `scan_batches` reads ``data`` with its own reader threads (unfiltered parquet):
    the scan then keeps every CPU decoding, so its consumer had best count each batch itself
    (counting threads of its own would only add batches in flight, i.e. memory)."""
    return isinstance(data, pads.Dataset) and _row_group_scan(data)


def _row_group_scan(data: pads.Dataset) -> bool:
    """True for unfiltered parquet, on any filesystem: the data the row-group scan reads.

    pyarrow does not list the fragments of a filtered dataset (``Dataset.filter``); those
    keep its scanner.
    """
    return (
        isinstance(data, pads.FileSystemDataset)
        and isinstance(data.format, pads.ParquetFileFormat)
        and (getattr(data, "_scan_options", None) or {}).get("filter") is None
    )


def _piece_batches(
    piece: Any, data: pads.Dataset, columns: list[str], batch_size: int, opts: dict[str, Any]
) -> Iterator[Any]:
    """The batches of one piece of row groups (`_row_group_pieces`), then `_PIECE_END`.

    ``schema=data.schema``: a column missing from this file reads as nulls, and partition
    values come from the fragment's path, exactly as in the dataset scan. pyarrow ends a
    batch at every row group, so the batches of consecutive small row groups are joined
    (`_joined`) into batches of up to ``batch_size`` rows: passed one by one through the
    readers' queues, 5,000 ten-row batches took ~1 s of thread hand-offs.
    """
    pending: list[Any] = []
    held = 0
    try:
        for batch in piece.to_batches(
            schema=data.schema, columns=columns, batch_size=batch_size, use_threads=True, **opts
        ):
            if pending and (held + batch.num_rows > batch_size or not batch.num_columns):
                yield _joined(pending)
                pending, held = [], 0
            pending.append(batch)
            held += batch.num_rows
            if held >= batch_size or not batch.num_columns:  # full batches pass as they are
                yield _joined(pending)
                pending, held = [], 0
        if pending:
            yield _joined(pending)
    except (OSError, pa.ArrowInvalid) as exc:  # name the file: a scan reads many
        path = getattr(piece, "path", None)
        if path is None or path in str(exc):
            raise
        raise type(exc)(f"{path}: {exc}") from exc
    yield _PIECE_END


def _joined(batches: list[Any]) -> Any:
    """One batch of the rows of ``batches`` (one schema, at least one column), copied into one
    only when there are several."""
    if len(batches) == 1:
        return batches[0]
    concat = getattr(pa, "concat_batches", None)  # pyarrow >= 19
    if concat is not None:
        return concat(batches)
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def _row_group_pieces(fragment: Any, rows: int) -> list[Any]:
    """``fragment``'s row groups, in order, as fragments of one or more consecutive row groups
    (`ParquetFileFragment.subset`): small row groups are taken together until a piece holds
    ``rows`` rows, a larger one is a piece of its own. Reads the footer (once).

    Each piece costs a scan set-up (and, on an object store, its own range requests): one
    piece per row group made a file of 5,000 ten-row groups take 1.6 s to scan instead of
    pyarrow's 0.36 s (0.53 s as one piece). With row groups of at least ``rows`` rows (the
    batch size; pyarrow writes 1 Mi-row groups by default) nothing changes, and a piece never
    holds much more than ``rows`` rows or one row group, so memory stays bounded.
    """
    fragment.ensure_complete_metadata()
    groups: list[list[int]] = []
    ids: list[int] = []
    held = 0
    for rg in fragment.row_groups:
        ids.append(rg.id)
        held += rg.num_rows
        if held >= rows:
            groups.append(ids)
            ids, held = [], 0
    if ids:
        groups.append(ids)
    return [fragment.subset(row_group_ids=g) for g in groups]


def _reopened(fragment: Any, fmt: pads.FileFormat, fs: pafs.FileSystem) -> Any:
    """``fragment``'s file as a fragment read through ``fs``, partition values kept (its
    footer is read again, on first use)."""
    return fmt.make_fragment(
        fragment.path, filesystem=fs, partition_expression=fragment.partition_expression
    )


def _row_groups(
    data: pads.FileSystemDataset, columns: list[str], batch_size: int, workers: int
) -> tuple[list[Iterator[Any]], int]:
    """(``workers`` streams of batches, number of row groups). Stream ``i`` reads row groups
    ``i, i + workers, ...`` (in dataset order), one at a time, and yields `_PIECE_END` after
    each of them."""
    opts = {k: v for k, v in scan_options(data).items() if k != "fragment_readahead"}
    fragments = list(data.get_fragments())
    if LOCAL_MMAP:  # the same files, memory-mapped
        mapped = pafs.LocalFileSystem(use_mmap=True)
        fragments = [_reopened(f, data.format, mapped) for f in fragments]
    # every footer is read here, before the first batch: ~5 ms for 20 local files
    pieces = [p for fragment in fragments for p in _row_group_pieces(fragment, batch_size)]

    def stream(first: int) -> Iterator[Any]:
        for piece in pieces[first::workers]:
            yield from _piece_batches(piece, data, columns, batch_size, opts)

    streams = [stream(i) for i in range(workers)]
    return streams, len(pieces)


class _ExactReads(pafs.FSSpecHandler):
    """An fsspec filesystem for pyarrow whose files read exactly the ranges pyarrow asks for.

    ``FSSpecHandler`` opens files with fsspec's default cache: s3fs reads ahead 50 MB past
    every read (gcsfs 5 MB), and asks the store for the file's size (HEAD) at every open.
    pyarrow's pre-buffering already coalesces a row group's column chunks into few large
    requests, so that read-ahead is waste: measured on moto S3, two readers took 5-8 s and
    peaked at 1.2 GB reading 430 MB through the default handler, 2.7 s and 330 MB through
    this one. Sizes are asked once per file (from the reader threads) and remembered.
    """

    def __init__(self, fs: Any) -> None:
        super().__init__(fs)
        self._sizes: dict[str, int] = {}

    def open_input_file(self, path: str) -> pa.PythonFile:
        size = self._sizes.get(path)
        if size is None:  # FileNotFoundError for a file removed since listing
            size = self._sizes[path] = int(self.fs.size(path))
        try:
            f = self.fs.open(path, mode="rb", cache_type="none", size=size)
        except TypeError:  # an fsspec filesystem that takes neither option: its own reads
            f = self.fs.open(path, mode="rb")
        return pa.PythonFile(f, mode="r")


class _LazyRowGroups:
    """The row groups of a remote dataset in dataset order, each file split (its footer read)
    only when a reader first asks for one of its row groups, not all before the first batch
    (a footer is a request or two: seconds for a thousand files on an object store)."""

    def __init__(self, data: pads.FileSystemDataset, rows: int) -> None:
        """``rows``: rows per piece of small row groups (`_row_group_pieces`)."""
        fs = data.filesystem
        exact = None
        if isinstance(fs, pafs.PyFileSystem) and isinstance(fs.handler, pafs.FSSpecHandler):
            exact = pafs.PyFileSystem(_ExactReads(fs.handler.fs))
        self._format = data.format
        self._rows = rows
        self._fs = exact
        self._fragments = data.get_fragments()
        self._pieces: list[Any] = []
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    def get(self, k: int) -> Any | None:
        """Row group ``k`` as a fragment, or ``None`` past the last one.

        Raises:
            OSError, pyarrow.ArrowInvalid: a file before row group ``k`` cannot be opened or
                its footer read; raised again for every later ``k``, so that no reader takes
                a failed file for the end of the data (which would end the scan early).
        """
        with self._lock:  # a reader waiting here needs this very footer anyway
            while len(self._pieces) <= k:
                if self._error is not None:
                    raise self._error
                fragment = next(self._fragments, None)
                if fragment is None:
                    return None
                try:
                    if self._fs is not None:  # the same file, opened through _ExactReads
                        fragment = _reopened(fragment, self._format, self._fs)
                    self._pieces.extend(_row_group_pieces(fragment, self._rows))
                except BaseException as exc:
                    self._error = exc
                    raise
            return self._pieces[k]


def _remote_row_groups(
    data: pads.FileSystemDataset, columns: list[str], batch_size: int, workers: int
) -> list[Iterator[Any]]:
    """``workers`` streams of batches over a non-local dataset, as `_row_groups` (stream ``i``
    reads row groups ``i, i + workers, ...``), with footers read lazily (`_LazyRowGroups`)."""
    opts = {k: v for k, v in scan_options(data).items() if k != "fragment_readahead"}
    plan = _LazyRowGroups(data, batch_size)

    def stream(first: int) -> Iterator[Any]:
        for k in itertools.count(first, workers):
            piece = plan.get(k)
            if piece is None:
                return
            yield from _piece_batches(piece, data, columns, batch_size, opts)

    return [stream(i) for i in range(workers)]


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


def _ordered(
    streams: list[Iterator[Any]], pieces: int | None, depth: int
) -> Iterator[pa.RecordBatch]:
    """The batches of row groups ``0 .. pieces - 1`` in order, ``len(streams)`` read at once.

    Each stream is prefetched by its own thread, at most ``depth`` batches ahead; row group
    ``k`` is taken from stream ``k % len(streams)`` up to its `_PIECE_END`. The order is the
    dataset's, whatever the threads' timing, so order-dependent consumers (top-k ties of a
    categorical baseline) see the same sequence on every run. (A KLL quantile sketch still
    differs between runs within its stated rank error: its compactions are randomized.)
    ``pieces=None``: until the stream due for the next row group ends without one.
    """
    readers = [_prefetch(s, depth) for s in streams]
    try:
        for k in range(pieces) if pieces is not None else itertools.count():
            for item in readers[k % len(readers)]:
                if item is _PIECE_END:
                    break
                yield item
            else:
                if pieces is None:
                    return
    finally:
        for r in readers:  # also those never reached, whose threads are already reading
            r.close()


def scan_batches(
    data: pads.Dataset, columns: list[str], batch_size: int, depth: int | None = None
) -> Iterator[pa.RecordBatch]:
    """Batches of ``columns`` (``batch_size`` rows at most) of ``data``, in the dataset's order.

    Unfiltered parquet, on any filesystem: row group by row group, at most `READERS` (local)
    or `REMOTE_READERS` (other filesystems) row groups being read and ``depth`` (default
    `QUEUE_DEPTH`) batches queued per reader, however slow the consumer (module docstring).
    Otherwise (CSV, ``Dataset.filter``) ``Dataset.to_batches`` with `scan_options`, which
    reads ahead without bound. Closing the iterator (or dropping it) stops the readers.

    Raises:
        OSError, pyarrow.ArrowInvalid: whatever reading raised (a missing file, a corrupt
            footer), in the consumer, after the batches before it.
    """
    if _row_group_scan(data) and not isinstance(data.filesystem, pafs.LocalFileSystem):
        streams = _remote_row_groups(data, columns, batch_size, REMOTE_READERS)
        yield from _ordered(streams, None, depth or QUEUE_DEPTH)
    elif _row_group_scan(data):
        streams, pieces = _row_groups(data, columns, batch_size, READERS)
        yield from _ordered(streams, pieces, depth or QUEUE_DEPTH)
    else:
        yield from data.to_batches(
            columns=columns, batch_size=batch_size, use_threads=True, **scan_options(data)
        )
