"""Fifty workflow runs at once, recorded completely, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from store_helpers import chain, rows

import agents_magic as am
from agents_magic.sinks import StoreSink

RUNS = 50
NODES = 4


@pytest.mark.parametrize("sharing", ["shared", "per-run"])
def test_fifty_concurrent_runs_are_all_recorded(store_url, sharing):
    wf = am.load(chain(NODES, latency_ms=5))
    shared = StoreSink(store_url)
    sinks = [shared] * RUNS if sharing == "shared" else [StoreSink(store_url) for _ in range(RUNS)]

    async def main():
        return await asyncio.gather(*(am.arun(wf, {"text": f"row {i}"}, sinks=[sinks[i]])
                                      for i in range(RUNS)))

    results = asyncio.run(main())
    assert all(r.ok for r in results)
    for sink in set(sinks) | {shared}:
        assert sink.flush(60)
        sink.close()
    recorded = rows(store_url, "SELECT run_id, status FROM runs")
    assert {r["run_id"] for r in recorded} == {r.run_id for r in results}
    assert {r["status"] for r in recorded} == {"succeeded"}
    counts = rows(store_url, "SELECT run_id, COUNT(*) AS n FROM node_executions GROUP BY run_id")
    assert len(counts) == RUNS
    assert all(c["n"] == NODES for c in counts)
    assert len(rows(store_url, "SELECT id FROM workflows")) == 1
