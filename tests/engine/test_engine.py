"""The engine against a real HTTP peer: edges, loops, joins, retries, timeouts, structured output."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest

import agents_magic as am
from agents_magic.engine import events as ev


def wf(fake, body: str, *, fields: str, execution: str = "{timeout: 5, max_retries: 2, retry_backoff: 0.01}",
       model: str = "gpt-4o-mini"):
    return am.load(f"""
schema_version: "1.0"
flow: {{name: t}}
state:
  fields:
{fields}
{body}
config:
  llm: {{provider: openai, model: {model}, api_base: "{fake.base_url}"}}
  execution: {execution}
""")


class Recorder(list):
    def __call__(self, event):
        self.append(event)

    def of(self, kind):
        return [e for e in self if isinstance(e, kind)]


CHAIN = """
nodes:
  - {id: outline, prompt: "Outline {state.topic}", outputs: [outline]}
  - {id: write, prompt: "Write from {outline} about {state.topic}", outputs: [article]}
edges:
  - {from: START, to: outline}
  - {from: outline, to: write}
  - {from: write, to: END}
"""
CHAIN_FIELDS = """    topic: {type: str, required: true}
    outline: {type: str, default: ""}
    article: {type: str, default: ""}"""


def test_linear_chain_over_http(fake_llm):
    fake_llm.configure(rules=[{"match": "Outline", "content": "1. intro 2. end"},
                              {"match": "Write from", "content": "An article."}])
    rec = Recorder()
    result = am.run(wf(fake_llm, CHAIN, fields=CHAIN_FIELDS), {"topic": "bees"}, sinks=[rec])
    assert result.status == "succeeded", result.error
    assert result.outputs["outline"] == "1. intro 2. end"
    assert result.outputs["article"] == "An article."
    sent = [r["messages"][-1]["content"] for r in fake_llm.requests()]
    assert sent == ["Outline bees", "Write from 1. intro 2. end about bees"]
    nodes = result.nodes
    assert list(nodes["node_id"]) == ["outline", "write"]
    assert set(nodes["status"]) == {"succeeded"}
    assert (nodes["prompt_tokens"] > 0).all() and (nodes["completion_tokens"] > 0).all()
    assert result.total_tokens == int(nodes["prompt_tokens"].sum() + nodes["completion_tokens"].sum())
    assert result.cost_usd > 0 and result.cost_usd == pytest.approx(nodes["cost_usd"].sum())
    kinds = [type(e).__name__ for e in rec if not isinstance(e, ev.TokenDelta)]
    assert kinds == ["RunStarted", "NodeStarted", "NodeFinished", "NodeStarted", "NodeFinished",
                     "RunFinished"]
    assert rec.of(ev.RunFinished)[0].status == "succeeded"


def test_api_key_is_sent_from_named_env_var_only(fake_llm, monkeypatch):
    monkeypatch.setenv("AM_KEY", "sk-local-123")
    flow = CHAIN.replace('prompt: "Outline {state.topic}"',
                         'prompt: "Outline {state.topic}", llm: {api_key_env: AM_KEY}')
    result = am.run(wf(fake_llm, flow, fields=CHAIN_FIELDS), {"topic": "x"})
    assert result.ok
    auth = [r["headers"].get("authorization") for r in fake_llm.requests()]
    assert auth == ["Bearer sk-local-123", None]
    assert "sk-local-123" not in json.dumps(result.to_dict())


BRANCH_FIELDS = """    text: {type: str, default: "t"}
    score: {type: int, default: 0}
    verdict: {type: str, default: ""}"""
CONDITIONAL = """
nodes:
  - id: rate
    prompt: "Rate {text}"
    outputs: [score]
    output_schema: {type: int}
  - {id: praise, prompt: "Praise", outputs: [verdict]}
  - {id: fix, prompt: "Fix", outputs: [verdict]}
edges:
  - {from: START, to: rate}
  - {from: rate, to: praise, condition: "{state.score} >= 7"}
  - {from: rate, to: fix, condition: "{state.score} < 7"}
  - {from: praise, to: END}
  - {from: fix, to: END}
"""


@pytest.mark.parametrize(("score", "expected"), [("8", "praise"), (3, "fix")])
def test_condition_edges_route_and_coerce(fake_llm, score, expected):
    fake_llm.configure(rules=[{"match": "Rate", "content": json.dumps({"score": score})},
                              {"content": "done"}])
    result = am.run(wf(fake_llm, CONDITIONAL, fields=BRANCH_FIELDS))
    assert result.ok, result.error
    assert result.outputs["score"] == int(score)  # "8" coerced to 8
    assert list(result.nodes["node_id"]) == ["rate", expected]
    request = fake_llm.requests()[0]
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["schema"]["properties"]["score"]["type"] == "integer"


ROUTES = """
nodes:
  - {id: rate, prompt: "Rate", outputs: [score], output_schema: {type: int}}
  - {id: high, prompt: "High", outputs: [verdict]}
  - {id: other, prompt: "Other", outputs: [verdict]}
edges:
  - {from: START, to: rate}
  - from: rate
    routes:
      - {condition: {logic: "{state.score} > 5 and {state.text} in ['t', 'u']"}, to: high}
      - {condition: {logic: default}, to: other}
  - {from: high, to: END}
  - {from: other, to: END}
"""


@pytest.mark.parametrize(("score", "expected"), [(9, "high"), (1, "other")])
def test_structured_routes_with_default(fake_llm, score, expected):
    fake_llm.configure(rules=[{"match": "Rate", "content": json.dumps({"score": score})}])
    result = am.run(wf(fake_llm, ROUTES, fields=BRANCH_FIELDS))
    assert result.ok, result.error
    assert result.nodes["node_id"].iloc[-1] == expected


LOOP_FIELDS = """    draft: {type: str, default: ""}
    approved: {type: bool, default: false}"""
LOOP = """
nodes:
  - {id: write, prompt: "Write draft", outputs: [draft]}
  - {id: review, prompt: "Review {draft}", outputs: [approved], output_schema: {type: bool}}
  - {id: publish, prompt: "Publish {draft}", outputs: [draft]}
edges:
  - {from: START, to: write}
  - {from: write, to: review}
  - {from: review, to: write, loop: {condition_field: approved, max_iterations: 3, exit_to: publish}}
  - {from: publish, to: END}
"""


def test_loop_exits_when_condition_field_is_true(fake_llm):
    fake_llm.configure(rules=[{"match": "Review", "content": ['{"approved": false}', '{"approved": true}']}])
    result = am.run(wf(fake_llm, LOOP, fields=LOOP_FIELDS))
    assert result.ok, result.error
    assert list(result.nodes["node_id"]) == ["write", "review", "write", "review", "publish"]
    assert result.outputs["_loop_iteration_review"] == 2
    assert result.outputs["_loop_iteration_write"] == 2
    assert result.nodes.query("node_id == 'review'")["iteration"].tolist() == [1, 2]
    assert result.warnings == []


def test_loop_stops_at_max_iterations_with_a_warning(fake_llm):
    fake_llm.configure(rules=[{"match": "Review", "content": '{"approved": false}'}])
    result = am.run(wf(fake_llm, LOOP, fields=LOOP_FIELDS))
    assert result.ok
    assert result.outputs["_loop_iteration_review"] == 3
    assert result.nodes["node_id"].iloc[-1] == "publish"
    assert any("max_iterations=3" in w for w in result.warnings)


def test_condition_cycle_is_capped_by_execution_max_iterations(fake_llm):
    body = """
nodes:
  - {id: again, prompt: "Again", outputs: [score], output_schema: {type: int}}
edges:
  - {from: START, to: again}
  - {from: again, to: again, condition: "{state.score} < 100"}
  - {from: again, to: END, condition: "{state.score} >= 100"}
"""
    fake_llm.configure(rules=[{"content": '{"score": 1}'}])
    result = am.run(wf(fake_llm, body, fields=BRANCH_FIELDS,
                       execution="{max_iterations: 4, retry_backoff: 0.01}"))
    assert result.status == "failed"
    assert "max_iterations=4" in result.error
    assert result.outputs["_loop_iteration_again"] == 4
    assert len(fake_llm.requests()) == 4


FAN_FIELDS = """    topic: {type: str, default: "owls"}
    a: {type: str, default: ""}
    b: {type: str, default: ""}
    c: {type: str, default: ""}
    b2: {type: str, default: ""}
    joined: {type: str, default: ""}"""
FAN = """
nodes:
  - {id: a, prompt: "A {topic}", outputs: [a]}
  - {id: b, prompt: "B {topic}", outputs: [b]}
  - {id: c, prompt: "C {topic}", outputs: [c]}
  - {id: join, prompt: "Join {a} | {b} | {c}", outputs: [joined]}
edges:
  - {from: START, to: [a, b, c]}
  - {from: a, to: join}
  - {from: b, to: join}
  - {from: c, to: join}
  - {from: join, to: END}
"""


def test_fan_out_runs_concurrently_and_joins_once(fake_llm):
    fake_llm.configure(latency_ms=200, rules=[{"match": "Join", "content": "all"},
                                              {"match": "A ", "content": "ra"},
                                              {"match": "B ", "content": "rb"},
                                              {"match": "C ", "content": "rc"}])
    rec = Recorder()
    result = am.run(wf(fake_llm, FAN, fields=FAN_FIELDS), sinks=[rec])
    assert result.ok, result.error
    order = [(type(e).__name__, e.node_id) for e in rec if isinstance(e, (ev.NodeStarted, ev.NodeFinished))]
    first_finish = next(i for i, (kind, _) in enumerate(order) if kind == "NodeFinished")
    assert {n for kind, n in order[:first_finish]} == {"a", "b", "c"}  # all three started first
    assert result.nodes["node_id"].tolist().count("join") == 1
    assert fake_llm.requests()[-1]["messages"][-1]["content"] == "Join ra | rb | rc"


def test_join_waits_for_branches_of_different_lengths(fake_llm):
    body = """
nodes:
  - {id: a, prompt: "A", outputs: [a]}
  - {id: b, prompt: "B", outputs: [b]}
  - {id: b2, prompt: "B2 {b}", outputs: [b2]}
  - {id: join, prompt: "Join {a} {b2}", outputs: [joined]}
edges:
  - {from: START, to: [a, b]}
  - {from: a, to: join}
  - {from: b, to: b2}
  - {from: b2, to: join}
  - {from: join, to: END}
"""
    result = am.run(wf(fake_llm, body, fields=FAN_FIELDS))
    assert result.ok, result.error
    ids = result.nodes["node_id"].tolist()
    assert ids.count("join") == 1 and ids[-1] == "join"
    assert "echo: B2" in fake_llm.requests()[-1]["messages"][-1]["content"]


@pytest.fixture
def calls_in_flight(monkeypatch):
    """Counts HTTP calls in flight; ``["peak"]`` is the most seen at once (reset it freely)."""
    from agents_magic.engine import _llm

    counter = {"now": 0, "peak": 0}
    real = _llm._http_call

    async def counting(*args, **kwargs):
        counter["now"] += 1
        counter["peak"] = max(counter["peak"], counter["now"])
        try:
            return await real(*args, **kwargs)
        finally:
            counter["now"] -= 1

    monkeypatch.setattr(_llm, "_http_call", counting)
    return counter


def test_max_concurrency_bounds_calls_in_flight(fake_llm, calls_in_flight):
    fake_llm.configure(latency_ms=50)
    result = am.run(wf(fake_llm, FAN, fields=FAN_FIELDS, execution="{max_concurrency: 1}"))
    assert result.ok and calls_in_flight["peak"] == 1
    result = am.run(wf(fake_llm, FAN, fields=FAN_FIELDS, execution="{max_concurrency: 8}"))
    assert result.ok and calls_in_flight["peak"] == 3


def test_rate_limit_is_retried_honouring_retry_after(fake_llm):
    fake_llm.configure(rules=[{"status": 429, "headers": {"Retry-After": "0.2"}, "times": 1},
                              {"status": 500, "times": 1}])
    rec = Recorder()
    result = am.run(wf(fake_llm, CHAIN, fields=CHAIN_FIELDS), {"topic": "x"}, sinks=[rec])
    assert result.ok, result.error
    retries = rec.of(ev.NodeRetrying)
    assert [r.kind for r in retries] == ["rate_limit", "server_error"]
    assert retries[0].delay_s >= 0.2  # Retry-After honoured
    assert retries[0].delay_s >= 0.2
    assert result.nodes["attempts"].tolist() == [3, 1]


def test_retries_exhausted_names_node_model_and_cause_and_keeps_partial(fake_llm):
    fake_llm.configure(rules=[{"match": "Write", "status": 429}])
    result = am.run(wf(fake_llm, CHAIN, fields=CHAIN_FIELDS), {"topic": "x"})
    assert result.status == "failed"
    assert "node `write`" in result.error and "gpt-4o-mini" in result.error
    assert "rate_limit" in result.error and "3 attempts" in result.error
    assert result.outputs["outline"].startswith("echo: Outline")  # partial result kept
    row = result.nodes.iloc[-1]
    assert (row["node_id"], row["status"], row["attempts"]) == ("write", "failed", 3)


def test_hang_past_timeout_is_retried_then_fails(fake_llm):
    fake_llm.configure(rules=[{"hang": True}])
    result = am.run(wf(fake_llm, CHAIN, fields=CHAIN_FIELDS,
                       execution="{timeout: 0.3, max_retries: 1, retry_backoff: 0.01}"), {"topic": "x"})
    assert result.status == "failed"
    assert "timeout" in result.error and "2 attempts" in result.error
    assert len(fake_llm.requests()) == 2


def test_truncated_json_body_is_retried(fake_llm):
    fake_llm.configure(rules=[{"raw_body": '{"choices": [{"mess', "times": 1}])
    result = am.run(wf(fake_llm, CHAIN, fields=CHAIN_FIELDS), {"topic": "x"})
    assert result.ok, result.error
    assert result.nodes["attempts"].tolist() == [2, 1]


def test_invalid_json_gets_one_repair_round_trip(fake_llm):
    fake_llm.configure(rules=[{"match": "Rate", "content": ["not json at all", '{"score": 9}']},
                              {"content": "ok"}])
    result = am.run(wf(fake_llm, CONDITIONAL, fields=BRANCH_FIELDS))
    assert result.ok, result.error
    assert result.outputs["score"] == 9
    repair = fake_llm.requests()[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "not json at all"}
    assert "not valid JSON" in repair[-1]["content"]


def test_output_still_invalid_after_repair_names_the_field(fake_llm):
    fake_llm.configure(rules=[{"match": "Rate", "content": '{"score": "high"}'}])
    result = am.run(wf(fake_llm, CONDITIONAL, fields=BRANCH_FIELDS))
    assert result.status == "failed"
    assert "field `score` should be `int`" in result.error and "node `rate`" in result.error
    assert len(fake_llm.requests()) == 2
    row = result.nodes.iloc[-1]  # both calls were paid for: the row and the total say so
    assert row["cost_usd"] > 0 and row["cost_usd"] == pytest.approx(result.cost_usd)
    assert row["prompt_tokens"] + row["completion_tokens"] == result.total_tokens > 0


def test_a_repair_call_that_fails_still_counts_the_first_call(fake_llm):
    fake_llm.configure(rules=[{"match": "That reply was invalid", "status": 401},
                              {"match": "Rate", "content": "not json"}])
    result = am.run(wf(fake_llm, CONDITIONAL, fields=BRANCH_FIELDS))
    assert result.status == "failed" and "HTTP 401" in result.error
    assert result.cost_usd > 0 and result.nodes.iloc[-1]["cost_usd"] == pytest.approx(result.cost_usd)


@pytest.mark.parametrize(("inputs", "message"), [
    ({}, "missing required input `topic`"),
    ({"topic": "x", "outline": 5}, "input `outline` should be `str`"),
    ({"topik": "x"}, "did you mean `topic`"),
])
def test_bad_inputs_fail_before_any_call(fake_llm, inputs, message):
    with pytest.raises(am.InputError, match=message):
        am.run(wf(fake_llm, CHAIN, fields=CHAIN_FIELDS), inputs)
    assert fake_llm.requests() == []


def test_refused_connection_fails_fast_without_retries():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there

    class Dead:
        base_url = f"http://127.0.0.1:{port}/v1"

    rec = Recorder()
    result = am.run(wf(Dead, CHAIN, fields=CHAIN_FIELDS, execution="{max_retries: 5, retry_backoff: 1}"),
                    {"topic": "x"}, sinks=[rec])
    assert result.status == "failed"
    assert "connection" in result.error and " after " not in result.error
    assert rec.of(ev.NodeRetrying) == []  # failed fast: no retry


@pytest.mark.parametrize("status", [401, 404, 400])
def test_client_errors_are_not_retried(fake_llm, status):
    fake_llm.configure(rules=[{"status": status}])
    result = am.run(wf(fake_llm, CHAIN, fields=CHAIN_FIELDS), {"topic": "x"})
    assert result.status == "failed" and f"HTTP {status}" in result.error
    assert len(fake_llm.requests()) == 1


def test_no_provider_or_missing_key_fails_before_any_call(fake_llm):
    no_llm = am.load(f"""
schema_version: "1.0"
flow: {{name: t}}
state: {{fields: {{topic: {{type: str, default: x}}, outline: {{type: str}}, article: {{type: str}}}}}}
{CHAIN}""")
    with pytest.raises(am.ProviderError, match="no LLM is configured"):
        am.run(no_llm)
    with pytest.raises(am.ProviderError, match=r"missing API key: set \$OPENAI_API_KEY"):
        am.run(no_llm, provider="openai", model="gpt-4o-mini")
    with pytest.raises(am.ProviderError, match=r"\$ANTHROPIC_API_KEY"):
        am.run(no_llm, model="anthropic/claude-3-5-haiku-latest")


def test_streaming_emits_token_deltas(fake_llm):
    fake_llm.configure(rules=[{"content": "one two three four five"}])
    rec = Recorder()
    result = am.run(wf(fake_llm, CHAIN, fields=CHAIN_FIELDS), {"topic": "x"}, sinks=[rec], stream=True)
    assert result.ok
    deltas = [e.text for e in rec.of(ev.TokenDelta) if e.node_id == "outline"]
    assert len(deltas) > 1 and "".join(deltas) == "one two three four five"
    assert result.nodes["completion_tokens"].iloc[0] == 5
    assert fake_llm.requests()[0]["stream"] is True


def test_litellm_route_for_other_providers(fake_llm, monkeypatch):
    """Providers other than openai/ollama go through LiteLLM's real HTTP client."""
    monkeypatch.setenv("DEEPSEEK_KEY", "sk-ds")
    fake_llm.configure(rules=[{"status": 429, "times": 1}, {"content": "via litellm"}])
    flow = am.load(f"""
schema_version: "1.0"
flow: {{name: t}}
state: {{fields: {{topic: {{type: str, default: x}}, outline: {{type: str}}, article: {{type: str}}}}}}
{CHAIN}
config:
  llm: {{provider: deepseek, model: deepseek-chat, api_base: "{fake_llm.base_url}", api_key_env: DEEPSEEK_KEY}}
  execution: {{retry_backoff: 0.01}}
""")
    result = am.run(flow)
    assert result.ok, result.error
    assert result.outputs["article"] == "via litellm"
    assert result.nodes["attempts"].tolist() == [2, 1]
    assert result.nodes["provider"].tolist() == ["deepseek", "deepseek"]
    assert fake_llm.requests()[0]["headers"]["authorization"] == "Bearer sk-ds"


def test_runtime_condition_error_fails_the_run_clearly(fake_llm):
    fake_llm.configure(rules=[{"match": "Rate", "content": '{"score": 5}'}])
    body = CONDITIONAL.replace('"{state.score} >= 7"', '"{state.text} >= 7"')
    result = am.run(wf(fake_llm, body, fields=BRANCH_FIELDS))
    assert result.status == "failed"
    assert "condition `{state.text} >= 7` failed" in result.error


def test_run_works_inside_a_running_event_loop(fake_llm):
    async def notebook_cell():
        return am.run(wf(fake_llm, CHAIN, fields=CHAIN_FIELDS), {"topic": "x"})

    assert asyncio.run(notebook_cell()).ok


def test_cancelling_arun_emits_cancelled(fake_llm):
    fake_llm.configure(rules=[{"hang": True}])
    rec = Recorder()

    async def main():
        task = asyncio.create_task(am.arun(wf(fake_llm, CHAIN, fields=CHAIN_FIELDS), {"topic": "x"},
                                           sinks=[rec]))
        while not fake_llm.requests():  # the call is out and hanging
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert rec.of(ev.RunFinished)[0].status == "cancelled"


def test_a_failing_sink_never_breaks_the_run(fake_llm):
    def broken(event):
        raise ValueError("sink bug")

    with pytest.warns(RuntimeWarning, match="sink bug"):
        result = am.run(wf(fake_llm, CHAIN, fields=CHAIN_FIELDS), {"topic": "x"}, sinks=[broken])
    assert result.ok


def test_unknown_litellm_provider_fails_before_any_call(fake_llm):
    flow = wf(fake_llm, CHAIN, fields=CHAIN_FIELDS)
    with pytest.raises(am.ProviderError, match="does not know the provider `deepseeek`.*`deepseek`"):
        am.run(flow, {"topic": "x"}, provider="deepseeek", model="chat")
    assert fake_llm.requests() == []


def test_litellm_route_opens_no_socket_beyond_loopback(fake_llm, tmp_path):
    """Importing LiteLLM and calling through it contacts only the local server (asyncio's
    connections go through ``socket.connect`` too)."""
    import subprocess
    import sys

    script = tmp_path / "probe.py"
    script.write_text(f"""
import socket, os
seen = []
real = socket.socket.connect
def connect(self, address):
    seen.append(address)
    return real(self, address)
socket.socket.connect = connect
os.environ["DS_KEY"] = "k"
import agents_magic as am
wf = am.load('''{CHAIN_FLOW_TEMPLATE.format(base=fake_llm.base_url)}''')
assert am.run(wf, {{"topic": "x"}}).ok
import json; print(json.dumps([str(a[0]) for a in seen if isinstance(a, tuple)]))
""")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    hosts = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert hosts and hosts <= {"127.0.0.1"}, hosts


CHAIN_FLOW_TEMPLATE = """
schema_version: "1.0"
flow: {{name: t}}
state: {{fields: {{topic: {{type: str}}, outline: {{type: str}}, article: {{type: str}}}}}}
nodes:
  - {{id: outline, prompt: "Outline {{topic}}", outputs: [outline]}}
edges:
  - {{from: START, to: outline}}
  - {{from: outline, to: END}}
config:
  llm: {{provider: deepseek, model: deepseek-chat, api_base: "{base}", api_key_env: DS_KEY}}
"""


class DictCache(dict):
    def get(self, key):
        return super().get(key)

    def set(self, key, value):
        self[key] = value


def test_cached_calls_are_replayed_free_and_marked(fake_llm):
    from agents_magic.engine._run import execute

    flow = wf(fake_llm, CHAIN, fields=CHAIN_FIELDS)
    cache = DictCache()
    first = asyncio.run(execute(flow, {"topic": "x"}, cache=cache))
    again = asyncio.run(execute(flow, {"topic": "x"}, cache=cache))
    other = asyncio.run(execute(flow, {"topic": "y"}, cache=cache))
    assert len(fake_llm.requests()) == 4  # the second run made no call
    assert first.outputs == again.outputs
    assert again.nodes["cached"].tolist() == [True, True] and again.cost_usd == 0
    assert first.nodes["cached"].tolist() == [False, False] and first.cost_usd > 0
    assert other.nodes["cached"].tolist() == [False, False]


def test_budget_stops_before_the_call_that_would_exceed_it(fake_llm):
    from agents_magic.engine._run import execute

    flow = wf(fake_llm, CHAIN.replace("outputs: [outline]}", "outputs: [outline], llm: {max_tokens: 100}}"),
              fields=CHAIN_FIELDS, model="gpt-4o")
    rec = Recorder()
    result = asyncio.run(execute(flow, {"topic": "x"}, budget_usd=0.0012, sinks=[rec]))
    assert result.status == "budget_exceeded"
    assert "node `write` not called" in result.error and "budget of $0.0012" in result.error
    assert len(fake_llm.requests()) == 1 and result.outputs["outline"]
    assert rec.of(ev.RunFinished)[0].status == "budget_exceeded"


def test_sync_run_interrupted_returns_the_cancelled_partial_result(fake_llm):
    """Ctrl-C while ``run`` waits: the run is cancelled and its partial result returned."""
    import os
    import signal
    import threading

    flow = wf(fake_llm, CHAIN, fields=CHAIN_FIELDS)
    assert am.run(flow, {"topic": "warm-up"}).ok  # imports done before the interrupt
    fake_llm.reset()
    fake_llm.configure(rules=[{"match": "Write", "hang": True}])

    def interrupt_once_write_hangs() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
                "Write" in r["messages"][-1]["content"] for r in fake_llm.requests()):
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_once_write_hangs, daemon=True).start()
    result = am.run(flow, {"topic": "x"})
    assert result.status == "cancelled"
    assert result.outputs["outline"].startswith("echo: Outline")
    assert result.nodes[["node_id", "status"]].values.tolist() == [["outline", "succeeded"],
                                                                  ["write", "cancelled"]]


def test_session_settings_fill_what_the_workflow_leaves_open(fake_llm, calls_in_flight):
    """Precedence: call arguments, then the YAML, then the session settings."""
    from agents_magic import _settings

    fake_llm.configure(latency_ms=50)
    settings = _settings.settings
    settings.max_concurrency, settings.budget_usd = 1, 0.0
    open_flow = wf(fake_llm, FAN, fields=FAN_FIELDS, execution="{}")
    result = am.run(open_flow, budget_usd=10)  # the argument beats the session's $0 budget
    assert result.ok and calls_in_flight["peak"] == 1  # the session's limit: the YAML is silent
    calls_in_flight["peak"] = 0
    assert am.run(wf(fake_llm, FAN, fields=FAN_FIELDS, execution="{max_concurrency: 8}"),
                  budget_usd=10).ok and calls_in_flight["peak"] == 3
    assert am.run(open_flow).status == "budget_exceeded"


def mock_flow(nodes: str, edges: str) -> am.Workflow:
    names = [n.strip() for n in nodes.split(",")]
    fields = "\n".join(f"    {n}: {{type: str, default: ''}}" for n in names)
    node_lines = "\n".join(f'  - {{id: {n}, prompt: "{n} sees {{state}}", outputs: [{n}]}}'
                           for n in names).replace("{state}", " ".join(f"{{{m}}}" for m in names))
    return am.load(f"""
schema_version: "1.0"
flow: {{name: shapes}}
state:
  fields:
{fields}
nodes:
{node_lines}
edges:
{edges}
config: {{llm: {{provider: mock}}}}
""")


@pytest.mark.parametrize(("nodes", "edges", "expected"), [
    ("A, B, C, D, E, F, G", """
  - {from: START, to: A}
  - {from: A, to: [B, C]}
  - {from: B, to: [D, E]}
  - {from: D, to: F}
  - {from: E, to: F}
  - {from: F, to: G}
  - {from: C, to: G}
  - {from: G, to: END}""", "A B C D E F G"),
    ("b, b2, c, j", """
  - {from: START, to: [b, c]}
  - {from: b, to: b2}
  - {from: b2, to: j, condition: "{state.c} != 'never'"}
  - {from: b2, to: END}
  - {from: c, to: j}
  - {from: j, to: END}""", "b c b2 j"),
    ("x, y, b, c, j", """
  - {from: START, to: [b, c]}
  - {from: b, to: x, condition: "{state.c} == 'never'"}
  - {from: b, to: y}
  - {from: x, to: j}
  - {from: y, to: j}
  - {from: c, to: j}
  - {from: j, to: END}""", "b c y j"),
    ("A, B, J", """
  - {from: START, to: [A, B]}
  - {from: A, to: A, condition: "{state._loop_iteration_A} < 3"}
  - {from: A, to: J}
  - {from: B, to: J}
  - {from: J, to: END}""", "A B A A J"),
])
def test_joins_run_once_after_every_branch_whatever_the_branch_shape(nodes, edges, expected):
    rec = Recorder()
    result = am.run(mock_flow(nodes, edges), sinks=[rec])
    assert result.ok, result.error
    assert " ".join(result.nodes["node_id"]) == expected
    *before, join = expected.split()
    (join_prompt,) = [e.prompt for e in rec.of(ev.NodeFinished) if e.node_id == join]
    for name in set(before) - {join}:  # the join saw every branch's output
        assert result.outputs[name] in join_prompt


def test_a_malformed_reply_is_retried_then_fails_and_the_run_still_ends(fake_llm):
    fake_llm.configure(rules=[{"raw_body": '{"choices": [{"message": null}]}'}])
    rec = Recorder()
    result = am.run(wf(fake_llm, CHAIN, fields=CHAIN_FIELDS), {"topic": "x"}, sinks=[rec])
    assert result.status == "failed" and "invalid_response" in result.error
    assert rec.of(ev.RunFinished)[0].status == "failed"


def test_a_bug_still_ends_the_run_for_sinks(fake_llm, monkeypatch):
    from agents_magic.engine import _structured

    def broken(self, text):
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(_structured.OutputSpec, "parse", broken)
    rec = Recorder()
    with pytest.raises(ZeroDivisionError):
        am.run(wf(fake_llm, CHAIN, fields=CHAIN_FIELDS), {"topic": "x"}, sinks=[rec])
    assert rec.of(ev.RunFinished)[0].status == "failed"


def test_a_model_with_a_provider_prefix_switches_the_provider(fake_llm):
    flow = am.load(CHAIN_FLOW_TEMPLATE.format(base=fake_llm.base_url).replace(
        f'provider: deepseek, model: deepseek-chat, api_base: "{fake_llm.base_url}", api_key_env: DS_KEY',
        "provider: mock, model: m"))
    result = am.run(flow, {"topic": "x"}, model="openai/gpt-4o-mini", api_base=fake_llm.base_url)
    assert result.ok and result.nodes["provider"].tolist() == ["openai"]
    assert len(fake_llm.requests()) == 1
    with pytest.raises(am.ProviderError, match="OPENAI_API_KEY"):  # not the mock's endpoint
        am.run(flow, {"topic": "x"}, model="openai/gpt-4o-mini")


def test_asking_for_the_cache_uses_it_even_when_the_session_has_it_off(fake_llm):
    flow = wf(fake_llm, CHAIN, fields=CHAIN_FIELDS)
    am.run(flow, {"topic": "x"}, cache=True)
    again = am.run(flow, {"topic": "x"}, cache=True)
    assert again.nodes["cached"].tolist() == [True, True]
    assert len(fake_llm.requests()) == 2


def test_an_inner_loop_gets_fresh_iterations_each_time_an_outer_loop_enters_it():
    flow = am.load("""
schema_version: "1.0"
flow: {name: nested_loops}
state:
  fields:
    topic: {type: str, default: t}
    draft: {type: str, default: ""}
    ok: {type: bool, default: false}
    rounds: {type: str, default: ""}
nodes:
  - {id: plan, prompt: "Plan {topic}", outputs: [rounds]}
  - id: polish
    prompt: "Polish {draft}"
    outputs: [ok]
    output_schema: {type: bool}
    llm: {responses: ['{"ok": false}']}
  - {id: check, prompt: "Check {draft}", outputs: [draft]}
edges:
  - {from: START, to: plan}
  - {from: plan, to: polish}
  - {from: polish, loop: {condition_field: ok, max_iterations: 2, exit_to: check}}
  - {from: check, to: plan, condition: "{state._loop_iteration_check} < 2"}
  - {from: check, to: END}
config: {llm: {provider: mock}}
""")
    result = am.run(flow)
    assert result.ok, result.error
    assert result.nodes["node_id"].tolist() == ["plan", "polish", "polish", "check"] * 2
    assert len(result.warnings) == 2
