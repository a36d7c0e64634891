"""notebooks/tables_*.ipynb run top to bottom (nbclient) and read the table into polars."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("tables_*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_tables_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("SKYFABRIC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SKYFABRIC_CONFIG", raising=False)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = [o["data"].get("text/html", "") for o in outputs if "data" in o]
    assert any("carrier" in h and "mean_dep_delay" in h for h in html)  # polars features table
    assert (tmp_path / "data" / "catalog.db").is_file()


def test_there_is_a_tables_notebook() -> None:
    assert NOTEBOOKS, "notebooks/tables_*.ipynb is missing"
