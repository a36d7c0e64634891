"""The monitoring loop's check: one baseline against every window of a source, in one process.

``monitor(source, baseline, by="month")`` splits the source by a hive partition key
(`skyfabric.drift.windows.partition_windows`) and checks each window's files with `check`;
``monitor(source, baseline, every="1d", time_column="ts")`` reads the source once and counts
each row into its time window (`skyfabric.drift.time_windows`). Windows already in the
history table for this source and baseline are not checked again (unless ``recompute``);
they are read back so the result, the JSON and the report still cover every window. New
results are appended to the history (`skyfabric.drift.history`) in one commit.

Partition windows are checked one after another, each reading only its own files: the
files of all windows are the source's files, so the run reads the source once, as one
pyarrow scan would, and a window's memory is the bounded scan's, whatever the number of
windows (benchmarks/bench_monitor.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from skyfabric.drift.check import check, load_baseline
from skyfabric.drift.comparing import baseline_columns, thresholds
from skyfabric.drift.sources import DEFAULT_BATCH_SIZE, open_source
from skyfabric.drift.trend import MonitorResult, WindowResult
from skyfabric.errors import DriftError

if TYPE_CHECKING:
    from skyfabric.drift.baseline import Baseline
    from skyfabric.fabric import Fabric

__all__ = ["monitor"]


def _baseline(
    baseline: Baseline | str | os.PathLike[str], fabric: Fabric | None
) -> tuple[Baseline, str]:
    if hasattr(baseline, "columns"):
        return baseline, f"<baseline of {baseline.source}>"  # type: ignore[union-attr]
    url = os.fspath(baseline)  # type: ignore[arg-type]
    return load_baseline(url, fabric=fabric), url


def monitor(
    source: Any,
    baseline: Baseline | str | os.PathLike[str],
    *,
    by: str | None = None,
    every: str | None = None,
    time_column: str | None = None,
    fabric: Fabric | None = None,
    history: str | None = "monitoring.drift_history",
    history_location: str | None = None,
    recompute: bool = False,
    columns: str | list[str] | None = None,
    eps: float | None = None,
    moderate: float | None = None,
    significant: float | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_window: Callable[[WindowResult], None] | None = None,
) -> MonitorResult:
    """Check every window of ``source`` against ``baseline``; keep the results in a table.

    Args:
        source: a ``fabric://`` URL or local path (file, folder, glob, or a partition range
            in folder form: ``.../year=200[0-3]/``), a ``table:NS.NAME`` (time windows
            only), or pyarrow data (time windows only).
        baseline: a `Baseline` or the URL/path of a saved one.
        by: a hive partition key (``month``, ``dt``): one window per value; several keys
            (``"year,month"``): one window per combination.
        every: a window length (``1h``, ``1d``, ``7d``, ``1w``, ``1mo``) over
            ``time_column`` (a timestamp or date column). Give ``by`` or ``every``.
        history: the Iceberg table (``namespace.table``) to append results to; None keeps
            no history (every window is then checked). Windows are known by source, window,
            windowing and baseline URL. In-memory ``source`` data keeps no history: nothing
            names it from one run to the next.
        history_location: where a new history table's files go (``fabric://<store>/...``;
            default: the catalog's warehouse).
        recompute: check windows found in the history again (their rows are replaced).
        columns: baseline columns to check (default: all; with ``by``, the partition key
            is left out when the baseline has it).
        eps, moderate, significant: PSI floor and thresholds; default ``FabricConfig.drift``.
        on_window: called with each window as it is checked (progress output).

    Returns:
        a `MonitorResult` over all windows, in order.

    Raises:
        DriftError: neither or both of ``by`` and ``every``; ``every`` without
            ``time_column``; no ``key=...`` folder for ``by``; a bad window length or time
            column; thresholds out of order.
        BaselineError: a column is not in the baseline, or the baseline is invalid.
        ObjectNotFoundError: the source or baseline does not exist.
        MissingDependencyError, CatalogError: the history table cannot be used.
    """
    from skyfabric.drift.file_io import _connect

    started = time.perf_counter()
    if (by is None) == (every is None):
        raise DriftError(
            "give one way to split the source into windows: by= a hive partition key "
            "(--by month) or every= a window length with time_column= (--every 1d "
            "--time-column ts)"
        )
    if every is not None and not time_column:
        raise DriftError(
            f"every={every!r} needs the column holding each row's time; fix: add "
            "--time-column NAME (time_column= in Python)"
        )
    fabric = _connect(fabric)
    base, baseline_url = _baseline(baseline, fabric)
    eps, moderate, significant = thresholds(fabric, eps, moderate, significant)
    names = baseline_columns(base, columns)
    if by is not None and columns is None:  # constant within a window: it would read as drift
        keys = {k.strip() for k in by.split(",")}
        names = [c for c in names if c not in keys] or names
    shown = os.fspath(source) if isinstance(source, str | os.PathLike) else None
    if shown is None:  # in-memory data: nothing names it across runs, so no history
        history = None
    src = open_source(source, fabric=fabric)
    # the history's key: fabric://lake/x/ and fabric://lake/x are one source
    source_name = (shown.rstrip("/") or shown) if shown else src.name

    windowing = f"by {by}" if by is not None else f"every {every} on {time_column}"
    table = None
    known: dict[str, WindowResult] = {}
    if history is not None:
        from skyfabric.drift.history import open_history, read_windows

        table = open_history(fabric, history, history_location)  # type: ignore[arg-type]
        if not recompute:
            known = read_windows(table, source_name, baseline_url, windowing)

    fresh: list[WindowResult] = []
    windows: dict[str, WindowResult] = {}
    if by is not None:
        from skyfabric.drift.windows import partition_windows

        for w in partition_windows(src, by):
            if w.label in known:
                windows[w.label] = known[w.label]
                continue
            result = check(
                base, w.source, fabric=fabric, columns=names, eps=eps,
                moderate=moderate, significant=significant, batch_size=batch_size,
            )
            done = WindowResult.from_result(w.label, w.start, w.end, result)
            windows[w.label] = done
            fresh.append(done)
            if on_window:
                on_window(done)
    else:
        from skyfabric.drift.time_windows import check_time_windows
        from skyfabric.drift.windows import parse_every

        pairs = check_time_windows(
            base, src, names, every=parse_every(every), time_column=time_column,  # type: ignore[arg-type]
            eps=eps, moderate=moderate, significant=significant,
            skip=lambda label: label in known, batch_size=batch_size,
        )
        for w, result in pairs:
            done = WindowResult.from_result(w.label, w.start, w.end, result)
            fresh.append(done)
            if on_window:
                on_window(done)
        by_label = {w.window: w for w in [*known.values(), *fresh]}
        windows = {k: by_label[k] for k in sorted(by_label, key=lambda k: _start_key(by_label[k]))}
    for label, w in known.items():  # history windows whose files are gone still show
        windows.setdefault(label, w)
    if table is not None:
        from skyfabric.drift.history import record

        record(table, fresh, source_name, baseline_url, windowing)
    return MonitorResult(
        windows=list(windows.values()),
        source=source_name,
        baseline_url=baseline_url,
        eps=eps,
        moderate=moderate,
        significant=significant,
        history=history,
        windowing=windowing,
        seconds=time.perf_counter() - started,
    )


def _start_key(w: WindowResult) -> tuple[int, Any]:
    return (0, w.start) if w.start is not None else (1, w.window)
