"""In a real kernel: interrupting a run while a notebook function is running as a tool cancels
the run at once and leaves the kernel usable, while the function finishes on its own."""

from __future__ import annotations

import queue
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "notebook"))
from am_nb_helpers import kernel_manager, write_kernelspec  # noqa: E402

pytestmark = pytest.mark.slow

DEFINE = '''
import threading
release, started = threading.Event(), threading.Event()

def slow_lookup(city: str) -> str:
    """Look a city up, slowly.

    Args:
        city: The city.
    """
    started.set()
    open("started", "w").close()
    release.wait(timeout=120)
    return "found " + city
'''

FLOW = '''%%workflow slowtool -i question=q --out res
schema_version: "1.0"
flow: {name: slowtool}
state: {fields: {question: {type: str, required: true}, answer: {type: str, default: ""}}}
nodes:
  - id: ask
    prompt: "{state.question}"
    outputs: [answer]
    tools: [slow_lookup]
    llm: {provider: mock, responses: [{tool_calls: [{name: slow_lookup, arguments: {city: Rome}}]}, done]}
edges: [{from: START, to: ask}, {from: ask, to: END}]
'''


def _run(kc, code: str, timeout: float = 60) -> tuple[dict, str]:
    msg_id = kc.execute(code)
    return _finish(kc, msg_id, timeout)


def _finish(kc, msg_id: str, timeout: float) -> tuple[dict, str]:
    deadline = time.monotonic() + timeout
    text = []
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no idle status within {timeout} s; so far: {text}") from None
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        content = msg["content"]
        if msg["msg_type"] == "status" and content["execution_state"] == "idle":
            break
        text += [content.get("text", ""), content.get("data", {}).get("text/plain", ""),
                 "\n".join(content.get("traceback", []))]
    while True:
        reply = kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply, "\n".join(text)


def test_an_interrupt_during_a_slow_tool_cancels_the_run(tmp_path):
    km = kernel_manager(write_kernelspec(tmp_path, tmp_path / "am-data"))
    km.start_kernel(cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        assert _run(kc, "%load_ext agents_magic\n" + DEFINE)[0]["content"]["status"] == "ok"
        msg_id = kc.execute(FLOW)
        # Wait until the tool is running (it leaves a file in the kernel's working directory).
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, "the tool never started"
            if (tmp_path / "started").exists():
                break
            time.sleep(0.05)
        km.interrupt_kernel()
        reply, shown = _finish(kc, msg_id, 30)
        assert reply["content"]["status"] == "ok", reply["content"]
        assert "slowtool · cancelled" in shown  # the view says so; with --out the result is in `res`
        assert "RunResult(" not in shown
        assert "Traceback" not in shown and "KeyboardInterrupt" not in shown
        # The kernel answers while the function is still blocked in its thread.
        reply, shown = _run(kc, "res.status, started.is_set(), release.is_set()", 30)
        assert "('cancelled', True, False)" in shown
        assert _run(kc, "release.set()")[0]["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
