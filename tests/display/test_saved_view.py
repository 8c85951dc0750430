"""In a real kernel: the tutorial's run leaves a widget whose saved state is the final picture,
and a static HTML picture in the same output for readers without widgets (GitHub, nbconvert)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "notebook"))
from am_nb_helpers import REPO, kernel_manager, write_kernelspec  # noqa: E402

pytestmark = pytest.mark.slow
WIDGET = "application/vnd.jupyter.widget-view+json"


def test_a_saved_notebook_keeps_the_final_view(tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(REPO / "notebooks" / "02_live_view.ipynb", as_version=4)
    km = kernel_manager(write_kernelspec(tmp_path, tmp_path / "data", {"AGENTS_MAGIC_STORE": "1"}))
    NotebookClient(nb, km=km, timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    run_cell = next(c for c in nb.cells if c.source.startswith("%%workflow launch"))
    views = [o for o in run_cell.outputs if WIDGET in o.get("data", {})]
    assert len(views) == 1  # the placeholder became the view: one output, not two
    data = views[0]["data"]
    assert data["text/plain"].startswith("launch · succeeded in ")
    html = data["text/html"]
    assert "mathjax_ignore" in html and html.count("#dafbe1") == 5 and "$" not in html

    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    model = state[data[WIDGET]["model_id"]]["state"]
    assert model["status"] == "succeeded" and model["totals"]["done"] == 5
    assert model["nodes"]["pitch"]["runs"] == 2 and model["nodes"]["review"]["runs"] == 2
    # the view redraws from the notebook alone
    assert re.search(r"export \{[^}]*\bas default\b", model["_esm"])

    # Saved without widget state (JupyterLab's default), nbconvert shows the static picture.
    from nbconvert import HTMLExporter

    del nb.metadata["widgets"]
    page, _ = HTMLExporter().from_notebook_node(nb)
    # one per run: the fan-out cell, Workflow.run, the retries cell and the failed run; and the
    # two runs the diff selected, under their differences
    assert page.count("am-run-static") == 4 + 2 and "#dafbe1" in page
    # the runs browser twice (`%workflow runs --browse`, then the diff): a table of the runs
    assert page.count("am-runs-static") == 2 and "<b>differences</b> (first → second)" in page
