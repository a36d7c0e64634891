"""notebooks/views_federated.ipynb runs top to bottom (nbclient, this venv's python3 kernel)."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "views_federated.ipynb"


def test_views_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("SKYFABRIC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SKYFABRIC_CONFIG", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "\n".join(o.get("text", "") or str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "CREATE OR REPLACE VIEW lake.analytics.carrier_360" in text
    assert "United Air Lines Inc." in text and "28936" in text  # first-half 2013 flights of UA
    assert "'year' is ambiguous" in text
    assert "s3.path-style-access=true" in text
