"""StoreSink: runs recorded as they happen, off the engine's event loop, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
import warnings

import pytest
from store_helpers import FAILING, FANOUT, chain, rows

import agents_magic as am
from agents_magic.engine.events import NodeFinished, NodeStarted, RunFinished, RunStarted, TokenDelta
from agents_magic.sinks import StoreSink


def test_a_run_is_recorded_with_its_workflow_and_nodes(store_url):
    sink = StoreSink(store_url)
    wf = am.load("agents_magic/examples/summarize.yaml")
    result = am.run(wf, {"text": "The cat sat on the mat."}, sinks=[sink])
    assert sink.flush()
    (run,) = rows(store_url, "SELECT * FROM runs")
    assert run["run_id"] == result.run_id
    assert run["status"] == "succeeded"
    assert run["workflow"] == "summarize"
    assert run["workflow_hash"] == wf.hash
    inputs = run["inputs"] if isinstance(run["inputs"], dict) else json.loads(run["inputs"])
    outputs = run["outputs"] if isinstance(run["outputs"], dict) else json.loads(run["outputs"])
    assert inputs["text"] == "The cat sat on the mat."
    assert outputs["summary"] == result.outputs["summary"]
    assert run["total_tokens"] == result.total_tokens
    assert run["cost_usd"] == 0.0
    assert run["duration_ms"] == pytest.approx(result.duration_ms)
    assert run["finished_at"] >= run["started_at"]
    nodes = rows(store_url, "SELECT * FROM node_executions ORDER BY started_at")
    assert [n["node_id"] for n in nodes] == [r["node_id"] for r in result.node_rows]
    first = nodes[0]
    assert first["status"] == "succeeded" and first["provider"] == "mock"
    assert first["prompt"].startswith("Summarise in one sentence")
    assert first["response"] and first["cached"] in (False, 0)
    (workflow,) = rows(store_url, "SELECT name, hash, yaml FROM workflows")
    assert workflow == {"name": "summarize", "hash": wf.hash, "yaml": wf.yaml}
    sink.close()


def test_the_run_row_exists_while_it_runs(store_url):
    sink = StoreSink(store_url)
    wf = am.load(chain(2, latency_ms=400))

    async def main():
        first_node = asyncio.Event()
        task = asyncio.ensure_future(am.arun(wf, {"text": "x"}, sinks=[
            sink, lambda e: first_node.set() if isinstance(e, NodeFinished) else None]))
        await first_node.wait()  # the run is between its two nodes
        await asyncio.get_running_loop().run_in_executor(None, sink.flush)
        during = rows(store_url, "SELECT status FROM runs")
        result = await task
        return during, result

    during, result = asyncio.run(main())
    assert during == [{"status": "running"}]
    sink.flush()
    assert rows(store_url, "SELECT status FROM runs") == [{"status": "succeeded"}]
    assert len(rows(store_url, "SELECT id FROM node_executions")) == 2
    sink.close()


def test_failed_and_cancelled_runs(store_url):
    sink = StoreSink(store_url)
    failed = am.run(am.load(FAILING), {"text": "x"}, sinks=[sink])
    assert failed.status == "failed"
    slow = am.load(chain(2, latency_ms=2000, name="slow"))

    async def cancel():
        node_started = asyncio.Event()
        task = asyncio.ensure_future(am.arun(slow, {"text": "x"}, sinks=[
            sink, lambda e: node_started.set() if isinstance(e, NodeStarted) else None]))
        await node_started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel())
    sink.flush()
    by_workflow = {r["workflow"]: r for r in rows(store_url, "SELECT * FROM runs")}
    assert by_workflow["failing"]["status"] == "failed"
    assert "invalid_output" in by_workflow["failing"]["error"]
    assert by_workflow["slow"]["status"] == "cancelled"
    nodes = rows(store_url, "SELECT node_id, status, error, error_kind FROM node_executions "
                            "WHERE run_id = :r ORDER BY started_at", r=failed.run_id)
    assert [(n["node_id"], n["status"]) for n in nodes] == [("summarize", "succeeded"),
                                                            ("rate", "failed")]
    assert nodes[1]["error_kind"] == "invalid_output" and "repair" in nodes[1]["error"]
    sink.close()


def test_parallel_branches_are_all_recorded(store_url):
    sink = StoreSink(store_url)
    result = am.run(am.load(FANOUT), {"text": "x"}, sinks=[sink])
    sink.flush()
    nodes = rows(store_url, "SELECT node_id FROM node_executions WHERE run_id = :r", r=result.run_id)
    assert sorted(n["node_id"] for n in nodes) == ["join", "quick", "slow", "split"]
    sink.close()


def test_long_texts_are_truncated_and_odd_values_stored(sqlite_url):
    sink = StoreSink(sqlite_url, max_text=1000, experiment="exp-1", variant="B")
    run_id = "r-long"
    sink(RunStarted(run_id, "w", {"blob": "y" * 5000, "obj": object(), "nan": float("nan"),
                                   "nested": {"t": (1, 2)}}, time.time(), ("n",), "flow: {}"))
    sink(NodeFinished(run_id, "n", 1, time.time(), time.time(), 1.0, "mock", "mock", 1, 1, 0.0,
                      False, {"o": "z" * 3000}, "p" * 50_000, "r" * 50_000))
    sink(RunFinished(run_id, "succeeded", {}, time.time(), 2.0, 0.0, 2))
    sink.flush()
    (node,) = rows(sqlite_url, "SELECT prompt, response, outputs FROM node_executions")
    assert len(node["prompt"]) < 1100 and "truncated 49000 characters" in node["prompt"]
    assert len(node["response"]) < 1100
    (run,) = rows(sqlite_url, "SELECT inputs, experiment, variant FROM runs")
    inputs = json.loads(run["inputs"])
    assert inputs["nan"] == "nan" and inputs["nested"] == {"t": [1, 2]}
    assert inputs["obj"].startswith("<object object")
    assert len(inputs["blob"]) < 1100
    assert (run["experiment"], run["variant"]) == ("exp-1", "B")
    sink.close()


def test_events_of_a_run_the_sink_joined_late_are_kept(sqlite_url):
    sink = StoreSink(sqlite_url)
    sink(NodeFinished("late", "n", 1, time.time(), time.time(), 1.0, "mock", "m", 1, 1, 0.0,
                      False))
    sink(RunFinished("late", "succeeded", {"a": 1}, time.time(), 3.0, 0.0, 2))
    sink.flush()
    (run,) = rows(sqlite_url, "SELECT status, total_tokens FROM runs")
    assert run == {"status": "succeeded", "total_tokens": 2}
    sink.close()


def test_calling_the_sink_never_waits_for_the_database(sqlite_url):
    """While the database is locked, events are still accepted (benchmarks/bench_sinks.py
    measures what a call costs)."""
    import sqlite3

    sink = StoreSink(sqlite_url)
    sink(RunStarted("first", "w", {}, time.time(), (), ""))
    assert sink.flush(30)  # the schema exists
    path = sqlite_url.removeprefix("sqlite:///")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        for i in range(2000):
            sink(TokenDelta("r", "n", "x"))
            sink(RunStarted(f"r{i}", "w", {}, time.time(), (), ""))
        assert not sink.flush(0.2)  # the writer is stuck on the lock; the calls were not
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert sink.flush(60)
    assert len(rows(sqlite_url, "SELECT run_id FROM runs")) == 2001
    sink.close()


def test_an_unusable_store_warns_once_and_the_run_succeeds(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    sink = StoreSink(f"sqlite:///{blocker / 'sub' / 'runs.db'}")
    wf = am.load(chain(2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = [am.run(wf, {"text": "x"}, sinks=[sink]) for _ in range(3)]
        sink.flush()
    assert all(r.ok for r in results)
    store_warnings = [w for w in caught if "not being recorded" in str(w.message)]
    assert len(store_warnings) == 1, [str(w.message) for w in caught]
    sink.close()


def test_settings_default_url(data_dir):
    sink = StoreSink()
    am.run(am.load(chain(1)), {"text": "x"}, sinks=[sink])
    sink.flush()
    assert (data_dir / "runs.db").exists()
    sink.close()


def test_huge_containers_are_capped(sqlite_url):
    sink = StoreSink(sqlite_url)
    sink(RunStarted("big", "w", {"rows": list(range(5000)), "map": {str(i): i for i in range(3000)}},
                    time.time(), (), ""))
    sink(RunFinished("big", "succeeded", {}, time.time(), 1.0, 0.0, 0))
    sink.close()
    inputs = json.loads(rows(sqlite_url, "SELECT inputs FROM runs")[0]["inputs"])
    assert len(inputs["rows"]) == 1001 and inputs["rows"][-1] == "… [4000 more items]"
    assert len(inputs["map"]) == 1001


def test_two_sinks_on_one_store_do_not_duplicate_rows(store_url):
    first, second = StoreSink(store_url), StoreSink(store_url)
    result = am.run(am.load(chain(3)), {"text": "x"}, sinks=[first, second, first])
    first.close()
    second.close()
    assert len(rows(store_url, "SELECT run_id FROM runs")) == 1
    nodes = rows(store_url, "SELECT node_id FROM node_executions WHERE run_id = :r",
                 r=result.run_id)
    assert sorted(n["node_id"] for n in nodes) == ["n1", "n2", "n3"]


def test_cached_calls_are_recorded_as_cached(data_dir, sqlite_url, monkeypatch):
    monkeypatch.setenv("AGENTS_MAGIC_CACHE", "1")
    from agents_magic import _settings

    _settings.reset()
    sink = StoreSink(sqlite_url)
    wf = am.load(chain(3))
    first = am.run(wf, {"text": "same"}, sinks=[sink])
    again = am.run(wf, {"text": "same"}, sinks=[sink])
    sink.close()
    assert [r["cached"] for r in again.node_rows] == [True] * 3
    cached = rows(sqlite_url, "SELECT cached, cost_usd FROM node_executions WHERE run_id = :r",
                  r=again.run_id)
    assert [bool(r["cached"]) for r in cached] == [True] * 3
    assert all(r["cost_usd"] == 0.0 for r in cached)
    assert first.outputs == again.outputs


def test_a_second_sink_never_flips_a_finished_run_back_to_running(sqlite_url):
    first, second = StoreSink(sqlite_url), StoreSink(sqlite_url)
    events = [RunStarted("r", "w", {}, 100.0, (), ""),
              RunFinished("r", "succeeded", {}, 101.0, 1000.0, 0.0, 0)]
    for event in events:
        first(event)
    first.flush()
    second(events[0])
    second.flush()
    assert rows(sqlite_url, "SELECT status FROM runs") == [{"status": "succeeded"}]
    second(RunStarted("r", "w", {}, 200.0, (), ""))  # the same id started again: a new run
    second.close()
    first.close()
    assert rows(sqlite_url, "SELECT status, started_at FROM runs") == [
        {"status": "running", "started_at": 200.0}]
