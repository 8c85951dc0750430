"""Map over a list (``parallel:`` edges) against the fake OpenAI-compatible server."""

from __future__ import annotations

import random

import pytest

import agents_magic as am
from agents_magic.errors import ConfigError

MAP = """
schema_version: "1.0"
flow: {{name: mapper}}
state:
  fields:
    docs: {{type: "list[object]", required: true}}
    kind: {{type: str, default: long}}
    label: {{type: str, default: ""}}
    summary: {{type: str, default: ""}}
    summaries: {{type: "list[str]", default: []}}
    final: {{type: str, default: ""}}
nodes:
  - {{id: prep, prompt: "Prepare {{state.kind}}", outputs: [label]}}
  - id: summarize
    prompt: "Summarise doc {{index}}: {{item.title}}"
    outputs: [summary]
    on_error: {on_error}
  - {{id: combine, prompt: "Combine {{state.summaries}}", outputs: [final]}}
edges:
  - {{from: START, to: prep}}
  - {{from: prep, parallel: {{items_field: docs, target_node: summarize, collect_field: summaries}}}}
  - {{from: summarize, to: combine}}
  - {{from: combine, to: END}}
config:
  llm: {{provider: openai, model: gpt-4o-mini, api_base: "{base}"}}
  execution: {{timeout: 30, max_retries: 0, retry_backoff: 0.01, max_concurrency: 8}}
"""


def mapper(fake, on_error: str = "fail") -> am.Workflow:
    return am.load(MAP.format(base=fake.base_url, on_error=on_error))


def docs(n: int) -> list[dict[str, str]]:
    return [{"title": f"title-{i}"} for i in range(n)]


def test_twenty_documents_come_back_in_item_order_under_random_latencies(fake_llm):
    rng = random.Random(7)
    fake_llm.configure(rules=[{"match": f"doc {i}: ", "content": f"summary {i}",
                               "delay_ms": rng.randint(0, 120)} for i in range(20)])
    result = am.run(mapper(fake_llm), {"docs": docs(20)})
    assert result.status == "succeeded", result.error
    assert result.outputs["summaries"] == [f"summary {i}" for i in range(20)]
    prompts = {r["messages"][-1]["content"] for r in fake_llm.requests()}
    assert {f"Summarise doc {i}: title-{i}" for i in range(20)} <= prompts
    rows = [r for r in result.node_rows if r["node_id"] == "summarize"]
    assert sorted(r["item"] for r in rows) == list(range(20))
    assert all(r["iteration"] == r["item"] + 1 for r in rows)
    assert [r["node_id"] for r in result.node_rows].count("combine") == 1
    combine = next(p for p in prompts if p.startswith("Combine"))
    assert "summary 0" in combine and "summary 19" in combine


def test_an_empty_list_skips_the_target_and_collects_nothing(fake_llm):
    result = am.run(mapper(fake_llm), {"docs": []})
    assert result.status == "succeeded", result.error
    assert result.outputs["summaries"] == []
    assert [r["node_id"] for r in result.node_rows] == ["prep", "combine"]


def test_a_failing_item_fails_the_run_by_default(fake_llm):
    fake_llm.configure(rules=[{"match": "doc 2: ", "status": 400, "message": "bad item"}])
    result = am.run(mapper(fake_llm), {"docs": docs(4)})
    assert result.status == "failed"
    assert "bad item" in result.error
    failed = [r for r in result.node_rows if r["status"] == "failed"]
    assert [(r["node_id"], r["item"]) for r in failed] == [("summarize", 2)]
    assert "combine" not in [r["node_id"] for r in result.node_rows]


def test_on_error_continue_records_the_error_in_place(fake_llm):
    fake_llm.configure(rules=[{"match": "doc 2: ", "status": 400, "message": "bad item"},
                              {"match": "Summarise", "content": "fine"}])
    result = am.run(mapper(fake_llm, "continue"), {"docs": docs(4)})
    assert result.status == "succeeded", result.error
    collected = result.outputs["summaries"]
    assert collected[:2] == ["fine", "fine"] and collected[3] == "fine"
    assert "bad item" in collected[2]["error"]
    statuses = sorted((r["item"], r["status"]) for r in result.node_rows if r["node_id"] == "summarize")
    assert statuses == [(0, "succeeded"), (1, "succeeded"), (2, "failed"), (3, "succeeded")]
    assert [r["node_id"] for r in result.node_rows].count("combine") == 1


BRANCH = MAP.replace("  - {{from: START, to: prep}}\n", """\
  - {{from: START, to: gate}}
  - {{from: gate, to: prep, condition: "{{state.kind}} == 'long'"}}
  - {{from: gate, to: END, condition: "{{state.kind}} != 'long'"}}
""").replace("nodes:\n", "nodes:\n  - {{id: gate, prompt: \"Gate {{state.kind}}\", outputs: [final]}}\n")


@pytest.mark.parametrize(("kind", "mapped"), [("long", True), ("short", False)])
def test_a_map_inside_a_conditional_branch(fake_llm, kind, mapped):
    workflow = am.load(BRANCH.format(base=fake_llm.base_url, on_error="fail"))
    fake_llm.configure(rules=[{"match": "Summarise doc", "content": "s"}])
    result = am.run(workflow, {"docs": docs(3), "kind": kind})
    assert result.status == "succeeded", result.error
    ran = [r["node_id"] for r in result.node_rows]
    assert ran.count("summarize") == (3 if mapped else 0)
    assert result.outputs["summaries"] == (["s", "s", "s"] if mapped else [])


def test_the_store_keeps_one_row_per_item(fake_llm, tmp_path):
    from agents_magic.sinks import StoreSink
    from agents_magic.store._db import open_store

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    sink = StoreSink(url)
    result = am.run(mapper(fake_llm), {"docs": docs(5)}, sinks=[sink])
    assert sink.flush()
    import sqlalchemy as sa

    with open_store(url).engine.connect() as connection:
        found = connection.execute(sa.text(
            "SELECT node_id, item, iteration, status FROM node_executions WHERE run_id = :r"),
            {"r": result.run_id}).all()
    assert sorted(tuple(row) for row in found if row.item is not None) == [
        ("summarize", i, i + 1, "succeeded") for i in range(5)]
    assert sorted(tuple(row) for row in found if row.item is None) == [
        ("combine", None, 1, "succeeded"), ("prep", None, 1, "succeeded")]
    profile = am.profile(result.run_id, url=url)
    assert sorted(profile["item"].dropna().tolist()) == list(range(5))
    shown = am.show_run(result.run_id, url=url)["nodes"]
    assert sorted((n["node_id"], n["item"]) for n in shown if n["item"] is not None) == [
        ("summarize", i) for i in range(5)]
    labels = {bar_text for trace in am.profile_figure(profile).data for bar_text in trace.text}
    assert labels == {"prep", "combine"} | {f"summarize[{i}]" for i in range(5)}
    sink.close()


def test_estimate_multiplies_the_target_by_the_known_items(fake_llm):
    workflow = mapper(fake_llm)
    known = am.estimate(workflow, {"docs": docs(20)})
    assert known["map_items"] == {"summarize": 20}
    row = known["nodes"].set_index("node_id").loc["summarize"]
    assert row["calls_min"] == row["calls_max"] == 20
    assert any("× 20" in line for line in known["assumptions"])
    unknown = am.estimate(workflow)
    assert unknown["map_items"] == {"summarize": None}
    assert unknown["nodes"].set_index("node_id").loc["summarize"]["calls_max"] == 1


@pytest.mark.parametrize(("change", "message", "hint"), [
    (("items_field: docs", "items_field: final"), "items_field `final` is a `str`; a map needs a list",
     "list[...]"),
    (("collect_field: summaries", "collect_field: sumaries"), "collect_field `sumaries` is not a state field",
     "did you mean `summaries`"),
    (("target_node: summarize,", "target_node: sumarize,"), "map target `sumarize` is not a node",
     "did you mean `summarize`"),
    (("  - {{from: combine, to: END}}\n", "  - {{from: combine, to: END}}\n  - {{from: prep, to: summarize}}\n"),
     "would also run it on its own", "remove this edge"),
])
def test_map_mistakes_are_reported_with_their_line(change, message, hint):
    text = MAP.replace(*change).format(base="http://127.0.0.1:9", on_error="fail")
    with pytest.raises(ConfigError) as caught:
        am.load(text)
    found = [p for p in caught.value.problems if message in p.message]
    assert found, str(caught.value)
    assert found[0].line and hint in found[0].hint


def test_item_and_index_are_only_for_map_targets():
    text = MAP.replace('"Combine {{state.summaries}}"', '"Combine {{item}}"').format(
        base="http://127.0.0.1:9", on_error="fail")
    with pytest.raises(ConfigError, match="undefined state field `item`"):
        am.load(text)


JOINED = MAP.replace("  - {{from: START, to: prep}}\n", """\
  - {{from: START, to: [prep, side]}}
  - {{from: side, to: combine}}
""").replace("nodes:\n", "nodes:\n  - {{id: side, prompt: \"Side {{state.kind}}\", outputs: [final]}}\n").replace(
    'prompt: "Summarise doc {{index}}: {{item.title}}"',
    'prompt: "Summarise doc {{index}}: {{title}}"\n    inputs: {{title: item.title}}')


@pytest.mark.parametrize("count", [3, 0])
def test_a_map_branch_of_a_fan_out_is_waited_for_once(fake_llm, count):
    fake_llm.configure(rules=[{"match": "Summarise doc 1: ", "content": "slow", "delay_ms": 100},
                              {"match": "Summarise", "content": "fast"}])
    result = am.run(am.load(JOINED.format(base=fake_llm.base_url, on_error="fail")), {"docs": docs(count)})
    assert result.status == "succeeded", result.error
    assert result.outputs["summaries"] == ["fast", "slow", "fast"][:count]
    ran = [r["node_id"] for r in result.node_rows]
    assert ran.count("combine") == 1 and ran.count("summarize") == count
    combine = next(r["messages"][-1]["content"] for r in fake_llm.requests()
                   if r["messages"][-1]["content"].startswith("Combine"))
    assert ("slow" in combine) == bool(count)


def test_items_run_concurrently_within_max_concurrency(fake_llm):
    fake_llm.configure(rules=[{"match": "Summarise", "content": "s", "delay_ms": 60}])
    workflow = am.load(MAP.replace("max_concurrency: 8", "max_concurrency: 3").format(
        base=fake_llm.base_url, on_error="fail"))
    result = am.run(workflow, {"docs": docs(9)})
    assert result.status == "succeeded", result.error
    assert result.outputs["summaries"] == ["s"] * 9
    assert 1 < fake_llm.stats()["max_in_flight"] <= 3


def test_each_item_is_its_own_execution_in_events_rows_and_reports(fake_llm):
    from agents_magic.engine.events import (NodeFailed, NodeFinished, NodeRetrying, NodeStarted,
                                            TokenDelta)

    fake_llm.configure(rules=[{"match": "doc 1: ", "status": 500, "times": 1},
                              {"match": "doc 2: ", "status": 400, "message": "bad item"},
                              {"match": "Summarise doc", "content": "fine"}])
    events: list = []
    workflow = am.load(MAP.replace("max_retries: 0", "max_retries: 1").format(
        base=fake_llm.base_url, on_error="continue"))
    result = am.run(workflow, {"docs": docs(3)}, sinks=[events.append], stream=True)
    assert result.status == "succeeded", result.error

    def items(kind: type) -> list:
        return sorted({e.item for e in events if isinstance(e, kind) and e.node_id == "summarize"})

    assert items(NodeStarted) == [0, 1, 2]
    assert items(NodeFinished) == [0, 1]
    assert items(NodeFailed) == [2]
    assert items(NodeRetrying) == [1]
    assert items(TokenDelta) == [0, 1]
    assert {e.item for e in events if isinstance(e, (NodeStarted, NodeFinished, TokenDelta))
            and e.node_id != "summarize"} == {None}
    frame = result.nodes
    assert str(frame["item"].dtype) == "Int64"
    mapped = frame[frame["node_id"] == "summarize"].sort_values("item")
    assert mapped["item"].tolist() == [0, 1, 2]
    assert mapped["status"].tolist() == ["succeeded", "succeeded", "failed"]
    assert frame[frame["node_id"] != "summarize"]["item"].isna().all()
    html = result._repr_html_()
    assert all(f"<td>summarize[{i}]</td>" in html for i in range(3)) and "<td>prep</td>" in html


def test_execution_labels():
    from agents_magic.engine.events import execution_label

    assert execution_label("summarize", 3) == "summarize[3]"
    assert execution_label("summarize", 0, iteration=1) == "summarize[0]"
    assert execution_label("review", iteration=2) == "review #2"
    assert execution_label("review", None, 1) == execution_label("review") == "review"


def test_a_failing_item_lets_the_other_items_finish(fake_llm):
    fake_llm.configure(rules=[{"match": "doc 0: ", "status": 400, "message": "bad item"},
                              {"match": "Summarise doc", "content": "fine", "delay_ms": 150}])
    result = am.run(mapper(fake_llm), {"docs": docs(4)})
    assert result.status == "failed" and "bad item" in result.error
    statuses = sorted((r["item"], r["status"]) for r in result.node_rows if r["node_id"] == "summarize")
    assert statuses == [(0, "failed"), (1, "succeeded"), (2, "succeeded"), (3, "succeeded")]
    assert "combine" not in [r["node_id"] for r in result.node_rows]
    assert result.cost_usd == pytest.approx(result.nodes["cost_usd"].sum())
