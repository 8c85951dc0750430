"""The live run view without a front end: traits after real and scripted runs, throttled
updates, Stop, the static picture in the output bundle, and the text lines it keeps."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

import agents_magic as am
from agents_magic import _api
from agents_magic.display._assets import asset
from agents_magic.display.run_view import MIN_INTERVAL_S, LiveView, RunView
from agents_magic.engine.events import (NodeFailed, NodeFinished, NodeRetrying, NodeStarted,
                                        RunFinished, RunStarted, TokenDelta)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "notebook"))
from am_nb_helpers import two_step  # noqa: E402

FAN = """
schema_version: "1.0"
flow: {name: fan}
state: {fields: {text: {type: str, required: true}, a: {type: str}, b: {type: str}, c: {type: str}}}
nodes:
  - {id: a, prompt: "A {state.text}", outputs: [a]}
  - {id: b, prompt: "B {state.text}", outputs: [b]}
  - {id: c, prompt: "C {state.a} {state.b}", outputs: [c]}
edges: [{from: START, to: [a, b]}, {from: a, to: c}, {from: b, to: c}, {from: c, to: END}]
config: {llm: {provider: mock}}
"""

MAP = """
schema_version: "1.0"
flow: {{name: mapper}}
state:
  fields:
    docs: {{type: "list[object]", required: true}}
    summary: {{type: str, default: ""}}
    summaries: {{type: "list[str]", default: []}}
nodes:
  - {{id: summarize, prompt: "Summarise doc {{index}}: {{item.title}}", outputs: [summary], on_error: continue}}
edges:
  - {{from: START, parallel: {{items_field: docs, target_node: summarize, collect_field: summaries}}}}
  - {{from: summarize, to: END}}
config:
  llm: {{provider: openai, model: fake-model, api_base: "{base}"}}
  execution: {{timeout: 30, max_retries: 0, max_concurrency: 8}}
"""


class Handle:
    def __init__(self) -> None:
        self.updates: list[Any] = []

    def update(self, obj: Any) -> None:
        self.updates.append(obj._repr_mimebundle_())


class Shown:
    """A ``display`` stand-in that records what was shown."""

    def __init__(self) -> None:
        self.objects: list[Any] = []
        self.handle = Handle()

    def __call__(self, obj: Any, display_id: bool = False) -> Handle:
        self.objects.append(obj)
        return self.handle


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _bundle(view: RunView) -> dict[str, Any]:
    bundle = view._repr_mimebundle_()
    return bundle[0] if isinstance(bundle, tuple) else bundle


def test_a_run_ends_with_every_node_and_the_totals_in_the_traits() -> None:
    wf, shown = am.load(FAN), Shown()
    live = LiveView(wf, display=shown)
    result = _api.run(wf, {"text": "hi"}, sinks=[live], refresh=live.refresh, persist=False)
    view = live.view
    assert shown.objects == [view] and result.status == "succeeded" == view.status
    assert {n: v["state"] for n, v in view.nodes.items()} == {"a": "succeeded", "b": "succeeded",
                                                              "c": "succeeded"}
    assert view.totals["tokens"] == result.total_tokens and view.totals["done"] == 3
    assert view.details["c"]["prompt"].startswith("C ") and '"c"' in view.details["c"]["outputs"]
    assert 'data-node="a"' in view.graph  # the layout of `%workflow graph`


def test_the_output_bundle_holds_the_widget_a_static_picture_and_text() -> None:
    wf, shown = am.load(FAN), Shown()
    live = LiveView(wf, display=shown)
    _api.run(wf, {"text": "hi"}, sinks=[live], refresh=live.refresh, persist=False)
    final = shown.handle.updates[-1]
    final = final[0] if isinstance(final, tuple) else final
    assert "application/vnd.jupyter.widget-view+json" in final
    html = final["text/html"]
    assert "mathjax_ignore" in html and "&#36;0</" in html and "$" not in html
    assert html.count("#dafbe1") == 3  # three succeeded boxes painted green, no script needed
    assert final["text/plain"].startswith("fan · succeeded in ")


def _events() -> list[Any]:
    common = {"run_id": "r", "at": 0.0}
    done = {**common, "started_at": 0.0, "duration_ms": 1500.0, "provider": "openai",
            "model": "m", "iteration": 1}
    return [
        RunStarted(run_id="r", workflow="fan", inputs={}, at=0.0, nodes=("a", "b", "c")),
        NodeStarted(node_id="a", iteration=1, provider="openai", model="m", **common),
        NodeStarted(node_id="b", iteration=1, provider="openai", model="m", **common),
        TokenDelta(run_id="r", node_id="b", text="partial"),
        NodeRetrying(run_id="r", node_id="b", attempt=1, delay_s=0.5, cause="HTTP 429", kind="rate_limit"),
        NodeFinished(prompt_tokens=10, completion_tokens=5, cost_usd=0.25, cached=False,
                     prompt="A prompt", response="A reply", outputs={"a": 1}, node_id="a", **done),
        NodeFailed(node_id="b", error="node `b` (openai/m) failed after 2 attempts: server_error: "
                   "HTTP 500: boom", kind="server_error", attempts=2, **done),
        RunFinished(run_id="r", status="failed", outputs={}, at=0.0, duration_ms=2000.0,
                    cost_usd=0.25, total_tokens=15, error="node `b` (openai/m) failed after 2 "
                    "attempts: server_error: HTTP 500: boom"),
    ]


def _scripted(clock: Clock | None = None) -> tuple[LiveView, Shown]:
    shown = Shown()
    live = LiveView(am.load(FAN), display=shown, clock=clock or Clock())
    return live, shown


def test_scripted_events_give_each_node_state_and_one_error_statement() -> None:
    live, _ = _scripted()
    events = _events()
    for event in events[:5]:
        live(event)
    live.refresh()
    nodes = live.view.nodes
    assert nodes["a"]["state"] == "running" and nodes["c"]["state"] == "pending"
    assert nodes["b"]["state"] == "retrying" and nodes["b"]["attempt"] == 2
    assert nodes["b"]["text"] == "" and "rate limit: HTTP 429" in nodes["b"]["reason"]
    for event in events[5:]:
        live(event)
    live.refresh(final=True)
    nodes, totals = live.view.nodes, live.view.totals
    assert [nodes[n]["state"] for n in "abc"] == ["succeeded", "failed", "skipped"]
    assert nodes["b"]["error"] == "server error after 2 attempts: HTTP 500: boom"
    assert totals["error"] == ""  # the node already says it; the run does not repeat it
    assert (totals["tokens"], totals["cost"], live.view.status) == (15, 0.25, "failed")
    html = _bundle(live.view)["text/html"]
    assert html.count("HTTP 500: boom") == 1
    assert "after 2 attempts" in live.lines.text() and live.lines.text().count("attempts") == 1


def test_bursts_of_events_give_bounded_front_end_updates() -> None:
    clock = Clock()
    live, _ = _scripted(clock)
    live(_events()[0])
    live(_events()[1])
    sent = []
    live.view.observe(lambda change: sent.append(change["name"]), names=["nodes"])
    for step in range(2000):  # 2000 tokens over 2 s, refreshed 20 times a second as _api does
        live(TokenDelta(run_id="r", node_id="a", text="x"))
        clock.now += 0.001
        if step % 50 == 0:
            live.refresh()
    assert 2 <= live.pushes <= 2 / MIN_INTERVAL_S + 2
    assert len(sent) <= live.pushes  # one trait message per batch at most


def test_stop_cancels_the_run_like_an_interrupt(fake_llm: Any) -> None:
    fake_llm.configure(rules=[{"match": "Review", "hang": True}])
    wf, shown = am.load(two_step(fake_llm.base_url, timeout=30)), Shown()
    live = LiveView(wf, display=shown)
    replies: list[Any] = []
    live.view.send = replies.append  # type: ignore[method-assign]

    def press_stop_when_review_runs(event: Any) -> None:
        if isinstance(event, NodeStarted) and event.node_id == "review":
            live.view._handle(live.view, {"type": "cancel", "id": "c1"}, [])  # the front end's message

    result = _api.run(wf, {"topic": "x"}, sinks=[live, press_stop_when_review_runs],
                      refresh=live.refresh, persist=False)
    assert result.status == "cancelled" == live.view.status
    assert live.view.nodes["review"]["state"] == "cancelled"
    assert replies == [{"type": "cancel", "id": "c1", "ok": True, "error": ""}]
    live.view._handle(live.view, {"type": "cancel", "id": "c2"}, [])
    assert replies[-1] == {"type": "cancel", "id": "c2", "ok": False, "error": "the run is not running"}
    assert "▶" not in live.lines.text() and "■ review" in live.lines.text()


def test_front_end_files_exist_and_the_module_has_a_default_export() -> None:
    assert re.search(r"export \{[^}]*\bas default\b", asset("run_view.js").read_text())
    assert asset("run_view.css").is_file()
    view = RunView(workflow="w")
    assert {"text/plain", "text/html", "application/vnd.jupyter.widget-view+json"} <= set(_bundle(view))
    with pytest.raises(TypeError):
        RunView(workflow="w", colour="red")  # type: ignore[call-arg]


def test_dollar_amounts_in_html_outputs_are_not_read_as_math() -> None:
    from agents_magic.display._notes import Note

    html = Note("Estimated cost: $0.000013 – $0.001394 for `summarize`")._repr_html_()
    assert "$" not in html and "&#36;0.000013 – &#36;0.001394" in html
    assert "mathjax_ignore" in html and "tex2jax_ignore" in html


def test_a_replayed_stored_run_equals_the_live_final_state(monkeypatch: pytest.MonkeyPatch,
                                                          fake_llm: Any) -> None:
    from agents_magic import _settings
    from agents_magic.display._replay import replay
    from agents_magic.sinks import flush_sinks

    monkeypatch.setenv("AGENTS_MAGIC_STORE", "1")
    _settings.reset()
    fake_llm.configure(rules=[{"match": "Review", "status": 500, "message": "boom"}])
    wf, shown = am.load(two_step(fake_llm.base_url, max_retries=1)), Shown()
    live = LiveView(wf, display=shown)
    result = _api.run(wf, {"topic": "x"}, sinks=[live], refresh=live.refresh)
    flush_sinks(kind="store")
    again = replay(result.run_id)
    keys = ("state", "tokens", "cost", "error", "iteration", "runs")
    assert {n: {k: v.get(k) for k in keys} for n, v in again.nodes.items()} == \
        {n: {k: v.get(k) for k in keys} for n, v in live.view.nodes.items()}
    assert again.status == live.view.status == "failed"
    assert again.nodes["review"]["error"] == "server error after 2 attempts: HTTP 500: boom"
    assert again.details["draft"]["prompt"] == live.view.details["draft"]["prompt"]
    assert (again.totals["tokens"], again.totals["cost"]) == (live.view.totals["tokens"], live.view.totals["cost"])


def test_a_map_shows_its_node_running_until_every_item_is_done_and_labels_the_edge(fake_llm: Any) -> None:
    fake_llm.configure(rules=[{"match": "doc 3: ", "status": 500, "message": "bad doc"}])
    wf, seen = am.load(MAP.format(base=fake_llm.base_url)), []
    live = LiveView(wf, display=Shown())

    def watch(event: Any) -> None:
        if isinstance(event, (NodeFinished, NodeFailed)) and event.node_id == "summarize":
            seen.append(live.state.nodes["summarize"]["state"])

    docs = [{"title": f"t{i}"} for i in range(6)]
    result = _api.run(wf, {"docs": docs}, sinks=[live, watch], refresh=live.refresh, persist=False)
    assert "map over docs" in live.view.graph
    assert seen[:-1] == ["running"] * 5  # one box for six executions: running until the last ends
    node = live.view.nodes["summarize"]
    assert node["runs"] == 6 and node["active"] == 0
    assert node["state"] == "failed" and "bad doc" in node["error"]
    assert result.status in ("succeeded", "failed")


def test_help_lines_scroll_rather_than_break_mid_word():
    from agents_magic.display._notes import Help

    html = Help("%workflow graph NAME|-f FILE      " + "a long description " * 8)._repr_html_()
    assert html.startswith("<pre") and "white-space:pre;" in html and "overflow-x:auto" in html
