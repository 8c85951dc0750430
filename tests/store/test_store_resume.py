"""resume(): a failed or cancelled run continues from its checkpoint, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from store_helpers import rows

import agents_magic as am
from agents_magic import _settings
from agents_magic.errors import AgentsMagicError

FLOW = """
schema_version: "1.0"
flow: {{name: three}}
state:
  fields:
    topic: {{type: str, required: true}}
    outline: {{type: str}}
    draft: {{type: str}}
    side: {{type: str}}
nodes:
  - {{id: outline, prompt: "Outline {{topic}}", outputs: [outline]}}
  - {{id: draft, prompt: "Draft {{outline}}", outputs: [draft]}}
  - {{id: side, prompt: "Side {{outline}}", outputs: [side]}}
edges:
  - {{from: START, to: outline}}
  - {{from: outline, to: [draft, side]}}
  - {{from: draft, to: END}}
  - {{from: side, to: END}}
config:
  llm: {{provider: openai, model: gpt-4o-mini, api_base: "{base}"}}
  execution: {{timeout: 30, max_retries: 0}}
"""


@pytest.fixture
def store_on(store_url, monkeypatch):
    monkeypatch.setenv("AGENTS_MAGIC_STORE", "1")
    monkeypatch.setenv("AGENTS_MAGIC_STORAGE_URL", store_url)
    _settings.reset()
    return store_url


def test_resume_after_a_failure_reuses_finished_nodes(fake_llm, store_on):
    fake_llm.configure(rules=[{"match": "Draft", "status": 500, "times": 1, "delay_ms": 300}])
    workflow = am.load(FLOW.format(base=fake_llm.base_url))
    failed = am.run(workflow, {"topic": "owls"})
    assert failed.status == "failed" and "draft" in failed.error
    assert (fake_llm.sent("Outline"), fake_llm.sent("Draft")) == (1, 1)

    resumed = am.resume(failed.run_id)
    assert resumed.status == "succeeded", resumed.error
    assert resumed.run_id == failed.run_id
    # only the failed node ran again; `outline` and the finished sibling `side` were reused
    assert (fake_llm.sent("Outline"), fake_llm.sent("Draft"), fake_llm.sent("Side")) == (1, 2, 1)
    assert resumed.outputs["draft"] and resumed.outputs["side"] and resumed.outputs["outline"]
    assert resumed.nodes["tool_calls"].tolist() == [0] * len(resumed.nodes)  # counts, old and new
    new_cost = float(resumed.nodes[resumed.nodes["node_id"] == "draft"]["cost_usd"].iloc[-1])
    assert resumed.cost_usd == pytest.approx(failed.cost_usd + new_cost)  # nothing counted twice
    assert resumed.cost_usd == pytest.approx(resumed.nodes["cost_usd"].sum())

    from agents_magic.sinks import flush_sinks

    flush_sinks(kind="store")
    (run,) = rows(store_on, "SELECT status, cost_usd FROM runs")
    assert run["status"] == "succeeded" and run["cost_usd"] == pytest.approx(resumed.cost_usd)
    executions = rows(store_on, "SELECT node_id, status FROM node_executions ORDER BY id")
    assert sorted((e["node_id"], e["status"]) for e in executions) == sorted([
        ("outline", "succeeded"), ("side", "succeeded"), ("draft", "failed"), ("draft", "succeeded")])


def test_resume_after_an_interrupt(fake_llm, store_on):
    fake_llm.configure(rules=[{"match": "Draft", "hang": True, "times": 1}])
    workflow = am.load(FLOW.format(base=fake_llm.base_url))

    def interrupt_once_draft_hangs() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not fake_llm.sent("Draft"):
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_once_draft_hangs, daemon=True).start()
    cancelled = am.run(workflow, {"topic": "owls"})
    assert cancelled.status == "cancelled"
    resumed = am.resume(cancelled.run_id)
    assert resumed.status == "succeeded", resumed.error
    assert fake_llm.sent("Outline") == 1 and fake_llm.sent("Draft") == 2


def test_resume_with_a_fixed_workflow(fake_llm, store_on):
    text = FLOW.format(base=fake_llm.base_url)
    broken = am.load(text.replace("model: gpt-4o-mini", "model: gpt-4o-mini, max_tokens: 5"))
    fake_llm.configure(rules=[{"match": "Draft", "status": 400, "message": "max_tokens too small"}])
    failed = am.run(broken, {"topic": "owls"})
    assert failed.status == "failed"
    fake_llm.configure(rules=[])
    resumed = am.resume(failed.run_id, am.load(text))
    assert resumed.ok and fake_llm.sent("Outline") == 1


def test_only_unfinished_runs_resume(fake_llm, store_on):
    done = am.run(am.load(FLOW.format(base=fake_llm.base_url)), {"topic": "owls"})
    with pytest.raises(AgentsMagicError, match="is `succeeded`: only a failed"):
        am.resume(done.run_id)


def test_a_node_can_pause_the_run_for_an_answer(fake_llm, store_on, monkeypatch):
    """The base for human steps: `interrupt()` inside a runner pauses the run at a checkpoint;
    resuming with an answer goes on from that node."""
    from langgraph.types import interrupt

    from agents_magic.engine import _runners

    class Asking(_runners.LLMRunner):
        async def run(self, state, step):
            if self.node.id == "draft":
                return _runners.NodeOutcome({"draft": interrupt(f"approve {state['outline']}?")})
            return await super().run(state, step)

    monkeypatch.setitem(_runners.RUNNERS, "llm", Asking)
    workflow = am.load(FLOW.format(base=fake_llm.base_url))
    paused = am.run(workflow, {"topic": "owls"})
    assert paused.status == "interrupted" and paused.error.startswith("approve ")
    assert ["draft", "interrupted"] in paused.nodes[["node_id", "status"]].values.tolist()
    resumed = am.resume(paused.run_id, answer="approved by a person")
    assert resumed.status == "succeeded", resumed.error
    assert resumed.outputs["draft"] == "approved by a person"
    assert fake_llm.sent("Outline") == 1  # nothing before the pause ran again


MAP = """
schema_version: "1.0"
flow: {{name: mapper}}
state:
  fields:
    docs: {{type: "list[object]", required: true}}
    summary: {{type: str, default: ""}}
    summaries: {{type: "list[str]", default: []}}
    final: {{type: str, default: ""}}
nodes:
  - {{id: summarize, prompt: "Summarise doc {{index}}: {{item.title}}", outputs: [summary]}}
  - {{id: combine, prompt: "Combine {{state.summaries}}", outputs: [final]}}
edges:
  - {{from: START, parallel: {{items_field: docs, target_node: summarize, collect_field: summaries}}}}
  - {{from: summarize, to: combine}}
  - {{from: combine, to: END}}
config:
  llm: {{provider: openai, model: gpt-4o-mini, api_base: "{base}"}}
  execution: {{timeout: 30, max_retries: 0, max_concurrency: 3}}
"""


def test_resuming_a_failed_map_reruns_only_the_failed_items(fake_llm, store_on):
    # Items 1 and 4 fail at once, the others answer slowly: no item is cut off in flight.
    fake_llm.configure(rules=[
        *[{"match": f"doc {i}: ", "status": 400, "message": f"bad item {i}", "times": 1} for i in (1, 4)],
        *[{"match": f"doc {i}: ", "content": f"summary {i}", "delay_ms": 100} for i in range(6)],
        {"match": "Combine", "content": "all done"}])
    workflow = am.load(MAP.format(base=fake_llm.base_url))
    failed = am.run(workflow, {"docs": [{"title": f"t{i}"} for i in range(6)]})
    assert failed.status == "failed" and "bad item" in failed.error
    assert [fake_llm.sent(f"Summarise doc {i}:") for i in range(6)] == [1] * 6
    statuses = sorted((r["item"], r["status"]) for r in failed.node_rows)
    assert statuses == [(i, "failed" if i in (1, 4) else "succeeded") for i in range(6)]

    resumed = am.resume(failed.run_id)
    assert resumed.status == "succeeded", resumed.error
    assert [fake_llm.sent(f"Summarise doc {i}:") for i in range(6)] == [1, 2, 1, 1, 2, 1]
    assert resumed.outputs["summaries"] == [f"summary {i}" for i in range(6)]
    assert resumed.outputs["final"] == "all done" and fake_llm.sent("Combine") == 1
    frame = resumed.nodes
    new = frame.iloc[len(failed.node_rows):]
    assert sorted(new["item"].dropna().tolist()) == [1, 4]  # the earlier rows come from the store
    assert resumed.cost_usd == pytest.approx(failed.cost_usd + new["cost_usd"].sum())
    assert resumed.cost_usd == pytest.approx(frame["cost_usd"].sum())  # nothing counted twice

    from agents_magic.sinks import flush_sinks

    flush_sinks(kind="store")
    executions = rows(store_on, "SELECT node_id, item, status FROM node_executions")
    assert sorted((e["item"], e["status"]) for e in executions if e["node_id"] == "summarize") == sorted(
        [(i, "succeeded") for i in range(6)] + [(1, "failed"), (4, "failed")])
    (run,) = rows(store_on, "SELECT status, cost_usd FROM runs")
    assert run["status"] == "succeeded" and run["cost_usd"] == pytest.approx(resumed.cost_usd)


def test_the_profile_of_a_resumed_run_starts_at_its_first_attempt(fake_llm, store_on):
    fake_llm.configure(rules=[{"match": "Draft", "status": 500, "times": 1}])
    failed = am.run(am.load(FLOW.format(base=fake_llm.base_url)), {"topic": "owls"})
    time.sleep(0.05)  # the second attempt starts visibly later than the first
    assert am.resume(failed.run_id).status == "succeeded"
    from agents_magic.sinks import flush_sinks

    flush_sinks(kind="store")
    frame = am.profile(failed.run_id)
    assert frame["start_ms"].min() == pytest.approx(0.0, abs=1.0)
    assert (frame["start_ms"] >= 0).all()
    assert list(frame["node_id"])[0] == "outline"  # the first attempt's node comes first
