"""The terminal table, JSON and the self-contained HTML report."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from rich.console import Console

import skyfabric
from skyfabric.drift import check, fit_baseline, render_table, to_html, write_html, write_json
from skyfabric.drift.report import bin_labels, plot_column

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(0)
    n = 5000
    base = pa.table(
        {
            "x": rng.normal(size=n),
            "<script>alert(1)</script>": rng.normal(size=n),
            "cat": pa.array(rng.choice(["a", "<b>&", "c"], n)),
            "gone": rng.normal(size=n),
        }
    )
    cur = pa.table(
        {
            "x": pa.array(np.where(rng.random(n) < 0.1, np.nan, rng.normal(1.0, size=n))),
            "<script>alert(1)</script>": rng.normal(size=n),
            "cat": pa.array(rng.choice(["a", "<b>&", "zzz"], n)),
        }
    )
    return check(fit_baseline(base), cur)


def test_html_has_one_valid_png_per_column(result) -> None:
    page = to_html(result)
    assert page.startswith("<!DOCTYPE html>")
    imgs = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) == len(result.columns) == 4
    for data in imgs:
        png = base64.b64decode(data, validate=True)
        assert png.startswith(PNG_MAGIC) and len(png) > 1000


def test_html_escapes_all_text(result) -> None:
    page = to_html(result)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "missing_column" in page and "significant" in page
    assert "http://" not in page and "https://" not in page  # self-contained: nothing fetched


def test_table_lists_every_column(result) -> None:
    console = Console(record=True, width=200)
    console.print(render_table(result))
    text = console.export_text()
    for col in result.columns:
        assert col.column in text
        assert col.status in text
    assert "E[PSI]" in text and "JS" in text and "n cur" in text


def test_bin_labels_include_missing(result) -> None:
    x = result["x"].baseline
    labels = bin_labels(x)
    assert labels[-1] == "missing" and len(labels) == len(x.counts) + 1
    assert labels[0].startswith("< ") and labels[-2].startswith(">= ")
    cat = bin_labels(result["cat"].baseline)
    assert "__other__" in cat and "<b>&" in cat


def test_plot_without_current_data(result) -> None:
    assert plot_column(result["gone"]).startswith(PNG_MAGIC)


def test_write_report_to_a_store(tmp_path: Path, result) -> None:
    fab = skyfabric.connect({"stores": {"reports": {"kind": "local", "path": str(tmp_path)}}})
    write_html(result, "fabric://reports/2013/07.html", fab)
    write_json(result, "fabric://reports/2013/07.json", fab)
    write_html(result, str(tmp_path / "local" / "r.html"))
    assert (tmp_path / "2013" / "07.html").read_text().count("<img ") == 4
    assert '"worst_status"' in (tmp_path / "2013" / "07.json").read_text()
    assert (tmp_path / "local" / "r.html").is_file()


def test_matplotlib_not_imported_by_the_package() -> None:
    import subprocess
    import sys

    code = (
        "import sys, skyfabric.drift; "
        "print([m for m in ('matplotlib', 'dask', 'distributed') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_drift_public_surface() -> None:
    import skyfabric.drift as drift

    assert sorted(drift.__all__) == sorted(
        [
            "Baseline",
            "ColumnBaseline",
            "ColumnDrift",
            "DriftResult",
            "MonitorResult",
            "Histogram",
            "check",
            "compare",
            "fit_baseline",
            "histogram",
            "histogram_columns",
            "load_baseline",
            "monitor",
            "plot_column",
            "psi",
            "render_table",
            "save_baseline",
            "to_html",
            "write_html",
            "write_json",
        ]
    )
    for name in drift.__all__:
        assert hasattr(drift, name)
    assert callable(drift.psi)


def test_table_prints_markup_like_text_as_it_is() -> None:
    """Column names, dtypes in notes and source names were read as rich markup: ``x[/b]``
    raised MarkupError, ``[red]x[/red]`` printed as ``x``, ``timestamp[ms]`` as ``timestamp``."""
    names = ["x[/b]", "[red]x[/red]", "y\\"]
    rng = np.random.default_rng(1)
    t = pa.array(rng.integers(0, 10**9, 500), pa.timestamp("ms"))
    base = pa.table({**{n: rng.normal(size=500) for n in names}, "t": t})
    cur = base.set_column(3, "t", pa.array(["s"] * 500))
    result = check(fit_baseline(base, source_name="[bold]base"), cur)
    console = Console(record=True, width=300)
    console.print(render_table(result))
    lines = console.export_text().splitlines()
    assert "vs [bold]base" in lines[0]
    for name in names:
        assert any(line.split()[0] == name for line in lines[1:] if line.strip()), name
    assert "it was timestamp[ms] in the baseline" in " ".join(lines)


def test_control_characters_in_names_print_escaped() -> None:
    """A column name holding ESC would send an escape sequence to the terminal (and a
    newline would break the row); table cells show them escaped."""
    from rich.console import Console

    from skyfabric.drift.report import cell

    assert cell("a\x1b[31mb\nc").plain == "a\\x1b[31mb\\nc"
    assert cell("[red]x[/red] é").plain == "[red]x[/red] é"
    buf = Console(width=200, record=True, file=io.StringIO(), color_system=None)
    buf.print(cell("x\x1b[2Jy"))
    assert "\x1b" not in buf.export_text()


def _texts(fig) -> list:
    """The texts of a column's figure that come from the data: bin labels and title."""
    ax = fig.axes[0]
    return [*ax.get_xticklabels(), ax.title]


def test_dollar_signs_in_names_and_categories_are_drawn_literally() -> None:
    """``$`` in a category or a column name was read as matplotlib mathtext: ``a_$x_$``
    raised ``ValueError`` (no report at all) and ``$10-$20`` was drawn as math ``10 − 20``."""
    from skyfabric.drift.report import figure_column

    band = ["$5-$10", "a_$x_$", "$10-$20"] * 50
    t = pa.table({"band": band, "a_$_$": np.arange(150.0), "$x$": np.arange(150.0)})
    result = check(fit_baseline(t), t)
    page = to_html(result)  # raised ValueError (ParseSyntaxException)
    assert page.count("<img ") == 3
    for col in result.columns:
        texts = _texts(figure_column(col))
        assert not any(t.get_parse_math() or t.get_usetex() for t in texts)
    drawn = {t.get_text() for t in _texts(figure_column(result["band"]))}
    assert {"$5-$10", "a_$x_$", "$10-$20"} <= drawn
    assert figure_column(result["a_$_$"]).axes[0].get_title().startswith("a_$_$: PSI")


def test_matplotlib_settings_stay_untouched_by_a_report() -> None:
    """Literal text is a property of our Text objects, not a global rcParams change."""
    import matplotlib

    before = dict(matplotlib.rcParams)
    t = pa.table({"c": ["$a$", "b"] * 20})
    plot_column(check(fit_baseline(t), t)["c"])
    assert matplotlib.rcParams["text.parse_math"] is True
    assert dict(matplotlib.rcParams) == before


def _labels(edges: list[float], dtype: str | None = None) -> list[str]:
    from skyfabric.drift.histogram import Histogram

    return bin_labels(Histogram.numeric([-np.inf, *edges, np.inf]), dtype)


def _ms(text: str) -> int:
    return int(np.datetime64(text, "ms").astype(np.int64))


@pytest.mark.parametrize(
    "dtype,edges,expected",
    [
        (
            "timestamp[ms]",
            [_ms("2024-01-02"), _ms("2024-01-03"), _ms("2024-01-04")],
            ["< 2024-01-02", "[2024-01-02, 2024-01-03)", "[2024-01-03, 2024-01-04)"],
        ),
        (  # quantile edges are fractional: the data is compared with ceil(edge)
            "timestamp[ms]",
            [_ms("2024-01-02T10:30") - 0.5, _ms("2024-01-02T12:00:01.001") + 0.25],
            ["< 2024-01-02 10:30:00.000", "[2024-01-02 10:30:00.000, 2024-01-02 12:00:01.002)"],
        ),
        (
            "timestamp[us, tz=Europe/Paris]",  # stored as UTC, shown in its zone
            [_ms("2024-01-15T09:00") * 1000, _ms("2024-07-15T09:00") * 1000],
            ["< 2024-01-15 10:00+01:00", "[2024-01-15 10:00+01:00, 2024-07-15 11:00+02:00)"],
        ),
        (
            "timestamp[s, tz=+05:30]",
            [_ms("2024-01-15T00:00") // 1000],
            ["< 2024-01-15 05:30+05:30", ">= 2024-01-15 05:30+05:30"],
        ),
        ("date32[day]", [19_723, 19_754], ["< 2024-01-01", "[2024-01-01, 2024-02-01)"]),
        ("date64[ms]", [_ms("2024-01-01")], ["< 2024-01-01", ">= 2024-01-01"]),
        ("time32[s]", [8 * 3600, 17 * 3600 + 1800], ["< 08:00", "[08:00, 17:30)"]),
        ("time64[ns]", [1_500_000_000], ["< 00:00:01.500", ">= 00:00:01.500"]),
        ("duration[ms]", [250, 1500], ["< 0.250 s", "[0.250 s, 1.500 s)"]),
        ("duration[s]", [90, 90_000], ["< 00:01:30", "[00:01:30, 1d 01:00:00)"]),
        (  # a constant baseline: edges c and nextafter(c); one value of c's unit in between
            "timestamp[ms]",
            [_ms("2024-01-01"), np.nextafter(float(_ms("2024-01-01")), np.inf)],
            ["< 2024-01-01 00:00:00.000", "= 2024-01-01 00:00:00.000"],
        ),
    ],
)
def test_temporal_bin_labels_are_dates_times_and_durations(dtype, edges, expected) -> None:
    """Temporal edges printed as numbers (``[1.7e+12, 1.7e+12)``) told nothing apart."""
    labels = _labels(edges, dtype)
    assert labels[: len(expected)] == expected
    assert labels[-1] == "missing" and len(set(labels)) == len(labels)


def test_temporal_edges_out_of_date_range_print_as_numbers() -> None:
    labels = _labels([-1e18, 1e18], "timestamp[s]")  # beyond year 9999
    assert labels[:3] == ["< -1e+18", "[-1e+18, 1e+18)", ">= 1e+18"]


def test_numeric_bin_labels_tell_adjacent_edges_apart() -> None:
    """``.4g`` printed 1e9 and 1e9 + 100 both as ``1e+09``: ``[1e+09, 1e+09)``."""
    edges = [1e9, 1e9 + 100, 1e9 + 200, 1e9 + 300]
    labels = _labels(edges)
    assert len(set(labels)) == len(labels)
    numbers = [float(x) for x in re.findall(r"[-+\d.e]+", " ".join(labels[1:-1]))]
    assert sorted(set(numbers)) == edges  # every edge shown to its last significant digit
    assert _labels([0.5, 1.25]) == ["< 0.5", "[0.5, 1.25)", ">= 1.25", "missing"]
    assert _labels([1 / 3, 2 / 3]) == ["< 0.3333", "[0.3333, 0.6667)", ">= 0.6667", "missing"]
    close = _labels([1.0, 1.0 + 2**-40, 1.0 + 2**-39])  # needs 13+ digits
    assert len(set(close)) == len(close)
    # a constant baseline's edges c and nextafter(c): the middle bin holds c alone
    assert _labels([5.0, np.nextafter(5.0, np.inf)]) == ["< 5", "= 5", "> 5", "missing"]
    assert _labels([1.0, 5.0, np.nextafter(5.0, np.inf), 9.0])[2:4] == ["= 5", "(5, 9)"]


def test_integer_bins_between_adjacent_floats_are_ranges() -> None:
    """Near 2**63 adjacent float64 edges are 1024 integers apart: such a bin is a range, not
    "= c" (which a constant's [c, nextafter(c)) is, as for an int column at 7)."""
    from skyfabric.drift._labels import numeric_bin_labels

    lo = float(np.iinfo(np.int64).min)
    labels = numeric_bin_labels(np.array([-np.inf, lo, np.nextafter(lo, np.inf), np.inf]), "int64")
    assert not any(label.startswith("=") for label in labels) and len(set(labels)) == 3
    seven = np.array([-np.inf, 7.0, np.nextafter(7.0, np.inf), np.inf])
    assert numeric_bin_labels(seven, "int64") == ["< 7", "= 7", "> 7"]
    assert numeric_bin_labels(seven, "uint8") == ["< 7", "= 7", "> 7"]


def test_html_anchors_are_valid_whatever_the_column_names() -> None:
    """Anchors were the names themselves: an id with a space or a newline is no valid id,
    and a browser strips the newline from the href. Headings had a trailing separator."""
    table = pa.table({"price $US": [1.0, 2.0] * 50, "new\nline_😀": [3.0, 4.0] * 50})
    page = to_html(check(fit_baseline(table), table))
    ids = re.findall(r'id="([^"]*)"', page)
    assert ids == ["col-0", "col-1"]
    assert re.findall(r'href="#([^"]*)"', page) == ids
    assert "price $US" in page and " · </p>" not in page


def test_report_plots_temporal_columns_with_dates_and_json_keeps_edges() -> None:
    """The check records each column's baseline dtype, so the plot labels are dates; the
    JSON keeps the float64 edges (labels are display only) and round-trips the dtype."""
    import json

    from skyfabric.drift.check import DriftResult
    from skyfabric.drift.report import figure_column

    ts = pa.array(
        np.arange(1000, dtype=np.int64) * 3_600_000 + 1_700_000_000_000, pa.timestamp("ms")
    )
    base = fit_baseline(pa.table({"ts": ts}))
    result = check(base, pa.table({"ts": ts}))
    assert result["ts"].dtype == "timestamp[ms]"
    ticks = [t.get_text() for t in figure_column(result["ts"]).axes[0].get_xticklabels()]
    assert ticks[0] == "< 2023-11-19 02:07:20"  # 1.7e12 ms + 99.9 h, the 10% quantile
    assert all("e+12" not in t for t in ticks)
    data = json.loads(result.to_json())
    col = data["columns"][0]
    assert col["dtype"] == "timestamp[ms]"
    assert col["baseline"]["edges"][1:-1] == base.columns["ts"].histogram.edges[1:-1].tolist()
    again = DriftResult.from_dict(data)
    assert again["ts"].dtype == "timestamp[ms]"
    assert bin_labels(again["ts"].baseline, again["ts"].dtype)[0] == ticks[0]
