"""Count a source's values into a baseline's bins: locally in threads, or on Dask workers.

Both engines produce the same numbers because histograms are mergeable: counts of disjoint
pieces add up to the counts of the whole (`Histogram.__add__`), whatever the split.

- **local** (`count_local`): the projected columns are read in Arrow batches by
  `skyfabric.drift._scan.scan_batches` (parquet row group by row group, a bounded number of
  batches ahead, locally and on object stores). Parquet is decoded by the scan's own reader
  threads, which keep every CPU busy, so each batch is counted by `histogram_columns` in the
  consumer thread; other sources are counted on a thread pool (the numba kernels release the
  GIL) with at most ``2 x threads`` batches held. Memory is ``O(readers x batch)`` or
  ``O(threads x batch)``, flat however large the data grows.
- **dask** (`count_dask`): one task per file. A task carries the Fabric configuration,
  the file path, the partition values and the empty template histograms (a few KB), never
  data; the worker opens the file itself, reads it with the same bounded scan, counts it
  batch by batch, and returns its histograms, which the client sums.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads

from skyfabric.drift._scan import decodes_in_parallel, scan_batches
from skyfabric.drift.sources import DEFAULT_BATCH_SIZE, FileTask, Source
from skyfabric.errors import DriftError, MissingDependencyError

if TYPE_CHECKING:
    from skyfabric.drift.histogram import Histogram
    from skyfabric.fabric import Fabric

__all__ = ["Counts", "Engine", "count", "count_dask", "count_local"]

Engine = Literal["local", "dask"]
#: Called with the number of rows just counted (for progress bars).
ProgressCallback = Callable[[int], None]


@dataclass
class Counts:
    """Histograms of a source's columns and the number of rows scanned.

    Attributes:
        histograms: column name -> counts in the template's bins; columns the source does
            not have are absent.
        rows: rows scanned (int).
    """

    histograms: dict[str, Histogram]
    rows: int


def _empty(templates: dict[str, Histogram]) -> dict[str, Histogram]:
    from skyfabric.drift.histogram import Histogram

    return {name: Histogram.empty_like(t) for name, t in templates.items()}


def _merge(acc: dict[str, Histogram], part: dict[str, Histogram]) -> None:
    for name, hist in part.items():
        acc[name] = acc[name] + hist


def count_local(
    source: Source,
    templates: dict[str, Histogram],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> Counts:
    """Count ``source`` into ``templates``' bins in this process.

    Batches stream from the scanner into
    `histogram_columns`, which counts them on ``threads``
    threads with at most ``2 * threads`` batches in flight: memory is bounded by the batch
    size, never by the size of the data.

    Args:
        source: an opened `Source`.
        templates: column -> empty histogram with the baseline's bins.
        batch_size: rows per Arrow batch read from files.
        threads: counting threads; ``1`` counts in the consumer thread. Default: 1 when the
            scan decodes with its own reader threads (parquet: `decodes_in_parallel`),
            else the CPU count.
        progress: called with each batch's row count as it is read.
    """
    from skyfabric.drift.histogram import histogram_columns, load_kernels

    columns = source.present(list(templates))
    tmpl = {c: templates[c] for c in columns}
    if threads is None and decodes_in_parallel(source.data):
        threads = 1  # measured: a counting pool beside the readers only adds batches in flight
    threads = max(1, threads or os.cpu_count() or 1)
    rows = 0

    def batches() -> Iterator[pa.RecordBatch]:
        nonlocal rows
        for batch in source.batches(columns, batch_size):
            rows += batch.num_rows
            if progress:
                progress(batch.num_rows)
            if batch.num_rows:
                yield batch

    if not tmpl:
        for _ in batches():
            pass
        return Counts({}, rows)
    # Load the numba kernels (numba's ~0.2 s set-up) before the scan starts: a scan through
    # pyarrow's scanner (CSV, filtered datasets) keeps decoding while the first batch waits
    # (measured on object-store parquet before it got the row-group scan: 1 GB peak RSS
    # instead of 0.4). Synthetic values of each column's type do it
    # without reading (the head() sample used before held ~50 MB of buffers).
    load_kernels(tmpl, source.schema)
    counted = histogram_columns(batches(), tmpl, threads=threads)
    acc = _empty(tmpl)
    _merge(acc, counted)
    return Counts(acc, rows)


# -- dask -----------------------------------------------------------------------------------

_FABRICS: dict[str, Fabric] = {}


def _worker_filesystem(config: Any, task: FileTask) -> Any:
    """The pyarrow filesystem to read ``task`` with, built once per worker process."""
    if task.store is None:
        return task.filesystem
    from skyfabric.fabric import Fabric
    from skyfabric.storage.resolve import resolve_store_path

    key = config.model_dump_json()
    fab = _FABRICS.get(key)
    if fab is None:
        fab = _FABRICS[key] = Fabric(config)
    return resolve_store_path(fab.store(task.store), "").pyarrow_filesystem()[0]


def _constant_column(value: Any, n: int) -> pa.Array:
    """``n`` copies of a partition value, as the dataset scan materializes it."""
    if value is None:
        return pa.nulls(n)
    if isinstance(value, str):
        return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([value]))
    return pa.array(np.full(n, value))


def count_file(
    config: Any,
    task: FileTask,
    columns: list[str],
    templates: dict[str, Histogram],
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Counts:
    """Count one file (runs on a Dask worker; also callable locally for testing).

    The file is read with `skyfabric.drift._scan.scan_batches`: parquet row group by row
    group, a bounded number of batches ahead, so a worker's memory does not grow with the
    file nor with a slow count.

    Args:
        config: the `FabricConfig` (``None`` when ``task.store`` is).
        task: the file to read.
        columns: columns to count (all present in the dataset schema or its partitions).
        templates: column -> empty histogram.
    """
    from skyfabric.drift.histogram import histogram_columns

    fs = _worker_filesystem(config, task)
    dataset = pads.dataset(task.path, filesystem=fs, format=task.format, schema=task.schema)
    in_file = [c for c in columns if c not in task.partition]
    rows = 0

    def batches() -> Iterator[pa.RecordBatch]:
        nonlocal rows
        # bounded like the local engine's scan: pyarrow's scanner, even with use_threads=False,
        # held 600-800 MB for 430 MB of object-store parquet (benchmarks/bench_remote_scan.py)
        for batch in scan_batches(dataset, in_file, batch_size):
            rows += batch.num_rows
            if not batch.num_rows:
                continue
            arrays, names = list(batch.columns), list(in_file)
            for col in columns:
                if col in task.partition:
                    arrays.append(_constant_column(task.partition[col], batch.num_rows))
                    names.append(col)
            yield pa.RecordBatch.from_arrays(arrays, names=names)

    tmpl = {c: templates[c] for c in columns}
    acc = _empty(tmpl)
    if tmpl:
        _merge(acc, histogram_columns(batches(), tmpl))
    else:
        for _ in batches():
            pass
    return Counts(acc, rows)


def _client(client: Any) -> tuple[Any, Callable[[], None]]:
    try:
        import distributed
    except ImportError as exc:
        raise MissingDependencyError(
            "the dask engine needs dask.distributed; fix: pip install 'skyfabric[dask]'"
        ) from exc
    if client is not None:
        return client, lambda: None
    try:
        return distributed.default_client(), lambda: None
    except ValueError:
        pass
    address = os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        new = distributed.Client(address)
        return new, new.close
    # ":0": a free port for the scheduler's HTTP server (None still binds :8787, which a
    # second check or another cluster on the machine may hold)
    cluster = distributed.LocalCluster(processes=True, dashboard_address=":0")
    new = distributed.Client(cluster)

    def close() -> None:
        new.close()
        cluster.close()

    return new, close


def count_dask(
    source: Source,
    templates: dict[str, Histogram],
    *,
    fabric: Fabric | None = None,
    client: Any = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
) -> Counts:
    """Count ``source`` with one Dask task per file, summing the returned histograms.

    Args:
        client: a ``distributed.Client``; default: the current default client, else one
            connected to ``$DASK_SCHEDULER_ADDRESS``, else a temporary ``LocalCluster``.

    Raises:
        DriftError: the source is in memory (no files to ship), or is a filtered dataset.
        MissingDependencyError: ``distributed`` is not installed.
    """
    data = source.data
    if (getattr(data, "_scan_options", None) or {}).get("filter") is not None:
        raise DriftError(
            f"the dask engine cannot apply the row filter of {source.name}; fix: point at the "
            "partitions' files directly (e.g. fabric://store/data/month=7/) or use engine='local'"
        )
    tasks = source.file_tasks()
    columns = source.present(list(templates))
    tmpl = {c: templates[c] for c in columns}
    config = None
    if source.store is not None:
        if fabric is None:
            from skyfabric.fabric import connect

            fabric = connect()
        config = fabric.config
    acc = _empty(tmpl)
    rows = 0
    if not tasks:
        return Counts(acc, 0)
    import distributed

    dask_client, close = _client(client)
    try:
        futures = [
            dask_client.submit(count_file, config, t, columns, tmpl, batch_size, pure=False)
            for t in tasks
        ]
        for fut in distributed.as_completed(futures):
            part: Counts = fut.result()
            _merge(acc, part.histograms)
            rows += part.rows
            if progress:
                progress(part.rows)
    finally:
        close()
    return Counts(acc, rows)


def count(
    source: Source,
    templates: dict[str, Histogram],
    *,
    engine: Engine = "local",
    fabric: Fabric | None = None,
    client: Any = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> Counts:
    """Dispatch to `count_local` or `count_dask`.

    Raises:
        DriftError: ``engine`` is neither ``"local"`` nor ``"dask"``.
    """
    if engine == "local":
        return count_local(
            source, templates, batch_size=batch_size, threads=threads, progress=progress
        )
    if engine == "dask":
        return count_dask(
            source,
            templates,
            fabric=fabric,
            client=client,
            batch_size=batch_size,
            progress=progress,
        )
    raise DriftError(f"unknown drift engine {engine!r}; fix: use 'local' or 'dask'")
