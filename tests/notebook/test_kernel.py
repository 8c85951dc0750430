"""In a real Jupyter kernel (this venv's Python): every tutorial notebook runs top to bottom, and
a kernel interrupt cancels a running workflow, leaving the kernel usable."""

from __future__ import annotations

import queue
import time
from pathlib import Path
from typing import Any

import pytest
from am_nb_helpers import REPO, kernel_manager, running_kernel, two_step, write_kernelspec

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path: Path, tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    # As a user runs them: with the run store on (in this test's data dir), for the runs browser.
    kernel_dirs = write_kernelspec(tmp_path, tmp_path / "kernel-data", {"AGENTS_MAGIC_STORE": "1"})
    client = NotebookClient(nb, km=kernel_manager(kernel_dirs), timeout=120,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on an error in a cell not tagged raises-exception
    expected_failures = 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        stderr = [o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
        assert not stderr, f"cell {index} wrote to stderr: {stderr}"
        if "raises-exception" in cell.metadata.get("tags", []):
            expected_failures += 1
            assert errors, f"cell {index} is tagged raises-exception but did not fail"
            assert errors[0].ename in ("ConfigError", "InputError", "ProviderError", "UsageError")
            # Rendered by _render_traceback_: the message, no Python traceback.
            assert not any("Traceback" in line or "File \"" in line for line in errors[0].traceback)
        else:
            assert not errors, f"cell {index} failed: {errors[0].ename}: {errors[0].evalue}"
    assert expected_failures <= 1


def _execute(kc: Any, code: str, timeout: float = 60) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run ``code``; return the execute_reply and the iopub messages of that request."""
    msg_id = kc.execute(code)
    return _collect(kc, msg_id, timeout)


def _collect(kc: Any, msg_id: str, timeout: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    deadline = time.monotonic() + timeout
    outputs: list[dict[str, Any]] = []
    while True:
        msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
        outputs.append(msg)
    reply = _reply(kc, msg_id, deadline)
    return reply, outputs


def _reply(kc: Any, msg_id: str, deadline: float) -> dict[str, Any]:
    while True:
        reply = kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply  # type: ignore[no-any-return]


def _text(outputs: list[dict[str, Any]]) -> str:
    parts = []
    for msg in outputs:
        content = msg["content"]
        parts.append(content.get("text", ""))
        parts.append(content.get("data", {}).get("text/plain", ""))
        parts.append("\n".join(content.get("traceback", [])))
    return "\n".join(parts)


def test_interrupt_cancels_a_run(kernel_dirs: list[str], llm: Any) -> None:
    llm.configure(latency_ms=10_000)
    with running_kernel(kernel_dirs) as (km, kc):
        reply, _ = _execute(kc, "%load_ext agents_magic")
        assert reply["content"]["status"] == "ok"
        msg_id = kc.execute("%%workflow slow -i topic=cats --out res\n" + two_step(llm.base_url))
        deadline = time.monotonic() + 30
        while not llm.requests():  # until the second node's call is in flight on the fake server
            assert time.monotonic() < deadline, "the run never reached the LLM"
            time.sleep(0.05)
        km.interrupt_kernel()  # how fast it stops: benchmarks/bench_notebook.py
        reply = _reply(kc, msg_id, time.monotonic() + 30)
        outputs = _drain(kc, msg_id)
        assert reply["content"]["status"] == "ok", reply["content"]
        shown = _text(outputs)
        assert "slow · cancelled" in shown  # the view (its text: the progress lines) says it
        # With --out the result goes to `res` and the cell shows the view only, as when it succeeds.
        assert "RunResult(" not in shown
        assert not [m for m in outputs if m["msg_type"] == "execute_result"]
        reply, outputs = _execute(kc, "res.status, res.outputs['draft'][:10]")
        assert reply["content"]["status"] == "ok"
        assert "('cancelled', 'Mock reply')" in _text(outputs)  # the partial result is kept
        reply, outputs = _execute(kc, "1 + 1")
        assert reply["content"]["status"] == "ok" and "2" in _text(outputs)


def _drain(kc: Any, msg_id: str, timeout: float = 10) -> list[dict[str, Any]]:
    """Iopub messages of ``msg_id`` up to its idle status."""
    deadline = time.monotonic() + timeout
    outputs = []
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=0.5)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
        outputs.append(msg)
    return outputs
