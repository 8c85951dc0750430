"""The live run view in a real browser: nodes go running → succeeded while the run is in flight,
a click opens a node's prompt, a failed node shows its error, Stop cancels a run, and the runs
browser shows two stored runs side by side (JupyterLab 4 and Notebook 7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e
HARMLESS = ("reading 'schema'",)  # Notebook 7's shortcuts extension, on every page


def _flow(base_url: str) -> str:
    return f"""%%workflow fan -i topic=cats
schema_version: "1.0"
flow: {{name: fan}}
state:
  fields:
    topic: {{type: str, required: true}}
    a: {{type: str}}
    b: {{type: str}}
    joined: {{type: str}}
nodes:
  - {{id: first, prompt: "First about {{state.topic}}", outputs: [a]}}
  - {{id: second, prompt: "Second about {{state.topic}}", outputs: [b]}}
  - {{id: join, prompt: "Join {{state.a}} and {{state.b}}", outputs: [joined]}}
edges:
  - {{from: START, to: [first, second]}}
  - {{from: first, to: join}}
  - {{from: second, to: join}}
  - {{from: join, to: END}}
config:
  llm: {{provider: openai, model: fake-model, api_base: "{base_url}"}}
  execution: {{max_retries: 0, timeout: 60}}
"""


def _one_node(name: str, prompt: str, base_url: str) -> str:
    return f"""%%workflow {name} -i topic=dogs
schema_version: "1.0"
flow: {{name: {name}}}
state: {{fields: {{topic: {{type: str, required: true}}, out: {{type: str}}}}}}
nodes: [{{id: crawl, prompt: "{prompt} {{state.topic}}", outputs: [out]}}]
edges: [{{from: START, to: crawl}}, {{from: crawl, to: END}}]
config:
  llm: {{provider: openai, model: fake-model, api_base: "{base_url}"}}
  execution: {{max_retries: 0, timeout: 60}}
"""


def _notebook(cells: list[str]) -> dict[str, Any]:
    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None,
                       "outputs": [], "source": src} for i, src in enumerate(cells)]}


def test_nodes_light_up_detail_opens_and_stop_cancels(page: Any, jupyter_server: dict[str, str],
                                                      jupyter_root: Path, fake_llm: Any,
                                                      artifacts: Path) -> None:
    from playwright.sync_api import expect

    fake_llm.configure(latency_ms=700, rules=[
        {"match": "First about", "content": " ".join(f"word{i}" for i in range(30)),
         "stream_interval_ms": 80},
        {"match": "Crawl very slowly", "delay_ms": 60_000},
        {"match": "Break down", "status": 500, "message": "the upstream broke"}])
    name = f"live_{jupyter_server['app']}.ipynb"
    (jupyter_root / name).write_text(json.dumps(_notebook(
        ["%load_ext agents_magic", _flow(fake_llm.base_url),
         _one_node("broken", "Break down", fake_llm.base_url),
         _one_node("slow", "Crawl very slowly", fake_llm.base_url), "%workflow runs --browse --last 3"])))
    path = f"/lab/tree/{name}?reset" if jupyter_server["app"] == "lab" else f"/notebooks/{name}"
    page.goto(jupyter_server["base"] + path)
    page.wait_for_function(
        "() => window.jupyterapp && jupyterapp.shell.currentWidget && jupyterapp.shell.currentWidget"
        ".sessionContext?.session?.kernel?.status === 'idle'", timeout=60_000)
    # Not awaited: the cells run while the test watches the page.
    page.evaluate("() => { const w = jupyterapp.shell.currentWidget; w.context.ready.then(() =>"
                  " jupyterapp.commands.execute('notebook:run-all-cells')); return true; }")

    fan = page.locator(".am-run").filter(has=page.locator(".am-run-name", has_text="fan"))
    first = fan.locator('g.am-node[data-node="first"]')
    # Live, not only at the end: the node is seen running while the run is still going.
    expect(first).to_have_attribute("data-state", "running", timeout=60_000)
    expect(fan).to_have_attribute("data-status", "running")
    expect(fan.locator('g.am-node[data-node="join"]')).to_have_attribute("data-state", "pending")
    # The streamed-text strip shows the tokens of a node while it is still running.
    page.wait_for_function("""() => [...document.querySelectorAll('.am-run')].some(run =>
        run.querySelector('.am-run-name')?.textContent === 'fan'
        && run.querySelector('g.am-node[data-node="first"]')?.dataset.state === 'running'
        && /word\\d+ word\\d+/.test(run.querySelector('.am-stream-line[data-node="first"]')?.textContent || ''))""",
                           timeout=30_000)
    expect(first).to_have_attribute("data-state", "succeeded", timeout=30_000)
    expect(fan.locator('g.am-node[data-node="join"]')).to_have_attribute("data-state", "succeeded",
                                                                         timeout=30_000)
    expect(fan).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(fan.locator(".am-run-numbers")).to_contain_text("3/3 nodes")
    fan.locator(".am-run-costs > summary").click()
    expect(fan.locator(".am-costs-group").first.locator(".am-bar-row")).to_have_count(3)

    fan = page.locator(".am-run").filter(has=page.locator(".am-run-name", has_text="fan"))
    fan.locator('g.am-node[data-node="second"]').click()
    detail = fan.locator(".am-run-detail")
    expect(detail).to_be_visible()
    expect(detail).to_have_attribute("data-node", "second")
    expect(detail).to_contain_text("Second about cats")  # the rendered prompt

    broken = page.locator(".am-run").filter(has=page.locator(".am-run-name", has_text="broken"))
    expect(broken).to_have_attribute("data-status", "failed", timeout=60_000)
    expect(broken.locator('g.am-node[data-node="crawl"]')).to_have_attribute("data-state", "failed")
    broken.locator('g.am-node[data-node="crawl"]').focus()
    page.keyboard.press("Enter")  # keyboard-accessible nodes
    expect(broken.locator(".am-run-detail")).to_contain_text("server error: HTTP 500: the upstream broke")

    slow = page.locator(".am-run").filter(has=page.locator(".am-run-name", has_text="slow"))
    expect(slow.locator('g.am-node[data-node="crawl"]')).to_have_attribute("data-state", "running",
                                                                           timeout=60_000)
    slow.locator(".am-run-stop").click()
    expect(slow).to_have_attribute("data-status", "cancelled", timeout=30_000)
    expect(slow.locator('g.am-node[data-node="crawl"]')).to_have_attribute("data-state", "cancelled")
    # The runs browser: the stored runs, two selected side by side with their differences.
    rows = page.locator(".am-runs tr[data-run]")
    expect(rows).to_have_count(3, timeout=30_000)
    page.locator(".am-runs-filter").fill("slow")
    expect(rows).to_have_count(1)
    page.locator(".am-runs-filter").fill("")
    rows.nth(0).click()
    expect(page.locator(".am-runs-view .am-run")).to_have_count(1, timeout=30_000)
    rows.nth(1).click()
    expect(page.locator(".am-runs-view .am-run")).to_have_count(2, timeout=30_000)
    expect(page.locator(".am-runs-diff tr[data-node]").first).to_be_visible()
    # p50/p95/p99 per node across the selected workflow's runs, with a bar of the spread
    spread = page.locator(".am-runs-percentiles")
    expect(spread).to_contain_text("p50 → p99")
    expect(spread.locator("tr[data-node] .am-spread").first).to_be_visible()
    if jupyter_server["app"] == "lab":  # the view follows the theme: a picture for the eye
        page.evaluate("() => jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'"
                               " && !document.querySelector('#jupyterlab-splash')")
        fan.scroll_into_view_if_needed()
        fan.screenshot(path=str(artifacts / "run_view_dark.png"))
    errors = [e for e in page.errors if not any(h in e for h in HARMLESS)]
    assert not errors, errors
