"""The tool-calling loop of LLM nodes against the local OpenAI-compatible server (aiohttp route
and LiteLLM route): replies that call tools, parallel calls, the step limit, tool errors,
structured output after tools, usage, cache and events."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from tools_helpers import POPULATIONS, Recorder, flow, http_llm, litellm_llm, population, run

import agents_magic as am
from agents_magic.engine._tool_loop import LIMIT_NOTICE, MAX_RESULT_CHARS

PARIS = {"tool_calls": [{"name": "population", "arguments": {"city": "Paris"}}], "times": 1}
FINAL = {"content": "About 2.1 million people."}


def _tool_messages(request: dict) -> list[dict]:
    return [m for m in request["messages"] if m.get("role") == "tool"]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_tool_call_is_run_and_its_result_sent_back(fake_llm, stream):
    fake_llm.configure(rules=[PARIS, FINAL])
    result, sink = run(flow(http_llm(fake_llm)), tools=[population], stream=stream)
    assert result.status == "succeeded", result.error
    assert result.outputs["answer"] == "About 2.1 million people."
    first, second = fake_llm.requests()
    assert [t["function"]["name"] for t in first["tools"]] == ["population"]
    assert first["tools"][0]["function"]["parameters"]["properties"]["city"]["type"] == "string"
    assistant = next(m for m in second["messages"] if m.get("tool_calls"))
    (call,) = assistant["tool_calls"]
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    (reply,) = _tool_messages(second)
    assert reply["tool_call_id"] == call["id"] and reply["content"] == "2100000"
    (event,) = sink.tools
    assert (event.tool, event.arguments, event.result, event.error, event.step) == (
        "population", {"city": "Paris"}, "2100000", None, 1)
    assert event.duration_ms >= 0 and event.call_id == call["id"]
    assert result.nodes["tool_calls"].tolist() == [1]


def test_usage_accumulates_over_every_step(fake_llm):
    fake_llm.configure(rules=[PARIS, {**PARIS, "times": 1}, FINAL])
    result, sink = run(flow(http_llm(fake_llm)), tools=[population])
    assert result.ok, result.error
    (finished,) = sink.of(am.engine.events.NodeFinished)
    requests = fake_llm.requests()
    assert len(requests) == 3
    # The fake counts one token per word of every message content it was sent.
    sent = sum(max(1, sum(len(str(m.get("content") or "").split()) for m in r["messages"]))
               for r in requests)
    assert finished.prompt_tokens == sent
    assert finished.cost_usd > 0 and result.cost_usd == pytest.approx(finished.cost_usd)
    assert [e.step for e in sink.tools] == [1, 2]


def test_parallel_calls_of_one_turn_run_concurrently(fake_llm):
    both = threading.Barrier(2, timeout=20)  # each call waits for the other: sequential calls time out

    def population_of(city: str) -> int:
        """Population."""
        both.wait()
        return POPULATIONS[city]

    fake_llm.configure(rules=[{"tool_calls": [
        {"name": "population_of", "arguments": {"city": "Paris"}},
        {"name": "population_of", "arguments": {"city": "Rome"}}], "times": 1}, FINAL])
    result, sink = run(flow(http_llm(fake_llm), "[population_of]"), tools=[population_of])
    assert result.ok, result.error
    assert sorted(e.result for e in sink.tools) == ["2100000", "2800000"]
    assert all(e.error is None and e.step == 1 for e in sink.tools)
    replies = _tool_messages(fake_llm.requests()[1])
    calls = next(m for m in fake_llm.requests()[1]["messages"] if m.get("tool_calls"))["tool_calls"]
    # Each result answers its own call, in the order the model asked.
    assert [r["tool_call_id"] for r in replies] == [c["id"] for c in calls]
    assert [r["content"] for r in replies] == ["2100000", "2800000"]


def test_async_tools_run_concurrently_too(fake_llm):
    arrived: list[str] = []
    both = asyncio.Event()

    async def lookup(city: str) -> str:
        """Look a city up."""
        arrived.append(city)
        if len(arrived) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 20)
        return city.upper()

    fake_llm.configure(rules=[{"tool_calls": [{"name": "lookup", "arguments": {"city": "a"}},
                                              {"name": "lookup", "arguments": {"city": "b"}}],
                               "times": 1}, FINAL])
    result, sink = run(flow(http_llm(fake_llm), "[lookup]"), tools={"lookup": lookup})
    assert result.ok, result.error
    assert sorted(e.result for e in sink.tools) == ["A", "B"]


def test_the_step_limit_fails_the_node_by_default(fake_llm):
    fake_llm.configure(rules=[{"tool_calls": [{"name": "population", "arguments": {"city": "Paris"}}]}])
    result, sink = run(flow(http_llm(fake_llm), extra="    max_tool_steps: 3"), tools=[population])
    assert result.status == "failed"
    assert "still asked for tools (`population`) after max_tool_steps=3" in result.error
    (failed,) = sink.of(am.engine.events.NodeFailed)
    assert failed.kind == "tool_limit" and len(failed.tool_calls) == 3
    assert len(fake_llm.requests()) == 4  # three rounds of calls, then the one over the limit
    assert result.nodes["tool_calls"].tolist() == [3]


def test_the_step_limit_can_take_the_models_answer_instead(fake_llm):
    fake_llm.configure(rules=[{"tool_calls": [{"name": "population", "arguments": {"city": "Paris"}}]},
                              {"content": "Roughly two million."}])
    text = flow(http_llm(fake_llm), extra="    max_tool_steps: 2\n    on_tool_limit: answer")
    result, sink = run(text, tools=[population])
    assert result.ok, result.error
    assert result.outputs["answer"] == "Roughly two million."
    requests = fake_llm.requests()
    assert len(requests) == 3 and len(sink.tools) == 2
    last = requests[-1]
    assert last["tool_choice"] == "none" and last["messages"][-1]["content"] == LIMIT_NOTICE
    assert all("tool_choice" not in r for r in requests[:-1])


def test_a_failing_tool_tells_the_model_by_default(fake_llm):
    fake_llm.configure(rules=[
        {"tool_calls": [{"name": "population", "arguments": {"city": "Atlantis"}}], "times": 1},
        {"match": "no census for Atlantis", "content": "I could not find Atlantis."}])
    result, sink = run(flow(http_llm(fake_llm)), tools=[population])
    assert result.ok, result.error
    assert result.outputs["answer"] == "I could not find Atlantis."
    (event,) = sink.tools
    assert event.error == "KeyError: 'no census for Atlantis'"
    (reply,) = _tool_messages(fake_llm.requests()[1])
    assert reply["content"] == "error: KeyError: 'no census for Atlantis'"


def test_a_failing_tool_with_on_error_fail_fails_the_node(fake_llm):
    fake_llm.configure(rules=[
        {"tool_calls": [{"name": "population", "arguments": {"city": "Atlantis"}}]}, FINAL])
    result, sink = run(flow(http_llm(fake_llm), "[{name: population, on_error: fail}]"),
                       tools=[population])
    assert result.status == "failed"
    assert "tool `population` failed: KeyError: 'no census for Atlantis'" in result.error
    (failed,) = sink.of(am.engine.events.NodeFailed)
    assert failed.kind == "tool_error"
    assert len(fake_llm.requests()) == 1  # the model was not called again


def test_invalid_arguments_and_unknown_tools_go_back_to_the_model(fake_llm):
    fake_llm.configure(rules=[
        {"tool_calls": [{"name": "population", "arguments": {"town": "Paris"}},
                        {"name": "weather", "arguments": {}}], "times": 1}, FINAL])
    result, sink = run(flow(http_llm(fake_llm), "[{name: population, on_error: fail}]"),
                       tools=[population])
    # Bad arguments and unknown tools are the model's mistakes: never fatal, always explained.
    assert result.ok, result.error
    bad_args, unknown = _tool_messages(fake_llm.requests()[1])
    assert bad_args["content"].startswith("error: invalid arguments for `population`: city: Field "
                                          "required; town: Extra inputs are not permitted")
    assert unknown["content"] == "error: unknown tool `weather`; the tools are: population"


def test_arguments_are_validated_and_coerced_before_the_call(fake_llm):
    seen: list[object] = []

    def square(n: int) -> int:
        """Square a number."""
        seen.append(n)
        return n * n

    fake_llm.configure(rules=[{"tool_calls": [{"name": "square", "arguments": {"n": "7"}},
                                              {"name": "square", "arguments": {"n": "seven"}}],
                               "times": 1}, FINAL])
    result, sink = run(flow(http_llm(fake_llm), "[square]"), tools=[square])
    assert result.ok, result.error
    assert seen == [7]  # "7" became 7; "seven" never reached the function
    assert sink.tools[0].result == "49"
    assert sink.tools[1].error == ("invalid arguments for `square`: n: Input should be a valid "
                                   "integer, unable to parse string as an integer")


def test_long_results_are_cut_for_the_model_and_summarised_in_events(fake_llm):
    def big() -> str:
        """A long text."""
        return "x" * (MAX_RESULT_CHARS + 50)

    fake_llm.configure(rules=[{"tool_calls": [{"name": "big", "arguments": {}}], "times": 1}, FINAL])
    result, sink = run(flow(http_llm(fake_llm), "[big]"), tools=[big])
    assert result.ok, result.error
    (reply,) = _tool_messages(fake_llm.requests()[1])
    assert reply["content"].endswith("… [50 more characters cut]")
    assert len(sink.tools[0].result) == am.engine.events.TOOL_SUMMARY_CHARS


def test_structured_output_after_tools_is_validated(fake_llm):
    schema = ("    output_schema: {type: object, fields: [{name: answer, type: str}, "
              "{name: people, type: int}]}")
    text = flow(http_llm(fake_llm), extra=schema, fields="    people: {type: int, default: 0}"
                ).replace("outputs: [answer]", "outputs: [answer, people]")
    fake_llm.configure(rules=[
        PARIS,
        {"content": "not json", "times": 1},  # fails the schema: one repair request follows
        {"content": json.dumps({"answer": "Paris", "people": 2100000})}])
    result, sink = run(text, tools=[population])
    assert result.ok, result.error
    assert result.outputs["people"] == 2100000 and result.outputs["answer"] == "Paris"
    requests = fake_llm.requests()
    assert len(requests) == 3
    assert all(r["response_format"]["type"] == "json_schema" for r in requests)
    repair = requests[-1]
    assert repair["tool_choice"] == "none" and _tool_messages(repair)  # the conversation is kept


def test_the_litellm_route_runs_the_loop(fake_llm, monkeypatch):
    monkeypatch.setenv("DS_KEY", "sk-test-ds")
    fake_llm.configure(rules=[{"tool_calls": [
        {"name": "population", "arguments": {"city": "Paris"}},
        {"name": "population", "arguments": {"city": "Rome"}}], "times": 1}, FINAL])
    result, sink = run(flow(litellm_llm(fake_llm)), tools=[population], stream=True)
    assert result.ok, result.error
    assert result.outputs["answer"] == FINAL["content"]
    assert [e.result for e in sink.tools] == ["2100000", "2800000"]
    second = fake_llm.requests()[1]
    assert [m["content"] for m in _tool_messages(second)] == ["2100000", "2800000"]
    assert result.nodes["provider"].tolist() == ["deepseek"]


def test_cached_turns_replay_but_tools_run_again(fake_llm):
    calls: list[str] = []
    answers = iter(["2100000", "2100000", "2200000"])

    def census(city: str) -> str:
        """Census."""
        calls.append(city)
        return next(answers)

    fake_llm.configure(rules=[{"tool_calls": [{"name": "census", "arguments": {"city": "Paris"}}],
                               "times": 1}, FINAL])
    text = flow(http_llm(fake_llm), "[census]")
    first, _ = run(text, tools=[census], cache=True)
    assert first.ok and len(fake_llm.requests()) == 2
    second, _ = run(text, tools=[census], cache=True)
    assert second.ok and second.nodes["cached"].tolist() == [True]
    assert len(fake_llm.requests()) == 2 and second.cost_usd == 0  # both turns replayed
    assert calls == ["Paris", "Paris"]  # ...and the tool ran again
    # A different tool result is a different conversation: the final turn is asked anew.
    third, _ = run(text, tools=[census], cache=True)
    assert third.ok and len(fake_llm.requests()) == 3 and calls == ["Paris"] * 3


def test_a_budget_applies_to_each_call_of_the_loop(fake_llm):
    fake_llm.configure(rules=[{"tool_calls": [{"name": "population", "arguments": {"city": "Paris"}}]}])
    text = flow(http_llm(fake_llm), extra="    max_tool_steps: 50\n    llm: {max_tokens: 1000}")
    # Each call reserves its worst case, 1000 reply tokens at gpt-4o-mini's $0.6/M = $0.0006
    # plus its prompt: what the earlier steps spent and the longer conversation soon exceed it.
    result, sink = run(text, tools=[population], budget_usd=0.000615)
    assert result.status == "budget_exceeded", result.error
    assert 1 <= len(sink.tools) < 10 and result.cost_usd <= 0.000615
    assert len(fake_llm.requests()) == len(sink.tools)  # the refused call was never sent


def test_mock_provider_scripts_tool_calls_without_a_key():
    text = flow("{provider: mock, responses: [{tool_calls: [{name: population, arguments: {city: "
                "Paris}}, {name: population, arguments: {city: Rome}}]}, 'Paris 2.1M, Rome 2.8M.']}")
    result, sink = run(text, tools=[population])
    assert result.ok, result.error
    assert result.outputs["answer"] == "Paris 2.1M, Rome 2.8M."
    assert [e.result for e in sink.tools] == ["2100000", "2800000"]
    assert result.cost_usd == 0 and result.nodes["tool_calls"].tolist() == [2]


def test_a_tool_returning_an_object_is_sent_as_json(fake_llm):
    def facts(city: str) -> dict:
        """Facts about a city."""
        return {"city": city, "people": POPULATIONS[city], "capital": True}

    fake_llm.configure(rules=[{"tool_calls": [{"name": "facts", "arguments": {"city": "Rome"}}],
                               "times": 1}, FINAL])
    result, _ = run(flow(http_llm(fake_llm), "[facts]"), tools=[facts])
    assert result.ok
    (reply,) = _tool_messages(fake_llm.requests()[1])
    assert json.loads(reply["content"]) == {"city": "Rome", "people": 2800000, "capital": True}


def test_recorder_helper_sees_no_tools_without_them(fake_llm):
    sink = Recorder()
    wf = am.load(flow(http_llm(fake_llm), "[]"))
    assert am.run(wf, {"question": "q"}, sinks=[sink]).ok
    assert sink.tools == [] and "tools" not in fake_llm.requests()[0]
