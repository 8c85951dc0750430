"""Gates in every mode, and writing a variant back: to a file (with a backup) and as a new
cell in a real kernel."""

from __future__ import annotations

import queue
import time
from pathlib import Path

import pytest
from eval_helpers import qa_yaml

import agents_magic as am
from agents_magic.errors import AgentsMagicWarning
from agents_magic.evaluation import GateFailed
from agents_magic.evaluation._apply import ApplyRefused

WF = qa_yaml('{provider: mock, responses: ["Paris"]}')
DATA = [{"question": f"q{i}", "expected_answer": "Paris"} for i in range(6)]
ROME = {"A": {}, "B": {"nodes.answer.llm.responses": ["Rome"]}}


def test_gate_warn_only_warns():
    with pytest.warns(AgentsMagicWarning, match="B: exact_avg = 0, needs >= 0.9"):
        result = am.evaluate(WF, DATA, variants=ROME, progress=False,
                             gates={"gates": [{"metric": "exact_avg", "min": 0.9}], "on_fail": "warn"})
    assert result.status == "succeeded"
    assert result.gates[["variant", "passed", "action"]].values.tolist() == [
        ["A", True, "warn"], ["B", False, "warn"]]


def test_gate_fail_marks_failed_and_raises_outside_ipython(monkeypatch):
    monkeypatch.setattr("IPython.get_ipython", lambda: None)  # other tests may have made a shell
    gates = {"gates": [{"metric": "exact", "min": 0.9}, {"metric": "latency_ms_p95", "max": 60_000}],
             "on_fail": "fail"}
    with pytest.raises(GateFailed, match="`baseline` missed gate") as info:
        am.evaluate(qa_yaml('{provider: mock, responses: ["Rome"]}'), DATA, gates=gates, progress=False)
    result = info.value.result
    assert result.status == "failed"
    assert result.gates["passed"].tolist() == [False, True]
    passing = am.evaluate(WF, DATA, gates=gates, progress=False)
    assert passing.status == "succeeded" and passing.gates["passed"].all()


def test_gate_fail_judges_the_winner_only():
    # B misses the gate, but A wins: the evaluation stands.
    result = am.evaluate(WF, DATA, variants=ROME, progress=False,
                         gates={"gates": [{"metric": "exact", "min": 0.9}], "on_fail": "fail"})
    assert result.winner.name == "A" and result.status == "succeeded"


def test_gates_from_the_workflow_config_and_block_deploy(tmp_path):
    path = tmp_path / "qa.yaml"
    path.write_text(WF + "  gates:\n    gates: [{metric: exact, min: 0.9}]\n    on_fail: block_deploy\n")
    original = path.read_text()
    result = am.evaluate(path, DATA, variants=ROME, progress=False)
    assert result.gates["action"].unique().tolist() == ["block_deploy"]
    with pytest.raises(ApplyRefused, match="variant `B` missed block_deploy"):
        result.apply("B")
    assert path.read_text() == original and not list(tmp_path.glob("*.bak"))
    applied = result.apply("B", force=True)
    assert applied.target == "file" and "Rome" in path.read_text()
    assert Path(applied.backup).read_text() == original  # the original is recoverable
    assert "+" in applied.diff and "Rome" in applied.diff


def test_apply_winner_to_a_file_keeps_a_backup(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(qa_yaml('{provider: mock, responses: ["Rome"]}'))
    original = path.read_text()
    fixed = {"old": {}, "new": {"nodes.answer.llm.responses": ["Paris"]}}
    result = am.evaluate(path, DATA, variants=fixed, progress=False)
    assert result.winner.name == "new"
    applied = result.apply()
    assert applied.variant == "new" and applied.path == str(path)
    backups = list(tmp_path.glob("flow.yaml.*.bak"))
    assert [str(b) for b in backups] == [applied.backup]
    assert backups[0].read_text() == original
    reloaded = am.load(path)
    assert reloaded.spec.nodes[0].llm.responses == ["Paris"]
    assert not list(tmp_path.glob(".flow.yaml.*"))  # no temporary file left behind


def test_apply_without_a_winner_asks_for_a_name():
    result = am.evaluate(WF, DATA, variants={"A": {}, "B": {}}, progress=False)
    assert result.winner.name is None
    with pytest.raises(am.AgentsMagicError, match="no winner to apply"):
        result.apply()


@pytest.mark.slow
def test_apply_in_a_kernel_adds_a_new_cell(kernel_dirs):
    from am_nb_helpers import running_kernel

    with running_kernel(kernel_dirs) as (_, kc):
        cell = "%%workflow qa --no-run\n" + WF
        code = (
            "import agents_magic as am\n"
            f"data = {DATA!r}\n"
            "res = am.evaluate(qa, data, variants={'A': {}, 'B': {'nodes.answer.prompt': "
            "'Name the city: {question}'}}, progress=False)\n"
            "applied = res.apply('B')\n"
            "print(applied.target)")
        for source in ("%load_ext agents_magic", cell, code):
            reply = _execute(kc, source)
            assert reply["content"]["status"] == "ok", reply["content"]
        payloads = [p for p in reply["content"]["payload"] if p["source"] == "set_next_input"]
        assert len(payloads) == 1 and payloads[0]["replace"] is False
        text = payloads[0]["text"]
        assert text.startswith("%%workflow qa\n")
        assert "Name the city: {question}" in text
        am.load(text.split("\n", 1)[1])  # the new cell holds a valid workflow
        reply = _execute(kc, "assert qa.spec.nodes[0].prompt == 'Answer: {question}'")
        assert reply["content"]["status"] == "ok"  # the original is untouched


def _execute(kc, code: str, timeout: float = 90) -> dict:
    msg_id = kc.execute(code)
    deadline = time.monotonic() + timeout
    while True:
        try:
            reply = kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no reply to {code[:40]!r}") from None
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply
