"""Retries on the run view's boxes: a map node counts its retrying items and is coloured as
retrying while any item waits, and a retrying box says why in short."""

from __future__ import annotations

from typing import Any

from test_run_view import MAP, Shown

import agents_magic as am
from agents_magic import _api
from agents_magic.display._state import RunState
from agents_magic.display.run_view import LiveView
from agents_magic.engine.events import (NodeFailed, NodeFinished, NodeRetrying, NodeStarted,
                                        RunFinished, RunStarted)

DONE = {"started_at": 0.0, "duration_ms": 10.0, "provider": "openai", "model": "m",
        "prompt_tokens": 1, "completion_tokens": 1, "cost_usd": 0.0}


def _finished(item: int) -> NodeFinished:
    return NodeFinished("r", "summarize", 1, 0.0, **DONE, cached=False, outputs={}, item=item)


def test_a_retrying_map_item_is_counted_and_keeps_the_box_retrying_until_it_ends() -> None:
    state = RunState({"summarize": "llm"})
    state.apply(RunStarted("r", "mapper", {}, 0.0, ("summarize",)))
    for item in range(3):
        state.apply(NodeStarted("r", "summarize", 1, 0.0, "openai", "m", item=item))
    state.apply(_finished(0))
    state.apply(NodeRetrying("r", "summarize", 1, 1.0, "HTTP 429: slow down", "rate_limit", item=1))
    node = state.snapshot()[0]["summarize"]
    assert node["items"] == {"total": 3, "done": 1, "running": 1, "retrying": 1, "failed": 0,
                             "cancelled": 0}
    assert node["state"] == "retrying" and node["attempt"] == 2
    assert node["retry"] == "rate limit, waiting 1 s"  # the box's caption
    assert node["reason"] == "summarize[1]: rate limit: HTTP 429: slow down"  # the detail panel
    state.apply(NodeRetrying("r", "summarize", 2, 0.5, "HTTP 429", "rate_limit", item=1))
    assert state.nodes["summarize"]["items"]["retrying"] == 1  # one item, however many retries
    assert state.nodes["summarize"]["retry"] == "rate limit, waiting 0.5 s"
    state.apply(_finished(2))  # another item ends while item 1 still waits: the box stays amber
    assert state.nodes["summarize"]["state"] == "retrying"
    assert state.nodes["summarize"]["items"]["running"] == 0
    state.apply(NodeStarted("r", "summarize", 1, 0.0, "openai", "m", item=3))  # and one starts
    assert state.nodes["summarize"]["state"] == "retrying"
    state.apply(_finished(1))
    node = state.nodes["summarize"]
    assert (node["state"], node["retry"], node["reason"]) == ("running", "", "")
    assert node["items"] == {"total": 4, "done": 3, "running": 1, "retrying": 0, "failed": 0,
                             "cancelled": 0}
    state.apply(NodeFailed("r", "summarize", 1, 0.0, **DONE, error="boom", kind="server_error",
                           item=3))
    state.apply(RunFinished("r", "failed", {}, 0.0, 20.0, 0.0, 8, None))
    node = state.nodes["summarize"]
    assert node["state"] == "failed" and node["items"]["failed"] == 1 and node["retry"] == ""


def test_a_plain_node_says_its_retry_in_short_and_a_code_retry_has_no_wait() -> None:
    state = RunState({"a": "llm", "b": "code"})
    state.apply(RunStarted("r", "w", {}, 0.0, ("a", "b")))
    state.apply(NodeStarted("r", "a", 1, 0.0, "openai", "m"))
    state.apply(NodeStarted("r", "b", 1, 0.0, "", "", kind="code"))
    state.apply(NodeRetrying("r", "a", 1, 12.34, "HTTP 503", "server_error"))
    state.apply(NodeRetrying("r", "b", 1, 0.0, "took too long", "SandboxTimeout"))
    nodes = state.snapshot()[0]
    assert nodes["a"]["retry"] == "server error, waiting 12.3 s" and nodes["a"]["state"] == "retrying"
    assert nodes["b"]["retry"] == "SandboxTimeout" and nodes["a"]["reason"] == "server error: HTTP 503"
    state.apply(NodeFinished("r", "a", 1, 0.0, **{**DONE, "attempts": 2}, cached=False, outputs={}))
    assert (state.nodes["a"]["state"], state.nodes["a"]["retry"]) == ("succeeded", "")


def test_a_live_map_shows_the_item_waiting_on_a_rate_limit(fake_llm: Any) -> None:
    # Item 1 is refused at once and asked to wait 2 s; items 0 and 2 reply after 1 s, so they
    # end while item 1 waits.
    fake_llm.configure(rules=[
        {"match": "doc 1: ", "status": 429, "times": 1, "headers": {"Retry-After": "2"}},
        {"match": "doc 0: ", "delay_ms": 1000}, {"match": "doc 2: ", "delay_ms": 1000}])
    wf = am.load(MAP.format(base=fake_llm.base_url).replace("max_retries: 0", "max_retries: 2"))
    live, seen = LiveView(wf, display=Shown()), []

    def watch(event: Any) -> None:
        if isinstance(event, (NodeRetrying, NodeFinished)):
            node = live.state.snapshot()[0]["summarize"]
            seen.append((type(event).__name__, event.item, node["state"], node["retry"],
                         dict(node["items"])))

    docs = [{"title": f"t{i}"} for i in range(3)]
    result = _api.run(wf, {"docs": docs}, sinks=[live, watch], refresh=live.refresh, persist=False)
    assert result.status == "succeeded", result.error
    retried = next(s for s in seen if s[0] == "NodeRetrying")
    assert retried[1:4] == (1, "retrying", "rate limit, waiting 2 s")
    assert retried[4]["retrying"] == 1 and retried[4]["running"] == 2
    waiting = [s for s in seen if s[0] == "NodeFinished" and s[1] != 1]
    assert [s[2] for s in waiting] == ["retrying", "retrying"]  # amber while item 1 waits
    assert waiting[-1][4]["retrying"] == 1 and waiting[-1][4]["done"] == 2
    node = live.view.nodes["summarize"]
    assert node["state"] == "succeeded" and node["retry"] == "" and node["attempt"] == 2
    assert node["items"] == {"total": 3, "done": 3, "running": 0, "retrying": 0, "failed": 0,
                             "cancelled": 0}
    assert "↻ summarize[1] attempt 1 failed (rate limit" in "\n".join(live.lines._log)
