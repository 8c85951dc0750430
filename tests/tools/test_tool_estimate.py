"""The cost estimate of a node with tools: one call when the model answers at once, up to
``max_tool_steps + 1`` when it keeps calling tools; a range, never an under-count."""

from __future__ import annotations

import pytest
from tools_helpers import flow

import agents_magic as am
from agents_magic._estimate import estimate

LLM = "{provider: openai, model: gpt-4o-mini, max_tokens: 100}"


def test_a_tool_node_costs_one_call_to_max_tool_steps_plus_one():
    plain = estimate(am.load(flow(LLM, "[]").replace("    tools: []\n", "")),
                     {"question": "How many live in Paris?"})
    tooled = estimate(am.load(flow(LLM, "[{name: json_parse}]", extra="    max_tool_steps: 3")),
                      {"question": "How many live in Paris?"})
    (one,) = plain["nodes"].to_dict("records")
    (row,) = tooled["nodes"].to_dict("records")
    assert (one["calls_min"], one["calls_max"]) == (1, 1)
    assert (row["calls_min"], row["calls_max"]) == (1, 4)
    assert row["prompt_tokens_max"] == one["prompt_tokens_max"]
    assert tooled["min_usd"] == pytest.approx(plain["min_usd"]) and tooled["min_usd"] > 0
    assert tooled["max_usd"] == pytest.approx(4 * plain["max_usd"])
    assert tooled["max_tokens"] == 4 * plain["max_tokens"]
    assert any("`ask` makes 1 call" in a and "= 4" in a for a in tooled["assumptions"])
    assert not any(a.startswith("tools:") for a in plain["assumptions"])


def test_the_default_step_limit_allows_nine_calls():
    text = flow(LLM, "[{name: json_parse}]")
    assert estimate(am.load(text), {"question": "q"})["nodes"]["calls_max"].tolist() == [9]


def test_percent_workflow_estimate_shows_the_range(ip, tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(flow(LLM, "[{name: json_parse}]", extra="    max_tool_steps: 2"))
    shown = ip.run_line_magic("workflow", f"estimate -f {path} question=hi")
    (row,) = shown.nodes.to_dict("records")
    assert (row["calls_min"], row["calls_max"]) == (1, 3)
    assert "max_tool_steps + 1 = 3" in repr(shown)
