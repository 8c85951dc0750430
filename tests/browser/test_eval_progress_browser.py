"""The evaluation progress view in a real browser: an ipywidgets box with a status line, a Stop
button and the latency percentile curves (an inline SVG); rows done go up while the evaluation
is in flight and the curve is drawn (JupyterLab 4 and Notebook 7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_run_view_browser import HARMLESS, _notebook

pytestmark = pytest.mark.e2e

EVALUATE = '''import agents_magic as am
wf = am.load("""
schema_version: "1.0"
flow: {name: slowmock}
state: {fields: {text: {type: str, required: true}, out: {type: str}}}
nodes: [{id: talk, prompt: "Say {state.text}", outputs: [out]}]
edges: [{from: START, to: talk}, {from: talk, to: END}]
config: {llm: {provider: mock, params: {latency_ms: 500}}}
""")
result = am.evaluate(wf, [{"text": f"t{i}"} for i in range(20)], concurrency=2, persist=False)
result'''

_ROWS = """() => { const label = [...document.querySelectorAll('.widget-label')]
    .map(l => l.textContent).find(t => t.startsWith('eval slowmock-eval'));
  const m = label && label.match(/· (\\w+) · (\\d+)\\/20 rows/);
  return m ? [m[1], Number(m[2])] : null; }"""


def test_eval_progress_counts_rows_live_and_draws_the_percentile_curve(
        page: Any, jupyter_server: dict[str, str], jupyter_root: Path, artifacts: Path) -> None:
    from playwright.sync_api import expect

    name = f"eval_{jupyter_server['app']}.ipynb"
    (jupyter_root / name).write_text(json.dumps(_notebook([EVALUATE])))
    path = f"/lab/tree/{name}?reset" if jupyter_server["app"] == "lab" else f"/notebooks/{name}"
    page.goto(jupyter_server["base"] + path)
    page.wait_for_function(
        "() => window.jupyterapp && jupyterapp.shell.currentWidget && jupyterapp.shell.currentWidget"
        ".sessionContext?.session?.kernel?.status === 'idle'", timeout=60_000)
    # Every state of the status line is collected as it is drawn, from before the cell runs.
    page.evaluate(f"() => {{ window.__seen = []; setInterval(() => {{ const s = ({_ROWS})();"
                  " if (s && (!__seen.length || __seen.at(-1).join() !== s.join())) __seen.push(s);"
                  " }, 20); }")
    page.evaluate("() => { const w = jupyterapp.shell.currentWidget; w.context.ready.then(() =>"
                  " jupyterapp.commands.execute('notebook:run-all-cells')); return true; }")
    box = page.locator(".widget-vbox").filter(has=page.locator("button", has_text="Stop"))
    expect(box.locator("button", has_text="Stop")).to_be_visible(timeout=60_000)
    page.wait_for_function("() => __seen.length && __seen.at(-1)[0] !== 'running'", timeout=60_000)
    seen = page.evaluate("() => __seen")
    assert seen[-1] == ["succeeded", 20]
    # Drawn while running, with more rows done each time: the view updates live.
    running = [rows for status, rows in seen if status == "running"]
    assert running == sorted(running) and len({r for r in running if 0 < r < 20}) >= 2, seen
    expect(box.locator("button", has_text="Stop")).to_be_disabled()  # nothing left to stop
    # The latency curve: one line drawn from the rows' latencies.
    expect(box.locator("svg.am-eval-curve polyline")).to_have_count(1, timeout=30_000)
    box.screenshot(path=str(artifacts / f"eval_progress_{jupyter_server['app']}.png"))
    errors = [e for e in page.errors if not any(h in e for h in HARMLESS)]
    assert not errors, errors
