"""The offline mock provider: scripted replies, schema-synthesised values, $0, real events."""

from __future__ import annotations

import subprocess
import sys

import agents_magic as am
from agents_magic.engine import events as ev

FLOW = """
schema_version: "1.0"
flow: {name: m}
state:
  fields:
    q: {type: str, required: true}
    answer: {type: str}
    facts:
      type: object
      schema: {count: int, ratio: float, ok: bool, tags: "list[str]"}
nodes:
  - {id: ask, prompt: "Answer {q}", outputs: [answer]}
  - id: facts
    prompt: "Facts about {q}"
    outputs: [facts]
    output_schema:
      type: object
      fields: [{name: facts, type: object, schema: {count: int, ratio: float, ok: bool, tags: "list[str]"}}]
edges:
  - {from: START, to: ask}
  - {from: ask, to: facts}
  - {from: facts, to: END}
config: {llm: {provider: mock}}
"""


def test_synthesised_values_fit_the_schema_and_are_deterministic_per_prompt():
    wf = am.load(FLOW)
    first, again, other = am.run(wf, {"q": "owls"}), am.run(wf, {"q": "owls"}), am.run(wf, {"q": "cats"})
    facts = first.outputs["facts"]
    assert isinstance(facts["count"], int) and isinstance(facts["ratio"], float)
    assert isinstance(facts["ok"], bool) and isinstance(facts["tags"], list)
    assert first.outputs["answer"] == "Mock reply to: Answer owls"
    assert first.outputs == again.outputs != other.outputs
    assert first.cost_usd == 0 and first.total_tokens > 0
    assert set(first.nodes["provider"]) == {"mock"}


def test_scripted_responses_cycle_and_emit_real_events():
    wf = am.load(FLOW.replace('prompt: "Answer {q}", outputs: [answer]',
                              'prompt: "Answer {q}", outputs: [answer], llm: {responses: [one, two]}'))
    seen = []
    result = am.run(wf, {"q": "x"}, sinks=[seen.append], stream=True)
    assert result.outputs["answer"] == "one"
    kinds = {type(e) for e in seen}
    assert {ev.RunStarted, ev.NodeStarted, ev.TokenDelta, ev.NodeFinished, ev.RunFinished} <= kinds
    finished = [e for e in seen if isinstance(e, ev.NodeFinished)]
    assert finished[0].response == "one" and finished[0].cost_usd == 0


def test_a_mock_run_never_imports_litellm():
    code = ("import sys, agents_magic as am; from agents_magic.cli import EXAMPLE; "
            "r = am.run(am.load(EXAMPLE), {'text': 'x'}); assert r.ok; "
            "print('litellm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr
