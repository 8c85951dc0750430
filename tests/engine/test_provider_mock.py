"""The mock provider's structured completions: scripted text, JSON values, tool calls and errors."""

from __future__ import annotations

import asyncio

import pytest

import agents_magic as am
from agents_magic.engine import _llm
from agents_magic.engine.events import NodeFailed, NodeRetrying
from agents_magic.errors import ProviderError


def call(t: _llm.Target, index: int = 0, **kw) -> _llm.Completion:
    return asyncio.run(_llm.complete(t, [{"role": "user", "content": "go"}], call_index=index, **kw))


def test_a_scripted_reply_can_ask_for_tools():
    t = _llm.Target("mock", "mock", "mock", responses=(
        {"tool_calls": [{"name": "weather", "arguments": {"city": "Oslo"}}, {"name": "clock"}]},
        "It is sunny."))
    first, second = call(t, 0), call(t, 1)
    assert [(c.name, c.arguments) for c in first.tool_calls] == [
        ("weather", {"city": "Oslo"}), ("clock", {})]
    assert first.text == "" and first.finish_reason == "tool_calls"
    assert len({c.id for c in first.tool_calls}) == 2
    assert second.text == "It is sunny." and second.tool_calls == () and second.finish_reason == "stop"


def test_plain_strings_and_dicts_stay_as_today():
    t = _llm.Target("mock", "mock", "mock", responses=("plain", {"score": 3}))
    assert (call(t, 0).text, call(t, 1).text) == ("plain", '{"score": 3}')


def test_tool_messages_in_the_conversation_are_accepted():
    t = _llm.Target("mock", "mock", "mock")
    messages = [{"role": "user", "content": "go"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"}]
    completion = asyncio.run(_llm.complete(t, messages))
    assert completion.text == "Mock reply to: 42" and completion.cost_usd == 0


def test_a_streamed_reply_with_latency_arrives_word_by_word() -> None:
    import time

    import agents_magic as am
    from agents_magic.engine.events import TokenDelta

    wf = am.load("""
schema_version: "1.0"
flow: {name: slowmock}
state: {fields: {text: {type: str, required: true}, out: {type: str}}}
nodes: [{id: talk, prompt: "Say {state.text}", outputs: [out]}]
edges: [{from: START, to: talk}, {from: talk, to: END}]
config: {llm: {provider: mock, params: {latency_ms: 400}}}
""")
    arrivals: list[float] = []
    started = time.monotonic()
    result = am.run(wf, {"text": "hello"}, stream=True, persist=False,
                    sinks=[lambda e: arrivals.append(time.monotonic()) if isinstance(e, TokenDelta) else None])
    assert result.ok and len(arrivals) > 2
    # The first word comes after about half the latency; the words are spread over the rest.
    assert arrivals[0] - started >= 0.15 and arrivals[-1] - arrivals[0] >= 0.1


def test_a_scripted_error_fails_one_attempt_and_the_retry_takes_the_next_entry() -> None:
    t = _llm.Target("mock", "mock", "mock", max_retries=3, responses=(
        {"error": "rate_limit", "retry_after": 0.05}, "first", "second"))
    retries: list[tuple[int, float, str, str]] = []

    def on_retry(attempt: int, delay: float, error: _llm.CallError) -> None:
        retries.append((attempt, delay, error.kind, str(error)))

    first = call(t, 0, on_retry=on_retry, backoff_s=0.01)
    assert (first.text, first.attempts) == ("first", 2)
    assert len(retries) == 1
    attempt, delay, kind, message = retries[0]
    assert (attempt, kind) == (1, "rate_limit") and "429" in message
    assert delay >= 0.05  # the scripted Retry-After is honoured
    # The errors belong to the reply after them: the next call is the next reply, at once ...
    second = call(t, 1, on_retry=on_retry, backoff_s=0.01)
    assert (second.text, second.attempts) == ("second", 1) and len(retries) == 1
    # ... and the script cycles, failure included.
    third = call(t, 2, on_retry=on_retry, backoff_s=0.01)
    assert (third.text, third.attempts) == ("first", 2) and len(retries) == 2


def test_errors_with_no_reply_after_them_fail_every_attempt() -> None:
    t = _llm.Target("mock", "mock", "mock", max_retries=2, responses=(
        "fine", {"error": "server_error", "message": "HTTP 502: bad gateway"}))
    assert call(t, 0).text == "fine"
    with pytest.raises(ProviderError) as failed:
        call(t, 1, backoff_s=0.01)
    assert (failed.value.kind, failed.value.attempts) == ("server_error", 3)
    assert "HTTP 502: bad gateway" in str(failed.value) and "after 3 attempts" in str(failed.value)
    # What a real provider would not retry fails at the first attempt.
    refused = _llm.Target("mock", "mock", "mock", max_retries=2, responses=({"error": "auth"},))
    with pytest.raises(ProviderError) as failed:
        call(refused, 0, backoff_s=0.01)
    assert (failed.value.kind, failed.value.attempts) == ("auth", 1)


def test_a_node_retried_after_a_scripted_failure_shows_it_in_events_and_rows() -> None:
    wf = am.load("""
schema_version: "1.0"
flow: {name: flaky}
state: {fields: {q: {type: str, required: true}, a: {type: str}, b: {type: str}}}
nodes:
  - {id: ask, prompt: "Answer {q}", outputs: [a], llm: {responses: [{error: timeout}, "fine"]}}
  - {id: down, prompt: "Again {q}", outputs: [b], llm: {responses: [{error: server_error}], max_retries: 1}}
edges: [{from: START, to: ask}, {from: ask, to: down}, {from: down, to: END}]
config: {llm: {provider: mock}, execution: {retry_backoff: 0.01}}
""")
    seen: list[object] = []
    result = am.run(wf, {"q": "x"}, sinks=[seen.append], persist=False)
    assert result.status == "failed" and result.outputs["a"] == "fine"
    assert [(e.node_id, e.attempt, e.kind) for e in seen if isinstance(e, NodeRetrying)] == [
        ("ask", 1, "timeout"), ("down", 1, "server_error")]
    failed = [e for e in seen if isinstance(e, NodeFailed)]
    assert [(e.node_id, e.attempts, e.kind) for e in failed] == [("down", 2, "server_error")]
    rows = result.nodes.set_index("node_id")
    assert rows.loc["ask", "status"] == "succeeded" and rows.loc["ask", "attempts"] == 2


def test_an_unknown_scripted_error_is_reported_before_any_call() -> None:
    wf = am.load("""
schema_version: "1.0"
flow: {name: typo}
state: {fields: {q: {type: str, required: true}, a: {type: str}}}
nodes: [{id: ask, prompt: "Answer {q}", outputs: [a], llm: {responses: ["ok", {error: rate_limits}]}}]
edges: [{from: START, to: ask}, {from: ask, to: END}]
config: {llm: {provider: mock}}
""")
    seen: list[object] = []
    with pytest.raises(ProviderError, match=r"responses\[1\]: unknown scripted error `rate_limits`; "
                                            r"did you mean `rate_limit`\?"):
        am.run(wf, {"q": "x"}, sinks=[seen.append], persist=False)
    assert seen == []


def test_mock_calls_keep_to_max_concurrency(monkeypatch):
    from agents_magic.engine.providers import _mock

    live, peak = [0], [0]
    complete = _mock.complete

    async def counted(*args, **kwargs):
        live[0] += 1
        peak[0] = max(peak[0], live[0])
        try:
            return await complete(*args, **kwargs)
        finally:
            live[0] -= 1

    monkeypatch.setattr(_mock, "complete", counted)
    wf = am.load("""
schema_version: "1.0"
flow: {name: wide}
state:
  fields:
    docs: {type: "list[str]", required: true}
    summary: {type: str, default: ""}
    summaries: {type: "list[str]", default: []}
nodes:
  - {id: prep, prompt: "Prepare", outputs: []}
  - {id: summarize, prompt: "Summarise {item}", outputs: [summary]}
edges:
  - {from: START, to: prep}
  - {from: prep, parallel: {items_field: docs, target_node: summarize, collect_field: summaries}}
  - {from: summarize, to: END}
config:
  llm: {provider: mock, params: {latency_ms: 30}}
  execution: {max_concurrency: 3}
""")
    result = am.run(wf, {"docs": [f"d{i}" for i in range(12)]})
    assert result.status == "succeeded", result.error
    assert len(result.outputs["summaries"]) == 12
    assert peak[0] == 3  # the mock goes through the endpoint's limiter like any provider
