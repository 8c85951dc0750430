"""In a real kernel: the "preparing the run" placeholder of a ``%%workflow`` cell never stays in
the saved notebook — cells that do not run never show it, and a run that fails before it starts
leaves a line saying so instead of an empty output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from am_nb_helpers import SUMMARIZE, kernel_manager

pytestmark = pytest.mark.slow
PREPARING = "preparing the run"
NO_KEY = SUMMARIZE.replace("provider: mock", "provider: openai, model: gpt-4o-mini")


def _texts(cell: Any) -> list[str]:
    """The text/plain of each output of a saved cell (streams and errors as their text)."""
    texts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            texts.append(output.text)
        elif output.output_type == "error":
            texts.append(f"{output.ename}: {output.evalue}")
        else:
            texts.append(output.get("data", {}).get("text/plain", ""))
    return texts


def test_cells_that_do_not_run_leave_no_placeholder(kernel_dirs: list[str], tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    sources = {
        "no_run": f"%%workflow summarize --no-run\n{SUMMARIZE}",
        "no_inputs": f"%%workflow summarize\n{SUMMARIZE}",
        "missing_input": f"%%workflow summarize -i lenght=3\n{SUMMARIZE}",
        "invalid": "%%workflow broken\nschema_version: \"1.0\"\nflow: {name: broken}\nnodes: [{id: a}]\n",
        "dry_run": f"%%workflow summarize --dry-run -i text=hi\n{SUMMARIZE}",
        "no_key": f"%%workflow nokey -i text=hi\n{NO_KEY}",
        "runs": f"%%workflow summarize -i text=hi\n{SUMMARIZE}",
    }
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%load_ext agents_magic")] + [
        nbformat.v4.new_code_cell(source) for source in sources.values()])
    NotebookClient(nb, km=kernel_manager(kernel_dirs), timeout=120, allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    saved = dict(zip(sources, nb.cells[1:]))
    for label, cell in saved.items():
        texts = _texts(cell)
        assert texts, f"{label}: no output at all"
        assert all(t.strip() for t in texts), f"{label}: an empty output is left: {cell.outputs}"
        assert not any(PREPARING in t for t in texts), f"{label}: the placeholder is left: {texts}"
    assert "not run (--no-run)" in _texts(saved["no_run"])[0]
    assert "not run: it needs `text`" in _texts(saved["no_inputs"])[0]
    assert [o.ename for o in saved["missing_input"].outputs] == ["InputError"]
    assert [o.ename for o in saved["invalid"].outputs] == ["ConfigError"]
    # The run was refused before it started: the placeholder became a line saying so.
    no_key = _texts(saved["no_key"])
    assert no_key[0] == "nokey · not run" and no_key[-1].startswith("ProviderError: ")
    assert any("succeeded" in t for t in _texts(saved["runs"]))
