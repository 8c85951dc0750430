"""The run view of map items and tool calls, and a failed node's prompt: what the box, the
detail panel and the text lines show live, and that a replay from the store shows the same."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from test_run_view import MAP, Shown

import agents_magic as am
from agents_magic import _api
from agents_magic.display._replay import events_of, replay
from agents_magic.display.run_view import LiveView
from agents_magic.engine.events import (NodeFailed, NodeFinished, NodeRetrying, NodeStarted,
                                        RunStarted, ToolCalled, ToolStarted)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from tools_helpers import flow, http_llm, population  # noqa: E402


@pytest.fixture
def store_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from agents_magic import _settings

    monkeypatch.setenv("AGENTS_MAGIC_STORE", "1")
    _settings.reset()


def _replayed(run_id: str) -> Any:
    from agents_magic.sinks import flush_sinks

    flush_sinks(kind="store")
    return replay(run_id)


def test_a_map_node_counts_its_items_live_and_lists_each_in_its_detail(fake_llm: Any,
                                                                      store_on: None) -> None:
    fake_llm.configure(latency_ms=150, rules=[{"match": "doc 3: ", "status": 500, "message": "bad doc"}])
    wf = am.load(MAP.format(base=fake_llm.base_url))
    live, seen = LiveView(wf, display=Shown()), []

    def watch(event: Any) -> None:
        if isinstance(event, (NodeFinished, NodeFailed)):
            seen.append(dict(live.state.nodes["summarize"]["items"]))

    docs = [{"title": f"t{i}"} for i in range(6)]
    result = _api.run(wf, {"docs": docs}, sinks=[live, watch], refresh=live.refresh)
    # While in flight: the items still running are counted with those done and failed.
    assert seen[0]["running"] == 5 and seen[0]["done"] + seen[0]["failed"] == 1
    assert all(c["running"] + c["done"] + c["failed"] == c["total"] == 6 for c in seen)
    node = live.view.nodes["summarize"]
    assert node["items"] == {"total": 6, "done": 5, "running": 0, "retrying": 0, "failed": 1,
                             "cancelled": 0}
    items = live.view.details["summarize"]["items"]
    assert [i["label"] for i in items] == [f"summarize[{i}]" for i in range(6)]
    bad = items[3]
    assert bad["state"] == "failed" and "bad doc" in bad["error"]
    assert bad["prompt"] == "Summarise doc 3: t3"  # a failed item keeps its rendered prompt
    assert items[0]["state"] == "succeeded" and items[0]["prompt"] == "Summarise doc 0: t0"
    assert items[0]["response"] and '"summary"' in items[0]["outputs"]
    lines = live.lines.text()  # the text progress labels each item's execution
    assert "✗ summarize[3]" in lines and "✓ summarize[0]" in lines and "summarize #" not in lines

    again = _replayed(result.run_id)
    assert again.nodes["summarize"]["items"] == node["items"]
    assert again.nodes["summarize"]["state"] == node["state"] == "failed"
    assert again.details["summarize"]["items"] == items


def test_the_store_record_replays_as_events_naming_map_items(fake_llm: Any, store_on: None) -> None:
    from agents_magic._reports import show_run
    from agents_magic.display._notes import RunDetail
    from agents_magic.sinks import flush_sinks

    wf = am.load(MAP.format(base=fake_llm.base_url))
    result = am.run(wf, {"docs": [{"title": "a"}, {"title": "b"}]})
    flush_sinks(kind="store")
    record = show_run(result.run_id)
    started = [e for e in events_of(record) if isinstance(e, NodeStarted)]
    assert sorted(e.item for e in started) == [0, 1]
    text = repr(RunDetail(record))
    assert "── summarize[0] ·" in text and "── summarize[1] ·" in text


def test_retries_of_a_map_item_are_labelled_with_the_item() -> None:
    from agents_magic.display._fallback import TextProgress

    lines = TextProgress("mapper", "off")
    lines(RunStarted("r", "mapper", {}, 0.0, ("summarize",)))
    lines(NodeStarted("r", "summarize", 1, 0.0, "openai", "m", item=0))
    lines(NodeStarted("r", "summarize", 1, 0.0, "openai", "m", item=1))
    lines(NodeRetrying("r", "summarize", 1, 0.5, "HTTP 429", "rate_limit", item=1))
    text = lines.text()
    assert "summarize[1]  retrying" in text and "summarize[0]  started" in text
    assert any(line.startswith("↻ summarize[1] attempt 1 failed") for line in lines._log)


FIRST_ROUND = {"tool_calls": [{"name": "population", "arguments": {"city": "Paris"}},
                              {"name": "population", "arguments": {"city": "Atlantis"}}], "times": 1}


def test_tool_calls_show_on_the_running_box_and_in_the_detail_panel(fake_llm: Any,
                                                                   store_on: None) -> None:
    fake_llm.configure(rules=[FIRST_ROUND, {"content": "About 2.1 million people."}])
    wf = am.load(flow(http_llm(fake_llm)))
    live, captions, ended = LiveView(wf, display=Shown()), [], []

    def watch(event: Any) -> None:
        if isinstance(event, ToolStarted):
            captions.append(live.state.snapshot()[0]["ask"]["tool"])
        elif isinstance(event, ToolCalled):
            ended.append(live.state.nodes["ask"]["tool_calls"])

    result = _api.run(wf, {"question": "How many live in Paris?"}, sinks=[live, watch],
                      refresh=live.refresh, tools=[population])
    assert result.status == "succeeded", result.error
    assert captions == ["population", "population"]  # "calling population…" while it runs
    assert ended == [1, 2]
    node = live.view.nodes["ask"]
    assert node["state"] == "succeeded" and node["tool"] == "" and node["tool_calls"] == 2
    calls = {c["arguments"]: c for c in live.view.details["ask"]["tool_calls"]}
    paris, atlantis = calls['{"city": "Paris"}'], calls['{"city": "Atlantis"}']
    assert (paris["tool"], paris["result"], paris["error"], paris["step"]) == ("population", "2100000", "", 1)
    assert "no census for Atlantis" in atlantis["error"] and paris["duration_ms"] >= 0
    assert live.view.details["ask"]["prompt"].startswith("Answer: How many")

    again = _replayed(result.run_id)
    assert again.details["ask"]["tool_calls"] == live.view.details["ask"]["tool_calls"]
    assert again.nodes["ask"]["tool_calls"] == 2
    static = live.view.static_html()  # the saved picture counts them too
    assert "<th>tool calls</th>" in static and "<td>2</td>" in static


def test_a_failed_node_keeps_its_rendered_prompt_and_its_reply(store_on: None) -> None:
    from agents_magic._reports import show_run
    from agents_magic.sinks import flush_sinks

    text = """
schema_version: "1.0"
flow: {name: rating}
state: {fields: {text: {type: str, required: true}, score: {type: int, default: 0}}}
nodes:
  - id: rate
    prompt: "Rate {state.text} from 1 to 10"
    outputs: [score]
    output_schema: {type: object, fields: [{name: score, type: int}]}
    llm: {provider: mock, responses: ["not json", "still not json"]}
edges: [{from: START, to: rate}, {from: rate, to: END}]
"""
    failed: list[NodeFailed] = []
    wf = am.load(text)
    live = LiveView(wf, display=Shown())
    result = _api.run(wf, {"text": "the film"}, refresh=live.refresh,
                      sinks=[live, lambda e: failed.append(e) if isinstance(e, NodeFailed) else None])
    assert result.status == "failed"
    (event,) = failed
    assert event.prompt == "Rate the film from 1 to 10" and event.response == "still not json"
    detail = live.view.details["rate"]
    assert detail["prompt"] == event.prompt and detail["response"] == "still not json"
    assert "repair" in detail["error"]
    flush_sinks(kind="store")
    (row,) = show_run(result.run_id)["nodes"]
    assert (row["prompt"], row["response"]) == (event.prompt, "still not json")
    assert _replayed(result.run_id).details["rate"]["prompt"] == event.prompt
