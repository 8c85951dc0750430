"""Tool calls stored with their node execution (SQLite and PostgreSQL) and counted in reports."""

from __future__ import annotations

import agents_magic as am
from agents_magic.sinks import StoreSink
from tools_helpers import flow, population

SCRIPT = ("{provider: mock, responses: [{tool_calls: [{name: population, arguments: {city: Paris}}, "
          "{name: population, arguments: {city: Atlantis}}]}, 'Paris has 2.1M.']}")


def test_tool_calls_are_stored_with_the_node_execution(store_url):
    sink = StoreSink(store_url)
    result = am.run(am.load(flow(SCRIPT), tools=[population]), {"question": "q"}, sinks=[sink])
    assert result.ok, result.error
    assert sink.flush(30)
    record = am.show_run(result.run_id, url=store_url)
    (node,) = record["nodes"]
    assert node["outputs"] == {"answer": "Paris has 2.1M."}  # the calls are not an output
    paris, atlantis = node["tool_calls"]
    assert (paris["tool"], paris["arguments"], paris["result"], paris["error"], paris["step"]) == (
        "population", {"city": "Paris"}, "2100000", None, 1)
    assert atlantis["error"] == "KeyError: 'no census for Atlantis'"
    assert atlantis["result"] == "error: KeyError: 'no census for Atlantis'"
    assert paris["duration_ms"] >= 0 and paris["call_id"]
    profile = am.profile(result.run_id, url=store_url)
    assert profile["tool_calls"].tolist() == [2]


def test_a_failed_node_keeps_its_tool_calls(store_url):
    sink = StoreSink(store_url)
    text = flow(SCRIPT, "[{name: population, on_error: fail}]")
    result = am.run(am.load(text, tools=[population]), {"question": "q"}, sinks=[sink])
    assert result.status == "failed"
    assert sink.flush(30)
    (node,) = am.show_run(result.run_id, url=store_url)["nodes"]
    assert node["status"] == "failed" and node["error_kind"] == "tool_error"
    assert node["outputs"] is None and [c["arguments"]["city"] for c in node["tool_calls"]] == [
        "Paris", "Atlantis"]
