"""Reports: runs, cost_report, profile, show_run and their plotly figures."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from store_helpers import FANOUT

import agents_magic as am
from agents_magic import _reports
from agents_magic.engine.events import NodeFailed, NodeFinished, RunFinished, RunStarted
from agents_magic.sinks import StoreSink


def _node(run_id, node_id, t, *, provider="openai", model="gpt-4o-mini", cost=0.0,
          tokens=(10, 5), cached=False, ms=100.0, iteration=1):
    return NodeFinished(run_id, node_id, iteration, t + ms / 1000, t, ms, provider, model,
                        tokens[0], tokens[1], cost, cached, {"x": 1}, f"prompt of {node_id}",
                        f"reply of {node_id}")


def _history(url):
    """Four runs of two workflows: paid, cached, failed and cancelled."""
    sink = StoreSink(url)
    t = time.time() - 100
    events = [
        RunStarted("paid", "alpha", {"q": 1}, t, ("a", "b"), "flow: {name: alpha}"),
        _node("paid", "a", t, cost=0.003, tokens=(100, 50)),
        _node("paid", "b", t + 0.1, provider="anthropic", model="claude-x", cost=0.007,
              tokens=(200, 20)),
        RunFinished("paid", "succeeded", {"y": 2}, t + 0.3, 300.0, 0.010, 370),
        RunStarted("cached", "alpha", {"q": 1}, t + 10, ("a", "b"), "flow: {name: alpha}"),
        _node("cached", "a", t + 10, cached=True, tokens=(100, 50), ms=1.0),
        _node("cached", "b", t + 10.01, provider="ollama", model="llama3", tokens=(200, 20)),
        RunFinished("cached", "succeeded", {"y": 2}, t + 10.2, 200.0, 0.0, 370),
        RunStarted("broken", "beta", {}, t + 20, ("c",), "flow: {name: beta}"),
        NodeFailed("broken", "c", 1, t + 20.5, t + 20, 500.0, "openai", "gpt-4o-mini",
                   "HTTP 500: boom", "server_error", 4),
        RunFinished("broken", "failed", {}, t + 20.6, 600.0, 0.0, 0, "node `c` failed"),
        RunStarted("stopped", "beta", {}, t + 30, ("c",), "flow: {name: beta}"),
        _node("stopped", "c", t + 30, provider="mock", model="mock", tokens=(3, 3)),
        RunFinished("stopped", "cancelled", {}, t + 30.5, 500.0, 0.0, 6, "the run was cancelled"),
    ]
    for event in events:
        sink(event)
    sink.close()
    return t


def test_runs_lists_every_status_newest_first(store_url):
    _history(store_url)
    frame = _reports.runs(url=store_url)
    assert list(frame["run_id"]) == ["stopped", "broken", "cached", "paid"]
    assert list(frame.columns) == _reports.RUN_COLUMNS
    assert str(frame["started_at"].dtype).startswith("datetime64") and frame["started_at"].dt.tz
    row = frame.set_index("run_id").loc["cached"]
    assert (row["nodes"], row["cached_nodes"], row["failed_nodes"]) == (2, 1, 0)
    assert frame.set_index("run_id").loc["broken", "failed_nodes"] == 1
    assert list(_reports.runs(name="alpha", url=store_url)["run_id"]) == ["cached", "paid"]
    assert list(_reports.runs(last=1, url=store_url)["run_id"]) == ["stopped"]
    assert list(_reports.runs(status=["failed", "cancelled"], url=store_url)["run_id"]) == [
        "stopped", "broken"]
    assert _reports.runs(name="nope", url=store_url).empty


def test_cost_by_provider_model_node_and_workflow(store_url):
    _history(store_url)
    by_provider = _reports.cost_report("provider", url=store_url).set_index("provider")
    assert by_provider.loc["anthropic", "cost_usd"] == pytest.approx(0.007)
    assert by_provider.loc["openai", "cost_usd"] == pytest.approx(0.003)  # the cached call is free
    assert by_provider.loc["openai", "calls"] == 3 and by_provider.loc["openai", "cached_calls"] == 1
    assert by_provider.loc["openai", "failed_calls"] == 1
    assert by_provider.loc["ollama", "cost_usd"] == 0.0 and by_provider.loc["mock", "cost_usd"] == 0.0
    assert by_provider["share"].sum() == pytest.approx(1.0)
    assert list(by_provider.index[:2]) == ["anthropic", "openai"]  # most expensive first
    by_model = _reports.cost_report("model", url=store_url)
    assert {"provider", "model", "total_tokens"} <= set(by_model.columns)
    by_node = _reports.cost_report("node", url=store_url).set_index(["workflow", "node_id"])
    assert by_node.loc[("alpha", "a"), "runs"] == 2
    assert by_node.loc[("alpha", "a"), "total_tokens"] == 300
    by_workflow = _reports.cost_report("workflow", url=store_url).set_index("workflow")
    assert by_workflow.loc["alpha", "cost_usd"] == pytest.approx(0.010)
    assert (by_workflow.loc["beta", "failed"], by_workflow.loc["beta", "cancelled"]) == (1, 1)
    assert by_workflow.loc["beta", "runs"] == 2


def test_cost_since(store_url):
    t = _history(store_url)
    recent = _reports.cost_report("workflow", since=t + 15, url=store_url)
    assert list(recent["workflow"]) == ["beta"]
    assert len(_reports.cost_report("workflow", since="1h", url=store_url)) == 2
    assert _reports.cost_report("workflow", since=dt.timedelta(seconds=1), url=store_url).empty
    future = dt.datetime.now() + dt.timedelta(days=1)
    assert _reports.cost_report("provider", since=future, url=store_url).empty
    assert len(_reports.cost_report("workflow", since=dt.date.today() - dt.timedelta(days=1),
                                    url=store_url)) == 2
    with pytest.raises(_reports.ReportError, match="since"):
        _reports.cost_report(since="last tuesday", url=store_url)


def test_cost_by_unknown_grouping_suggests_one(sqlite_url):
    with pytest.raises(_reports.ReportError, match="did you mean `model`"):
        _reports.cost_report(by="models", url=sqlite_url)


def test_profile_finds_the_bottleneck_and_parallel_lanes(store_url):
    sink = StoreSink(store_url)
    result = am.run(am.load(FANOUT), {"text": "x"}, sinks=[sink])
    sink.close()
    frame = _reports.profile(url=store_url)  # the last run
    assert frame.attrs["run_id"] == result.run_id
    assert list(frame.columns) == _reports.PROFILE_COLUMNS
    assert list(frame["node_id"]) == ["split", "quick", "slow", "join"] or \
        list(frame["node_id"]) == ["split", "slow", "quick", "join"]
    by_node = frame.set_index("node_id")
    assert by_node["share"].idxmax() == "slow"
    assert (frame["bottleneck"] == (frame["share"] > 0.5)).all()  # the default threshold
    # 300 ms of a run that does little else; a quarter leaves room for a busy machine's pauses
    flagged = _reports.profile(result.run_id, threshold=0.25, url=store_url).set_index("node_id")
    assert flagged.loc["slow", "bottleneck"] and not flagged.loc["quick", "bottleneck"]
    assert by_node.loc["slow", "lane"] != by_node.loc["quick", "lane"]  # parallel: two rows
    assert by_node.loc["split", "lane"] == by_node.loc["join", "lane"] == 0
    assert by_node.loc["join", "start_ms"] >= by_node.loc["slow", "end_ms"] - 1
    assert (frame["start_ms"] >= 0).all()
    assert _reports.profile(result.run_id[:6], threshold=1, url=store_url)["bottleneck"].sum() == 0


def test_profile_of_failed_and_cached_runs(store_url):
    _history(store_url)
    broken = _reports.profile("broken", url=store_url)
    assert list(broken["status"]) == ["failed"]
    assert broken["share"].iloc[0] == pytest.approx(500 / 600)
    cached = _reports.profile("cached", url=store_url).set_index("node_id")
    assert cached.loc["a", "cached"] and cached.loc["a", "cost_usd"] == 0.0
    with pytest.raises(_reports.ReportError, match="no run `zzz`"):
        _reports.profile("zzz", url=store_url)
    with pytest.raises(_reports.ReportError, match="threshold"):
        _reports.profile("paid", threshold=2, url=store_url)


def test_profile_of_an_empty_store(sqlite_url):
    with pytest.raises(_reports.ReportError, match="no runs yet"):
        _reports.profile(url=sqlite_url)


def test_show_run_has_inputs_outputs_prompts_and_responses(store_url):
    _history(store_url)
    shown = _reports.show_run("paid", url=store_url)
    assert shown["inputs"] == {"q": 1} and shown["outputs"] == {"y": 2}
    assert shown["yaml"] == "flow: {name: alpha}"
    assert [(n["node_id"], n["prompt"], n["response"]) for n in shown["nodes"]] == [
        ("a", "prompt of a", "reply of a"), ("b", "prompt of b", "reply of b")]
    assert _reports.show_run("broken", url=store_url)["nodes"][0]["error"] == "HTTP 500: boom"


def test_figures(store_url):
    _history(store_url)
    for by in _reports.COST_BY:
        figure = _reports.cost_figure(_reports.cost_report(by, url=store_url))
        assert figure.data[0].type == "bar" and len(figure.data[0].x) >= 1
    sink = StoreSink(store_url)
    am.run(am.load(FANOUT), {"text": "x"}, sinks=[sink])
    sink.close()
    figure = _reports.profile_figure(_reports.profile(url=store_url))
    names = {trace.name for trace in figure.data}
    assert "bottleneck" in names and "normal" in names
    lanes = {y for trace in figure.data for y in trace.y}
    assert lanes == {"lane 0", "lane 1"}
    bottleneck = next(t for t in figure.data if t.name == "bottleneck")
    assert list(bottleneck.text) == ["slow"] and bottleneck.marker.color == "#cf222e"
