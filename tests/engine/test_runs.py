"""Run semantics against a real HTTP peer: partial joins, closing events with usage, run state."""

from __future__ import annotations

import asyncio

import pytest

import agents_magic as am
from agents_magic.engine import events as ev
from agents_magic.engine._compile import joins
from agents_magic.engine._run import execute

HEAD = """
schema_version: "1.0"
flow: {{name: t}}
state:
  fields:
    x: {{type: str, default: go}}
    ra: {{type: str}}
    rb: {{type: str}}
    rb2: {{type: str}}
    rc: {{type: str}}
    rj: {{type: str}}
    n: {{type: int, default: 0}}
    done: {{type: bool, default: false}}
config:
  llm: {{provider: openai, model: gpt-4o-mini, api_base: "{base}"}}
  execution: {{timeout: 30, max_retries: 0, retry_backoff: 0.01}}
"""

PARTIAL_JOIN = """
nodes:
  - {id: a, prompt: "A {x}", outputs: [ra]}
  - {id: b, prompt: "B {x}", outputs: [rb]}
  - {id: b2, prompt: "B2 {rb}", outputs: [rb2]}
  - {id: c, prompt: "C {x}", outputs: [rc]}
  - {id: j, prompt: "J {ra} {rb2}", outputs: [rj]}
edges:
  - {from: START, to: [a, b, c]}
  - {from: a, to: j}
  - {from: b, to: b2}
  - {from: b2, to: j}
  - {from: c, to: END}
  - {from: j, to: END}
"""


class Recorder(list):
    def __call__(self, event):
        self.append(event)

    def of(self, kind):
        return [e for e in self if isinstance(e, kind)]


def flow(fake, body: str) -> am.Workflow:
    return am.load(HEAD.format(base=fake.base_url) + body)


def test_partial_join_runs_once_after_the_branches_that_reach_it(fake_llm):
    workflow = flow(fake_llm, PARTIAL_JOIN)
    assert joins(workflow.spec) == {"j": ["a", "b2"]}
    fake_llm.configure(rules=[{"match": "B2 ", "content": "b2 done", "delay_ms": 150}])
    result = am.run(workflow)
    assert result.status == "succeeded", result.error
    assert fake_llm.sent("J ") == 1
    assert list(result.nodes["node_id"]).count("j") == 1
    assert result.outputs["rb2"] == "b2 done"
    # j waited for the slower branch: its prompt holds b2's output
    (j_prompt,) = [r["messages"][-1]["content"] for r in fake_llm.requests()
                   if r["messages"][-1]["content"].startswith("J ")]
    assert "b2 done" in j_prompt


def test_partial_join_with_a_routing_branch_runs_once(fake_llm):
    body = PARTIAL_JOIN.replace("  - {from: b2, to: j}",
                                "  - {from: b2, to: j, condition: \"{state.x} == 'go'\"}\n"
                                "  - {from: b2, to: END, condition: \"{state.x} != 'go'\"}")
    workflow = flow(fake_llm, body)
    assert joins(workflow.spec) == {"j": None}  # known only at run time: deferred
    result = am.run(workflow)
    assert result.status == "succeeded", result.error
    assert fake_llm.sent("J ") == 1


def test_nested_partial_joins_each_run_once(fake_llm):
    body = """
nodes:
  - {id: a, prompt: "A {x}", outputs: [ra]}
  - {id: b, prompt: "B {x}", outputs: [rb]}
  - {id: c, prompt: "C {x}", outputs: [rc]}
  - {id: b2, prompt: "B2 {ra} {rb}", outputs: [rb2]}
  - {id: j, prompt: "J {rb2} {rc}", outputs: [rj]}
edges:
  - {from: START, to: [a, b, c]}
  - {from: a, to: b2}
  - {from: b, to: b2}
  - {from: b2, to: j}
  - {from: c, to: j}
  - {from: j, to: END}
"""
    workflow = flow(fake_llm, body)
    assert joins(workflow.spec) == {"b2": ["a", "b"], "j": ["b2", "c"]}
    result = am.run(workflow)
    assert result.status == "succeeded", result.error
    assert fake_llm.sent("B2 ") == 1 and fake_llm.sent("J ") == 1


def test_a_failed_node_closes_with_what_it_paid(fake_llm):
    body = """
nodes:
  - {id: a, prompt: "A {x}", outputs: [n], output_schema: {type: int}}
edges:
  - {from: START, to: a}
  - {from: a, to: END}
"""
    fake_llm.configure(rules=[{"content": "not a number"}])
    rec = Recorder()
    result = am.run(flow(fake_llm, body), sinks=[rec])
    assert result.status == "failed"
    (closing,) = rec.of(ev.NodeFailed)
    assert closing.status == "failed" and closing.kind == "invalid_output"
    assert closing.prompt_tokens > 0 and closing.completion_tokens > 0 and closing.cost_usd > 0
    row = result.nodes.iloc[0]
    assert (row["prompt_tokens"], row["completion_tokens"]) == (closing.prompt_tokens,
                                                                closing.completion_tokens)
    assert row["cost_usd"] == pytest.approx(closing.cost_usd)
    assert result.cost_usd == pytest.approx(closing.cost_usd)
    assert rec.of(ev.RunFinished)[0].cost_usd == pytest.approx(closing.cost_usd)


def test_cancel_closes_every_running_node_with_its_spend(fake_llm):
    fake_llm.configure(rules=[{"match": "B ", "hang": True}, {"match": "C ", "hang": True}])
    workflow = flow(fake_llm, PARTIAL_JOIN)
    rec = Recorder()
    holder: list = []

    async def main() -> None:
        task = asyncio.create_task(execute(workflow, sinks=[rec], result_holder=holder))
        while sum(1 for e in rec.of(ev.NodeStarted)) < 3 or not rec.of(ev.NodeFinished):
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    (result,) = holder
    assert result.status == "cancelled"
    started = {e.node_id for e in rec.of(ev.NodeStarted)}
    closed = [e.node_id for e in rec.of(ev.NodeFinished)] + [e.node_id for e in rec.of(ev.NodeFailed)]
    assert sorted(closed) == sorted(started)  # exactly one closing event each
    cancelled = {e.node_id: e for e in rec.of(ev.NodeFailed)}
    assert set(cancelled) == {"b", "c"} and all(e.status == "cancelled" for e in cancelled.values())
    # a provider bills the prompt of a call cancelled in flight
    assert all(e.prompt_tokens > 0 and e.cost_usd > 0 for e in cancelled.values())
    assert result.cost_usd == pytest.approx(result.nodes["cost_usd"].sum())
    assert rec.of(ev.RunFinished)[0].cost_usd == pytest.approx(result.cost_usd)
    assert set(result.nodes.loc[result.nodes["node_id"].isin(["b", "c"]), "status"]) == {"cancelled"}


def test_loop_passes_are_run_state(fake_llm):
    body = """
nodes:
  - {id: a, prompt: "A {x}", outputs: [ra]}
  - {id: b, prompt: "B {ra}", outputs: [rb]}
edges:
  - {from: START, to: a}
  - {from: a, to: b}
  - {from: b, loop: {condition_field: done, max_iterations: 3, exit_to: END}, to: a}
"""
    result = am.run(flow(fake_llm, body))
    assert result.status == "succeeded", result.error
    assert fake_llm.sent("B ") == 3
    assert result.outputs["_loop_iteration_b"] == 3
    assert not any(key.startswith("_am_") for key in result.outputs)


def wide(fake, branches: int, llm: str) -> am.Workflow:
    fields = "\n".join(f"    r{i}: {{type: str}}" for i in range(branches))
    nodes = "\n".join(f'  - {{id: n{i}, prompt: "N{i} {{x}}", outputs: [r{i}]{llm}}}'
                      for i in range(branches))
    targets = ", ".join(f"n{i}" for i in range(branches))
    ends = "\n".join(f"  - {{from: n{i}, to: END}}" for i in range(branches))
    return am.load(f"""
schema_version: "1.0"
flow: {{name: wide}}
state:
  fields:
    x: {{type: str, default: go}}
{fields}
nodes:
{nodes}
edges:
  - {{from: START, to: [{targets}]}}
{ends}
config:
  llm: {{provider: openai, model: gpt-4o-mini, api_base: "{fake.base_url}"}}
  execution: {{timeout: 30, max_retries: 0}}
""")


def test_budget_reserves_the_models_output_limit_when_max_tokens_is_unset(fake_llm):
    result = am.run(wide(fake_llm, 10, ""), budget_usd=0.003)
    assert result.status == "budget_exceeded"
    assert fake_llm.requests() == []  # 16,384 reply tokens of gpt-4o-mini do not fit
    assert "max_tokens" in result.error  # and the error says how to reserve less


def test_budget_holds_across_a_wide_fan_out(fake_llm):
    from agents_magic.engine import _cost

    fake_llm.configure(latency_ms=100, rules=[{"content": " ".join(["word"] * 100)}])
    budget = 0.0003
    rec = Recorder()
    result = am.run(wide(fake_llm, 10, ", llm: {max_tokens: 100}"), budget_usd=budget, sinks=[rec])
    assert result.status == "budget_exceeded"
    called = len(fake_llm.requests())
    assert 1 <= called < 10
    largest_reservation = _cost.cost_usd("openai", "gpt-4o-mini", 20, 100)
    spent = sum(e.cost_usd for e in rec.of(ev.NodeFinished)) + sum(e.cost_usd for e in rec.of(ev.NodeFailed))
    assert result.cost_usd == pytest.approx(spent)
    assert result.cost_usd <= budget + largest_reservation


def test_a_join_also_fed_from_outside_its_fan_out_is_reported_at_load(fake_llm):
    body = """
nodes:
  - {id: a, prompt: "A {x}", outputs: [ra]}
  - {id: b, prompt: "B {x}", outputs: [rb]}
  - {id: c, prompt: "C {x}", outputs: [rc]}
  - {id: j, prompt: "J", outputs: [rj]}
edges:
  - {from: START, to: a}
  - {from: a, to: [b, c]}
  - {from: a, to: j}
  - {from: b, to: j}
  - {from: c, to: j}
  - {from: j, to: END}
"""
    with pytest.raises(am.ConfigError) as caught:
        flow(fake_llm, body)
    (problem,) = caught.value.problems
    assert "`j` is where the branches of this fan-out meet" in problem.message
    assert "`a` also has an edge straight to it" in problem.message
    assert problem.snippet == "- {from: a, to: [b, c]}"
    assert fake_llm.requests() == []


ONE_NUMBER = """
nodes:
  - {id: a, prompt: "A {x}", outputs: [n], output_schema: {type: int}}
edges:
  - {from: START, to: a}
  - {from: a, to: END}
"""


def _disk_cache(tmp_path):
    from agents_magic._settings import Settings
    from agents_magic.store._cache import open_cache

    return open_cache(Settings(data_dir=tmp_path / "cache-data", cache=True))


def test_a_reply_that_fails_validation_is_never_cached(fake_llm, tmp_path):
    cache = _disk_cache(tmp_path)
    fake_llm.configure(rules=[{"content": "not a number"}])
    workflow = flow(fake_llm, ONE_NUMBER)
    first = asyncio.run(execute(workflow, cache=cache))
    assert first.status == "failed" and len(fake_llm.requests()) == 2  # the call and its repair
    again = asyncio.run(execute(workflow, cache=cache))
    assert again.status == "failed" and len(fake_llm.requests()) == 4  # asked again, not replayed
    fake_llm.configure(rules=[{"content": "not a number", "times": 1}, {"content": '{"n": 7}'}])
    repaired = asyncio.run(execute(workflow, cache=cache))
    assert repaired.ok and repaired.outputs["n"] == 7
    calls = len(fake_llm.requests())
    replay = asyncio.run(execute(workflow, cache=cache))  # the answer that passed, from the cache
    assert replay.ok and replay.outputs["n"] == 7 and len(fake_llm.requests()) == calls
    assert replay.nodes["cached"].tolist() == [True] and replay.cost_usd == 0


def test_a_cut_short_stream_is_retried_and_never_cached(fake_llm, tmp_path):
    cache = _disk_cache(tmp_path)
    body = """
nodes:
  - {id: a, prompt: "A {x}", outputs: [ra]}
edges:
  - {from: START, to: a}
  - {from: a, to: END}
"""
    workflow = am.load((HEAD.format(base=fake_llm.base_url) + body).replace(
        "max_retries: 0", "max_retries: 1"))
    fake_llm.configure(rules=[{"content": "a long answer cut short", "cut_stream": 2, "times": 1},
                              {"content": "the whole answer"}])
    rec = Recorder()
    result = asyncio.run(execute(workflow, cache=cache, stream=True, sinks=[rec]))
    assert result.ok and result.outputs["ra"] == "the whole answer"
    assert [r.kind for r in rec.of(ev.NodeRetrying)] == ["invalid_response"]
    fake_llm.configure(rules=[{"content": "a long answer cut short", "cut_stream": 2}])
    replay = asyncio.run(execute(workflow, cache=cache))  # not streaming: from the cache
    assert replay.outputs["ra"] == "the whole answer" and replay.nodes["cached"].tolist() == [True]


def test_a_condition_that_grows_too_big_fails_the_run_naming_its_edge(fake_llm):
    body = """
nodes:
  - {id: a, prompt: "A", outputs: [ra]}
  - {id: b, prompt: "B", outputs: [rb]}
edges:
  - {from: START, to: a}
  - {from: a, to: b, condition: "{state.x} + {state.x} == 'z'"}
  - {from: a, to: END}
  - {from: b, to: END}
"""
    result = am.run(flow(fake_llm, body), {"x": "y" * 60_000})
    assert result.status == "failed"
    assert result.error.startswith("edge a → b: condition")
    assert "100,000" in result.error


def test_a_loop_back_into_a_join_runs_the_join_each_pass(fake_llm):
    body = """
nodes:
  - {id: a, prompt: "A {x}", outputs: [ra]}
  - {id: b, prompt: "B {x}", outputs: [rb]}
  - {id: j, prompt: "J {ra} {rb}", outputs: [rj]}
  - {id: check, prompt: "Check {rj}", outputs: [rc]}
edges:
  - {from: START, to: [a, b]}
  - {from: a, to: j}
  - {from: b, to: j}
  - {from: j, to: check}
  - {from: check, to: j, loop: {condition_field: done, max_iterations: 2, exit_to: END}}
"""
    workflow = flow(fake_llm, body)
    assert joins(workflow.spec) == {"j": ["a", "b"]}  # the loop back is not a branch to wait for
    result = am.run(workflow)
    assert result.status == "succeeded", result.error
    assert (fake_llm.sent("J "), fake_llm.sent("Check ")) == (2, 2)


def test_on_error_continue_records_the_failure_and_goes_on(fake_llm):
    body = """
nodes:
  - {id: a, prompt: "A {x}", outputs: [n], output_schema: {type: int}, on_error: continue}
  - {id: b, prompt: "B {x}", outputs: [rb]}
edges:
  - {from: START, to: a}
  - {from: a, to: b}
  - {from: b, to: END}
"""
    fake_llm.configure(rules=[{"match": "A ", "content": "not a number"}])
    rec = Recorder()
    result = am.run(flow(fake_llm, body), sinks=[rec])
    assert result.status == "succeeded" and result.outputs["n"] == 0  # its default, unchanged
    assert [(e.node_id, e.status) for e in rec.of(ev.NodeFailed)] == [("a", "failed")]
    assert [e.node_id for e in rec.of(ev.NodeFinished)] == ["b"]
    assert result.nodes["status"].tolist() == ["failed", "succeeded"]
    (warning,) = [w for w in result.warnings if "the run went on" in w]
    assert warning.startswith("node `a` failed") and warning.count("`a`") == 1  # named once


def test_resolved_targets_follow_the_api_key_variables(monkeypatch):
    """Targets are resolved once per workflow, yet a key set, changed or removed between runs
    is seen by the next run (nothing is called: only the resolution is checked)."""
    from agents_magic.engine._run import _targets
    from agents_magic.errors import ProviderError

    wf = am.load('schema_version: "1.0"\nflow: {name: k}\nstate:\n  fields:\n    a: {type: str}\n'
                 'nodes:\n  - {id: n, prompt: "hi", outputs: [a]}\n'
                 'edges:\n  - {from: START, to: n}\n  - {from: n, to: END}\n'
                 'config:\n  llm: {provider: openai, model: gpt-4o-mini}\n')
    monkeypatch.setenv("OPENAI_API_KEY", "sk-first")
    first = _targets(wf, {}, None)
    assert first["n"].api_key == "sk-first"
    assert _targets(wf, {}, None) is first  # resolved once while nothing changes
    monkeypatch.setenv("OPENAI_API_KEY", "sk-second")
    assert _targets(wf, {}, None)["n"].api_key == "sk-second"
    assert _targets(wf, {"model": "gpt-4o"}, None)["n"].model == "gpt-4o"
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ProviderError, match="OPENAI_API_KEY"):
        _targets(wf, {}, None)


@pytest.mark.parametrize(("reply", "value"), [("42", 42), ('"7"', 7), ('{"n": 3}', 3)])
def test_a_bare_value_fills_a_one_value_schema(fake_llm, reply, value):
    body = """
nodes:
  - {id: a, prompt: "A {x}", outputs: [n], output_schema: {type: int}}
edges:
  - {from: START, to: a}
  - {from: a, to: END}
"""
    fake_llm.configure(rules=[{"content": reply}])
    result = am.run(flow(fake_llm, body))
    assert result.status == "succeeded", result.error
    assert result.outputs["n"] == value
    assert len(fake_llm.requests()) == 1  # accepted as it came, without a repair request
