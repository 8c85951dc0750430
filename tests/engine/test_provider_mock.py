"""The mock provider's structured completions: scripted text, JSON values and tool calls."""

from __future__ import annotations

import asyncio

from agents_magic.engine import _llm


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
