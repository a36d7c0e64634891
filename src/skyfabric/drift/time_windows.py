"""Check every time window of a source against one baseline in a single scan.

The source is read once (the bounded batch scan of `Source.batches`), with the time column
projected beside the checked columns. Each batch's rows are floored to their window
(`skyfabric.drift.windows.window_starts`), grouped by window with one sort, and each
group is counted into that window's histograms (`histogram_columns`). Histograms are
mergeable, so the counts of a window are the same whichever batches its rows arrive in.

Why one scan rather than one filtered scan per window: a filter per window reads the whole
source once per window unless the data is sorted by time and its row groups carry
statistics; the single scan reads it once in every case (benchmarks/bench_monitor.py
measures both).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from skyfabric.drift.check import DriftResult, _templates
from skyfabric.drift.comparing import compare_columns
from skyfabric.drift.sources import DEFAULT_BATCH_SIZE, Source
from skyfabric.drift.windows import Every, Window, time_window, window_starts
from skyfabric.errors import DriftError, MonitorSettingError

if TYPE_CHECKING:
    from skyfabric.drift.baseline import Baseline
    from skyfabric.drift.histogram import Histogram

__all__ = ["check_time_windows"]

#: Most windows one monitor run makes: each holds a histogram per column, and a report or
#: terminal table over more is unreadable (a typo such as --every 1s for 1d would hang).
MAX_WINDOWS = 10_000


def _split(batch: pa.RecordBatch, starts: pa.Array) -> list[tuple[Any, pa.RecordBatch]]:
    """``batch`` cut into one piece per window start (rows with a null time dropped)."""
    if starts.null_count == len(starts):
        return []
    bounds = pc.min_max(starts)
    if bounds["min"] == bounds["max"] and not starts.null_count:
        return [(starts[0].as_py(), batch)]  # the common case for data written in time order
    order = pc.sort_indices(starts)  # nulls last
    sorted_starts = starts.take(order)
    sorted_batch = batch.take(order)
    runs = pc.run_end_encode(sorted_starts)  # one run per window
    ends, values = runs.run_ends.to_pylist(), runs.values
    out, begin = [], 0
    for value, end in zip(values, ends, strict=True):
        if value.is_valid:
            out.append((value.as_py(), sorted_batch.slice(begin, end - begin)))
        begin = end
    return out


def check_time_windows(
    baseline: Baseline,
    src: Source,
    names: list[str],
    *,
    every: Every,
    time_column: str,
    eps: float,
    moderate: float,
    significant: float,
    skip: Callable[[str], bool] = lambda label: False,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> list[tuple[Window, DriftResult]]:
    """One `DriftResult` per window of ``every`` over ``time_column``, in time order.

    Args:
        names: baseline columns to check (see `baseline_columns`).
        skip: called with a window's label; True leaves that window out (its rows are
            still read: they share batches with the others).

    Raises:
        DriftError: ``time_column`` is not in the source, or not a timestamp/date column.
    """
    from skyfabric.drift.histogram import Histogram, histogram_columns, load_kernels

    started = time.perf_counter()
    if time_column not in src.schema.names:
        raise DriftError(
            f"the time column {time_column!r} is not in {src.name} (it has "
            f"{', '.join(src.schema.names)}); fix: name its timestamp column with --time-column"
        )
    window_starts(pa.array([], src.schema.field(time_column).type), every, time_column)
    templates, changed = _templates(baseline, names, src)
    counted = [c for c in src.present(names) if c not in changed]
    tmpl = {c: templates[c] for c in counted}
    load_kernels(tmpl, src.schema)
    read = list(dict.fromkeys([*counted, time_column]))
    acc: dict[Any, dict[str, Histogram]] = {}
    rows: dict[Any, int] = {}
    labels: dict[Any, Window] = {}
    with src.reading():
        for batch in src.batches(read, batch_size):
            if not batch.num_rows:
                continue
            starts = window_starts(batch.column(time_column), every, time_column)
            for start, piece in _split(batch, starts):
                if start not in labels:
                    if len(labels) >= MAX_WINDOWS:
                        raise MonitorSettingError(
                            f"--every {every.text} over "
                            f"{time_column!r} makes more than {MAX_WINDOWS:,} windows of "
                            f"{src.name}; nothing was written; fix: use a coarser window "
                            "(e.g. --every 1h or 1d) or a narrower source"
                        )
                    labels[start] = time_window(start, every)
                if skip(labels[start].label):
                    continue
                part = histogram_columns(piece.select(counted), tmpl)
                prev = acc.get(start)
                acc[start] = part if prev is None else {c: prev[c] + part[c] for c in part}
                rows[start] = rows.get(start, 0) + piece.num_rows
    out = []
    seconds = time.perf_counter() - started
    for start in sorted(acc):
        hists = acc[start]
        for c in counted:  # a window whose pieces all lacked a column still has its bins
            hists.setdefault(c, Histogram.empty_like(tmpl[c]))
        window = labels[start]
        result = DriftResult(
            columns=compare_columns(baseline, names, hists, dict(changed), eps, moderate, significant),
            rows=rows[start],
            source=f"{src.name} {time_column} in [{window.start:%Y-%m-%d %H:%M}, "
            f"{window.end:%Y-%m-%d %H:%M})",
            baseline_source=baseline.source,
            eps=eps,
            moderate=moderate,
            significant=significant,
            seconds=seconds / max(len(acc), 1),
        )
        out.append((window, result))
    return out
