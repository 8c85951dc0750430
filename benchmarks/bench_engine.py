"""Engine overhead against a raw LangGraph + LiteLLM baseline, over the local fake server.

    .venv/bin/python benchmarks/bench_engine.py [--repeat 5]

(a) per-node time of a 10-node chain at 0 ms latency: slope between a 10-node and a 1-node run;
(b) an 8-way fan-out at 200 ms latency against the ideal 200 ms;
(c) 200 one-node runs at 50 ms latency, 16 in flight, run store on, against a bare aiohttp
    client sending the same 200 requests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
import typing
from pathlib import Path
from typing import Annotated, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("AGENTS_MAGIC_STORE", "0")
os.environ.setdefault("AGENTS_MAGIC_CACHE", "0")

import agents_magic as am  # noqa: E402
from agents_magic import _settings  # noqa: E402
from agents_magic.sinks import close_sinks, flush_sinks  # noqa: E402
from fake_llm import FakeLLM  # noqa: E402

MODEL = "gpt-4o-mini"


def _document(name: str, fields: list[str], nodes: list[str], edges: list[str], base_url: str,
              execution: str = "{}") -> str:
    """A workflow whose every node calls the fake server; each field is a string."""
    lines = [f"    {f}: {{type: str, default: ''}}" for f in fields]
    return "\n".join([
        'schema_version: "1.0"', f"flow: {{name: {name}}}", "state:", "  fields:", *lines,
        "nodes:", *(f"  - {n}" for n in nodes), "edges:", *(f"  - {e}" for e in edges),
        "config:", f'  llm: {{provider: openai, model: {MODEL}, api_base: "{base_url}"}}',
        f"  execution: {execution}", ""])


def chain_yaml(n: int, base_url: str) -> str:
    nodes = [f'{{id: n{i}, prompt: "Step {i}: {{state.s{i}}}", outputs: [s{i + 1}]}}' for i in range(n)]
    edges = (["{from: START, to: n0}"] + [f"{{from: n{i}, to: n{i + 1}}}" for i in range(n - 1)]
             + [f"{{from: n{n - 1}, to: END}}"])
    return _document(f"chain{n}", [f"s{i}" for i in range(n + 1)], nodes, edges, base_url,
                     "{max_concurrency: 64}")


def fanout_yaml(n: int, base_url: str) -> str:
    nodes = [f'{{id: b{i}, prompt: "Branch {i}", outputs: [b{i}]}}' for i in range(n)]
    targets = ", ".join(f"b{i}" for i in range(n))
    edges = [f"{{from: START, to: [{targets}]}}"] + [f"{{from: b{i}, to: END}}" for i in range(n)]
    return _document(f"fan{n}", [f"b{i}" for i in range(n)], nodes, edges, base_url)


def _last(_a: Any, b: Any) -> Any:
    return b


def _raw_node(i: int, base_url: str) -> Any:
    import litellm

    async def node(state: dict[str, Any]) -> dict[str, Any]:
        reply = await litellm.acompletion(
            model=f"openai/{MODEL}", api_base=base_url, api_key="none",
            messages=[{"role": "user", "content": f"Step {i}: {state.get(f's{i}', '')}"}])
        return {f"s{i + 1}": reply.choices[0].message.content}
    return node


def raw_chain(n: int, base_url: str) -> Any:
    """The hand-written baseline: a LangGraph chain whose nodes call litellm.acompletion."""
    from langgraph.graph import END, START, StateGraph

    State = typing.TypedDict("State", {f"s{i}": Annotated[str, _last] for i in range(n + 1)})  # type: ignore[misc]
    builder = StateGraph(State)
    for i in range(n):
        builder.add_node(f"n{i}", _raw_node(i, base_url))
    builder.add_edge(START, "n0")
    for i in range(n - 1):
        builder.add_edge(f"n{i}", f"n{i + 1}")
    builder.add_edge(f"n{n - 1}", END)
    return builder.compile()


def raw_fanout(n: int, base_url: str) -> Any:
    """The baseline fan-out: START to n LiteLLM nodes in parallel, each to END."""
    from langgraph.graph import END, START, StateGraph

    State = typing.TypedDict("State", {f"s{i}": Annotated[str, _last] for i in range(n + 1)})  # type: ignore[misc]
    builder = StateGraph(State)
    for i in range(n):
        builder.add_node(f"n{i}", _raw_node(i, base_url))
        builder.add_edge(START, f"n{i}")
        builder.add_edge(f"n{i}", END)
    return builder.compile()


async def timed(coro_fn: Any, repeat: int) -> float:
    """Median wall time (ms) of ``repeat`` runs after one warm-up."""
    await coro_fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await coro_fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


async def bench(repeat: int) -> list[tuple[str, str, str, str]]:
    rows = []
    with FakeLLM() as server:
        base = server.base_url
        # (a) per-node slope
        wf1, wf10 = am.load(chain_yaml(1, base)), am.load(chain_yaml(10, base))

        async def ours(wf: Any) -> None:
            result = await am.arun(wf)
            assert result.ok, result.error

        ours1 = await timed(lambda: ours(wf1), repeat)
        ours10 = await timed(lambda: ours(wf10), repeat)
        raw1g, raw10g = raw_chain(1, base), raw_chain(10, base)
        raw1 = await timed(lambda: raw1g.ainvoke({"s0": ""}), repeat)
        raw10 = await timed(lambda: raw10g.ainvoke({"s0": ""}), repeat)
        ours_slope, raw_slope = (ours10 - ours1) / 9, (raw10 - raw1) / 9
        rows.append(("(a) per-node time, 10-node chain, 0 ms", f"{ours_slope:.2f} ms",
                     f"{raw_slope:.2f} ms (raw LangGraph + LiteLLM)",
                     f"{ours_slope / raw_slope:.2f}× raw; target ≤ 1.3×, aim < 2.5 ms"))
        # (b) 8-way fan-out at 200 ms
        server.configure(latency_ms=200)
        fan = am.load(fanout_yaml(8, base))
        fan_ms = await timed(lambda: ours(fan), repeat)
        raw_fan = raw_fanout(8, base)
        raw_fan_ms = await timed(lambda: raw_fan.ainvoke({"s0": ""}), repeat)
        rows.append(("(b) 8-way fan-out, 200 ms latency", f"{fan_ms:.0f} ms",
                     f"200 ms ideal; raw {raw_fan_ms:.0f} ms ({raw_fan_ms / 200:.2f}×)",
                     f"{fan_ms / 200:.3f}× ideal; target ≤ 1.10×"))
        # (c) 200 one-node runs, 16 in flight, 50 ms: a bare aiohttp client, then our runs with
        # the default settings (run store and checkpoints on), side by side in one process.
        server.configure(latency_ms=50)
        gate = asyncio.Semaphore(16)

        async def batch(run_one: Any) -> None:
            async def one() -> None:
                async with gate:
                    await run_one()

            await asyncio.gather(*(one() for _ in range(200)))

        import aiohttp

        async with aiohttp.ClientSession() as session:
            body = {"model": MODEL, "messages": [{"role": "user", "content": "Step 0: "}]}

            async def bare() -> None:
                async with session.post(f"{base}/chat/completions", json=body) as response:
                    (await response.json())["choices"][0]["message"]["content"]

            bare_ms = await timed(lambda: batch(bare), max(1, repeat // 2))
        raw_ms = await timed(lambda: batch(lambda: raw1g.ainvoke({"s0": ""})), max(1, repeat // 2))
        with tempfile.TemporaryDirectory() as data_dir:
            settings = _settings.settings
            settings.data_dir, settings.store = Path(data_dir), True
            batch_ms = await timed(lambda: batch(lambda: ours(wf1)), max(1, repeat // 2))
            t0 = time.perf_counter()
            flush_sinks(kind="store")
            drain_ms = (time.perf_counter() - t0) * 1000
            settings.store = False
            close_sinks()
        rows.append(("(c) 200 runs × 1 node, 50 ms, 16 in flight", f"{batch_ms:.0f} ms",
                     f"bare aiohttp {bare_ms:.0f} ms; raw LangGraph+LiteLLM {raw_ms:.0f} ms",
                     f"{bare_ms / batch_ms:.0%} of the bare client (store on, {drain_ms:.0f} ms "
                     f"left to write after); target ≥ 90%"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = asyncio.run(bench(args.repeat))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"Engine benchmark on {machine}")
    print(f"{'case':45} {'agents_magic':>13}  {'baseline':42} verdict")
    for case, ours, base, verdict in rows:
        print(f"{case:45} {ours:>13}  {base:42} {verdict}")


if __name__ == "__main__":
    main()
