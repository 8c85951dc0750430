"""The first evaluation of a fresh kernel, with the live progress widget: it is not held up by
loading a plotting stack, an interrupt stops it promptly with a partial result, and its output
keeps a readable static picture of the final state for saved notebooks."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.slow

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _evaluation(rows: int, latency_ms: int) -> str:
    return f'''import agents_magic as am
wf = am.load("""
schema_version: "1.0"
flow: {{name: slowmock}}
state: {{fields: {{text: {{type: str, required: true}}, out: {{type: str}}}}}}
nodes: [{{id: talk, prompt: "Say {{state.text}}", outputs: [out]}}]
edges: [{{from: START, to: talk}}, {{from: talk, to: END}}]
config: {{llm: {{provider: mock, params: {{latency_ms: {latency_ms}}}}}}}
""")
res = am.evaluate(wf, [{{"text": f"t{{i}}"}} for i in range({rows})], concurrency=2, persist=False)'''


@pytest.fixture
def kernel(kernel_dirs: list[str]) -> Iterator[tuple[Any, Any]]:
    from am_nb_helpers import running_kernel

    with running_kernel(kernel_dirs) as started:
        yield started


def _until_idle(kc: Any, msg_id: str, timeout: float, seen: Any = None) -> list[dict[str, Any]]:
    """The iopub messages of ``msg_id`` up to its idle status; ``seen(msg)`` sees each first."""
    deadline = time.monotonic() + timeout
    messages = []
    while True:
        msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return messages
        messages.append(msg)
        if seen is not None:
            seen(msg)


def _value(kc: Any, expression: str) -> str:
    msg_id = kc.execute(expression)
    messages = _until_idle(kc, msg_id, 30)
    errors = [m["content"] for m in messages if m["msg_type"] == "error"]
    assert not errors, errors
    (result,) = [m["content"]["data"]["text/plain"] for m in messages if m["msg_type"] == "execute_result"]
    return str(result)


def test_the_first_evaluation_of_a_kernel_is_quick_and_leaves_a_static_picture(kernel) -> None:
    _km, kc = kernel
    started = time.monotonic()
    msg_id = kc.execute(_evaluation(rows=5, latency_ms=0))
    messages = _until_idle(kc, msg_id, 120)
    elapsed = time.monotonic() - started
    assert not [m for m in messages if m["msg_type"] == "error"], messages
    assert elapsed < 30, f"a 5-row evaluation took {elapsed:.1f}s in a fresh kernel"
    # Nothing of plotly's widget stack was loaded for the progress box.
    assert _value(kc, "import sys; 'plotly.basewidget' in sys.modules") == "False"
    assert _value(kc, "res.status, len(res.rows)") == "('succeeded', 5)"
    shown = [m["content"]["data"] for m in messages
             if m["msg_type"] in ("display_data", "update_display_data")
             and WIDGET_VIEW in m["content"]["data"]]
    final = shown[-1]  # what the saved notebook keeps
    assert final["text/plain"].startswith("eval slowmock-eval · succeeded · 5/5 rows · 0 failed · $")
    assert "VBox" not in final["text/plain"]
    assert "eval slowmock-eval · succeeded · 5/5 rows" in final["text/html"]
    assert "<svg" in final["text/html"] and "<polyline" in final["text/html"]


def test_an_interrupt_stops_the_first_evaluation_promptly_with_a_partial_result(kernel) -> None:
    km, kc = kernel
    rows_done = [0]

    def count_rows(msg: dict[str, Any]) -> None:  # the status line as the widget's comm sends it
        value = msg["content"].get("data", {}).get("state", {}).get("value", "")
        found = re.search(r"· (\d+)/20 rows", value) if isinstance(value, str) else None
        if found:
            rows_done[0] = max(rows_done[0], int(found.group(1)))

    msg_id = kc.execute(_evaluation(rows=20, latency_ms=400))
    deadline = time.monotonic() + 90
    while rows_done[0] < 2:  # rows are finishing: the evaluation is under way
        assert time.monotonic() < deadline, "no row of the evaluation finished"
        msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") == msg_id:
            assert msg["msg_type"] != "error", msg["content"]
            count_rows(msg)
    interrupted = time.monotonic()
    km.interrupt_kernel()
    _until_idle(kc, msg_id, 60, count_rows)
    stopped_after = time.monotonic() - interrupted
    assert stopped_after < 10, f"the interrupt took {stopped_after:.1f}s to stop the evaluation"
    status, done = eval(_value(kc, "res.status, len(res.rows)"))
    assert status == "cancelled" and 2 <= done < 20
