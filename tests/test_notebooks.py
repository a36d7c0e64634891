"""Every notebook in notebooks/ runs top to bottom once (nbclient, this venv's python3 kernel),
then its outputs are checked for what that notebook exists to show."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def _text(outputs: list[Any]) -> str:
    return "\n".join(
        (o.get("text", "") or "") + str(o.get("data", {}).get("text/plain", "")) + str(o.get("data", {}).get("text/html", ""))
        for o in outputs
    )


def _drift(outputs: list[Any], data_dir: Path) -> None:
    assert any("image/png" in o.get("data", {}) for o in outputs)  # a drift plot
    text = _text(outputs)
    assert "class=heat" in text and "2013-12" in text  # the monitor's trend heat map
    assert "flights-trend.html" in text


def _tables(outputs: list[Any], data_dir: Path) -> None:
    html = [o["data"].get("text/html", "") for o in outputs if "data" in o]
    assert any("carrier" in h and "mean_dep_delay" in h for h in html)  # polars features table
    assert (data_dir / "catalog.db").is_file()


def _views(outputs: list[Any], data_dir: Path) -> None:
    text = _text(outputs)
    assert "CREATE OR REPLACE VIEW lake.analytics.carrier_360" in text
    assert "United Air Lines Inc." in text and "28936" in text  # first-half 2013 flights of UA
    assert "'year' is ambiguous" in text
    assert "s3.path-style-access=true" in text


CHECKS: dict[str, Callable[[list[Any], Path], None]] = {
    "drift_flights.ipynb": _drift,
    "tables_flights.ipynb": _tables,
    "views_federated.ipynb": _views,
}


def test_each_capability_has_a_notebook() -> None:
    assert set(CHECKS) <= {p.name for p in NOTEBOOKS}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    data_dir = tmp_path / "data"
    monkeypatch.setenv("SKYFABRIC_DATA_DIR", str(data_dir))
    monkeypatch.delenv("SKYFABRIC_CONFIG", raising=False)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    check = CHECKS.get(path.name)
    if check is not None:
        check(outputs, data_dir)
