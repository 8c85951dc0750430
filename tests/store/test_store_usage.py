"""Failed and cancelled node executions: store, MLflow and RunResult agree to the cent."""

from __future__ import annotations

import asyncio

import pytest
from store_helpers import rows

import agents_magic as am
from agents_magic.engine import events as ev
from agents_magic.engine._run import execute
from agents_magic.sinks import MLflowSink, StoreSink

FLOW = """
schema_version: "1.0"
flow: {{name: usage}}
state:
  fields:
    x: {{type: str, default: go}}
    n: {{type: int}}
    slow: {{type: str}}
nodes:
  - {{id: number, prompt: "Number {{x}}", outputs: [n], output_schema: {{type: int}}}}
  - {{id: slow, prompt: "Slow {{x}}", outputs: [slow]}}
edges:
  - {{from: START, to: [number, slow]}}
  - {{from: number, to: END}}
  - {{from: slow, to: END}}
config:
  llm: {{provider: openai, model: gpt-4o-mini, api_base: "{base}"}}
  execution: {{timeout: 30, max_retries: 0}}
"""


def test_failed_and_cancelled_nodes_are_recorded_with_their_spend(fake_llm, sqlite_url, mlflow_db):
    pytest.importorskip("mlflow")
    # `number` fails (no JSON, also after its repair request) while `slow` is still waiting on
    # its reply: the run fails and `slow` is cancelled in flight.
    fake_llm.configure(rules=[{"match": "Number", "content": "many"},
                              {"match": "Slow", "hang": True}])
    store, mlflow_sink = StoreSink(sqlite_url), MLflowSink()
    seen: list = []

    async def main():
        return await execute(am.load(FLOW.format(base=fake_llm.base_url)),
                             sinks=[store, mlflow_sink, seen.append])

    result = asyncio.run(main())
    assert result.status == "failed"
    closing = {e.node_id: e for e in seen if isinstance(e, ev.NodeFailed)}
    assert closing["number"].status == "failed" and closing["slow"].status == "cancelled"
    assert closing["number"].cost_usd > 0 and closing["slow"].cost_usd > 0

    assert store.flush(60)
    recorded = {r["node_id"]: r for r in rows(
        sqlite_url, "SELECT node_id, status, prompt_tokens, completion_tokens, cost_usd FROM node_executions")}
    assert {k: r["status"] for k, r in recorded.items()} == {"number": "failed", "slow": "cancelled"}
    for node_id, event in closing.items():
        assert recorded[node_id]["cost_usd"] == pytest.approx(event.cost_usd)
        assert recorded[node_id]["prompt_tokens"] == event.prompt_tokens
    (run,) = rows(sqlite_url, "SELECT cost_usd, total_tokens FROM runs")
    assert run["cost_usd"] == pytest.approx(result.cost_usd)
    assert run["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in recorded.values()))
    assert result.cost_usd == pytest.approx(result.nodes["cost_usd"].sum())

    assert mlflow_sink.flush(120) and mlflow_sink.problem is None
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=mlflow_sink.tracking_uri)
    experiment = client.get_experiment_by_name("agents_magic")
    (logged,) = client.search_runs([experiment.experiment_id])
    metrics = logged.data.metrics
    assert metrics["cost_usd"] == pytest.approx(result.cost_usd)
    assert metrics["node_number_cost_usd"] == pytest.approx(closing["number"].cost_usd)
    assert metrics["node_slow_cost_usd"] == pytest.approx(closing["slow"].cost_usd)
    assert metrics["provider_openai_cost_usd"] == pytest.approx(result.cost_usd)
