"""`%%workflow` cells are highlighted as YAML by the package's lab extension (JupyterLab 4 and
Notebook 7): keys take the YAML key colour, `for`/`in` in a prompt are not Python keywords, and a
cell follows its first line as it is edited."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e
HARMLESS = ("reading 'schema'",)  # Notebook 7's shortcuts extension, on every page
WORKFLOW = """%%workflow poem -i topic=cats
schema_version: "1.0"
nodes:
  - id: write
    prompt: Write a poem for {state.topic} in French
"""
PYTHON = "for x in range(3):\n    pass\n"

# Per code cell: its language and, for each highlighted span, text, colour and weight; plus the
# theme's colours for a YAML key (CodeMirror's `atom` tag) and a Python keyword.
READ = """() => {
  const probe = document.createElement('span');
  document.querySelector('.jp-Notebook').append(probe);
  const colour = name => { probe.style.color = `var(${name})`; return getComputedStyle(probe).color; };
  const theme = {key: colour('--jp-mirror-editor-atom-color'), keyword: colour('--jp-mirror-editor-keyword-color')};
  probe.remove();
  const cells = [...document.querySelectorAll('.jp-CodeCell .cm-content')].map(content => ({
    language: content.dataset.language,
    spans: [...content.querySelectorAll('.cm-line span')].map(s => ({
      text: s.textContent.trim(), color: getComputedStyle(s).color, weight: getComputedStyle(s).fontWeight}))}));
  return {theme, cells};
}"""


def _keywords(cell: dict[str, Any], theme: dict[str, str]) -> list[str]:
    return [s["text"] for s in cell["spans"] if s["color"] == theme["keyword"] and s["weight"] == "700"]


def _set_source(page: Any, index: int, source: str) -> None:
    page.evaluate("([i, text]) => jupyterapp.shell.currentWidget.content.widgets[i].model.sharedModel"
                  ".setSource(text)", [index, source])


def test_workflow_cells_are_highlighted_as_yaml(page: Any, jupyter_server: dict[str, str],
                                                jupyter_root: Path, artifacts: Path) -> None:
    name = f"highlight_{jupyter_server['app']}.ipynb"
    (jupyter_root / name).write_text(json.dumps({
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                     "language_info": {"name": "python", "codemirror_mode": {"name": "ipython", "version": 3}}},
        "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None, "outputs": [],
                   "source": source} for i, source in enumerate([WORKFLOW, PYTHON])]}))
    path = f"/lab/tree/{name}?reset" if jupyter_server["app"] == "lab" else f"/notebooks/{name}"
    page.goto(jupyter_server["base"] + path)
    languages = ".jp-CodeCell .cm-content"
    page.wait_for_function(f"""() => [...document.querySelectorAll('{languages}')]
        .map(c => c.dataset.language).join() === 'yaml,python'""", timeout=60_000)
    assert page.evaluate("() => jupyterapp.hasPlugin('agents-magic:workflow-yaml')")

    page.screenshot(path=str(artifacts / f"workflow_yaml_{jupyter_server['app']}.png"))
    seen = page.evaluate(READ)
    theme, (workflow, python) = seen["theme"], seen["cells"]
    assert theme["key"] != theme["keyword"]
    keys = {s["text"] for s in workflow["spans"] if s["color"] == theme["key"]}
    assert keys == {"schema_version", "nodes", "id", "prompt"}, workflow["spans"]
    assert _keywords(workflow, theme) == []  # `for` and `in` in the prompt are plain text
    assert {"for", "in", "pass"} <= set(_keywords(python, theme))  # the control: Python keywords

    # The cell follows its first line: without the magic it is Python, with it YAML again.
    _set_source(page, 0, WORKFLOW.split("\n", 1)[1])
    page.wait_for_function(f"() => document.querySelector('{languages}').dataset.language === 'python'")
    _set_source(page, 1, "%%workflow loop\nfor: each\n")
    page.wait_for_function(f"() => document.querySelectorAll('{languages}')[1].dataset.language === 'yaml'")
    seen = page.evaluate(READ)
    assert "for" in _keywords(seen["cells"][0], seen["theme"])
    assert [s["text"] for s in seen["cells"][1]["spans"] if s["color"] == seen["theme"]["key"]] == ["for"]
    assert [e for e in page.errors if not any(h in e for h in HARMLESS)] == []
