"""Code nodes in workflows: inputs in, result through outputs, print as the response, $0."""

from __future__ import annotations

import warnings

import pytest

import agents_magic as am
from agents_magic.engine import events as ev
from agents_magic.errors import ConfigError

FLOW = """\
schema_version: "1.0"
flow: {name: code}
state:
  fields:
    input_numbers: {type: "list[int]", required: true}
    total: {type: int}
    stats: {type: object, schema: {mean: float, n: int}}
    answer: {type: str}
nodes:
  - id: add
    code: |
      print("adding", len(inputs["numbers"]))
      result = sum(inputs["numbers"])
    inputs: {numbers: "{input_numbers}"}
    outputs: [total]
    output_schema: {type: int}
    sandbox: {preset: low, timeout: 5}
  - id: stats
    code: |
      import statistics
      xs = inputs["xs"]
      result = {"stats": {"mean": statistics.mean(xs), "n": len(xs)}}
    inputs: {xs: "{input_numbers}"}
    outputs: [stats]
    output_schema:
      type: object
      fields: [{name: stats, type: object, schema: {mean: float, n: int}}]
  - {id: ask, prompt: "Total {total}", outputs: [answer]}
edges:
  - {from: START, to: add}
  - {from: add, to: stats}
  - {from: stats, to: ask}
  - {from: ask, to: END}
config: {llm: {provider: mock}}
"""


def test_code_nodes_run_with_inputs_outputs_and_print():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wf = am.load(FLOW)
    seen = []
    result = am.run(wf, {"input_numbers": [1, 2, 3, 4]}, sinks=[seen.append])
    assert result.outputs["total"] == 10
    assert result.outputs["stats"] == {"mean": 2.5, "n": 4}
    assert result.outputs["answer"] == "Mock reply to: Total 10"
    finished = {e.node_id: e for e in seen if isinstance(e, ev.NodeFinished)}
    assert finished["add"].response == "adding 4\n" and finished["add"].cost_usd == 0
    assert (finished["add"].provider, finished["add"].model) == ("sandbox", "python")  # no LLM
    started = [e for e in seen if isinstance(e, ev.NodeStarted) and e.node_id == "add"]
    assert started and result.cost_usd == 0


def test_a_result_that_does_not_fit_the_outputs_fails_the_node():
    wf = am.load(FLOW.replace('result = sum(inputs["numbers"])', 'result = "ten"'))
    result = am.run(wf, {"input_numbers": [1]})
    assert not result.ok and "`result` does not fit the node's outputs" in result.error


def test_a_blocked_operation_fails_the_run_with_its_message():
    wf = am.load(FLOW.replace('result = sum(inputs["numbers"])', 'result = open("/etc/passwd")'))
    result = am.run(wf, {"input_numbers": [1]})
    line = FLOW.splitlines().index('      result = sum(inputs["numbers"])') + 1  # in the text
    assert not result.ok and f"line {line}: `open` is not available in a code node" in result.error
    assert result.error.endswith("(line 2 of `code`)")


def test_the_node_sandbox_settings_apply():
    wf = am.load(FLOW.replace('result = sum(inputs["numbers"])', "while True:\n        pass")
                 .replace("{preset: low, timeout: 5}", "{preset: max, timeout: 0.5}"))
    result = am.run(wf, {"input_numbers": [1]})
    assert not result.ok and "0.5 s time limit" in result.error


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        am.load(text, line_offset=10)
    return [str(p) for p in caught.value.problems]


def test_a_syntax_error_names_its_line_in_the_cell():
    (problem,) = _problems(FLOW.replace('result = sum(inputs["numbers"])', 'result = sum(inputs["numbers"]'))
    line = FLOW.splitlines().index('      result = sum(inputs["numbers"])') + 1
    assert problem.startswith(f"line {line + 10}:") and "Python syntax error in `code`" in problem


def test_a_blocked_import_is_reported_at_load_time():
    (problem,) = _problems(FLOW.replace("      import statistics", "      import os"))
    line = FLOW.splitlines().index("      import statistics") + 1
    assert problem.startswith(f"line {line + 10}:") and "`import os` is not allowed in a code node" in problem


@pytest.mark.parametrize("section,message", [
    ("{preset: lo}", "unknown sandbox preset `lo`"),
    ("{timout: 5}", "unknown sandbox setting `timout`"),
    ("{timeout: soon}", "must be a number"),
    ("{mode: javascript}", "`mode` can only be `python`")])
def test_sandbox_settings_are_checked(section, message):
    (problem,) = _problems(FLOW.replace("{preset: low, timeout: 5}", section))
    assert message in problem and "nodes[0].sandbox" in problem


def test_network_true_loads_with_a_warning_and_the_code_stays_offline():
    text = FLOW.replace("{preset: low, timeout: 5}", "{preset: low, network: true}")
    from agents_magic.errors import AgentsMagicWarning

    with pytest.warns(AgentsMagicWarning, match="never have network access"):
        wf = am.load(text)
    line = text.splitlines().index("    sandbox: {preset: low, network: true}") + 1
    assert any(w.startswith(f"line {line}:") for w in wf.warnings)
    assert am.run(wf, {"input_numbers": [2, 3]}).outputs["total"] == 5


def test_configurable_agents_sandbox_sections_are_understood():
    from agents_magic.sandbox._limits import from_section

    section = {"mode": "python", "enabled": True, "network": False, "preset": "low",
               "resources": {"memory_mb": 128}, "timeout": 10}
    assert (from_section(section).memory_mb, from_section(section).timeout_s) == (128, 10)
    wf = am.load(FLOW.replace("{preset: low, timeout: 5}", "{mode: python, enabled: true, "
                              "network: false, preset: low, resources: {memory_mb: 300}, timeout: 10}"))
    assert am.run(wf, {"input_numbers": [2, 3]}).outputs["total"] == 5


def test_a_prompt_beside_code_describes_the_step_and_the_code_runs():
    """configurable-agents writes both on its code nodes; the code is what runs."""
    wf = am.load(FLOW.replace("  - id: add\n", "  - id: add\n    prompt: Sum the input numbers\n"))
    assert wf.spec.nodes[0].kind == "code"
    assert am.run(wf, {"input_numbers": [2, 3]}).outputs["total"] == 5


def test_loading_a_code_node_keeps_restrictedpython_out_of_the_kernel():
    import subprocess
    import sys

    script = ("import sys, agents_magic as am\n"
              f"am.load({FLOW!r})\n"
              "print('RestrictedPython' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def test_cancelling_a_run_kills_the_busy_worker():
    import asyncio
    import time

    from agents_magic.engine._run import execute
    from agents_magic.sandbox import _pool

    spin = am.load(FLOW.replace('print("adding", len(inputs["numbers"]))',
                                "while True:\n        pass").replace(
        "{preset: low, timeout: 5}", "{preset: max}"))  # 300 s of limits: only a kill stops it
    seen: list = []
    holder: list = []

    async def main():
        task = asyncio.create_task(execute(spin, {"input_numbers": [1]}, sinks=[seen.append],
                                           result_holder=holder))
        while not any(isinstance(e, ev.NodeStarted) for e in seen):
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert holder[0].status == "cancelled"
    deadline = time.monotonic() + 10  # the kill comes within milliseconds; this is only a bound
    while True:
        busy = [pid for pid in _sandbox_pids() if pid not in {w.pid for w in _pool.POOL.idle}]
        if not busy or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert busy == []


def _sandbox_pids() -> list[int]:
    import os

    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if b"agents_magic.sandbox._worker" in f.read():
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


def test_an_exception_in_the_code_names_its_line_in_the_cell():
    broken = FLOW.replace('      result = sum(inputs["numbers"])', '      result = sum(inputs["numbers"]) / 0')
    line_in_text = broken.splitlines().index('      result = sum(inputs["numbers"]) / 0') + 1
    result = am.run(am.load(broken, line_offset=1), {"input_numbers": [1]}, persist=False)
    assert result.status == "failed"
    assert f"line {line_in_text + 1}: ZeroDivisionError" in result.error
    assert "(line 2 of `code`)" in result.error


def test_a_code_node_is_retried_only_when_it_asks():
    failing = FLOW.replace('      result = sum(inputs["numbers"])', '      result = 1 / 0')

    def retries(section: str) -> tuple[str, list]:
        seen: list = []
        result = am.run(am.load(failing.replace("{preset: low, timeout: 5}", section)),
                        {"input_numbers": [1]}, sinks=[seen.append], persist=False)
        return result.status, [e for e in seen if isinstance(e, ev.NodeRetrying)]

    assert retries("{preset: low}") == ("failed", [])
    status, retried = retries("{preset: low, retries: 2}")
    assert status == "failed" and [e.attempt for e in retried] == [1, 2]
    assert all(e.kind == "SandboxCodeError" and "ZeroDivisionError" in e.cause for e in retried)


def test_the_shared_sandbox_section_is_checked_and_applies():
    text = FLOW.replace("    sandbox: {preset: low, timeout: 5}\n", "").replace(
        "config: {llm: {provider: mock}}", "config: {llm: {provider: mock}, sandbox: {preset: hgih}}")
    with pytest.raises(ConfigError, match="unknown sandbox preset `hgih`"):
        am.load(text)
    wf = am.load(text.replace("preset: hgih", "preset: low, timeout: 5"))
    assert am.run(wf, {"input_numbers": [2, 3]}, persist=False).outputs["total"] == 5
