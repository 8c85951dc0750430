"""Evaluation throughput and analysis cost.

    .venv/bin/python benchmarks/bench_eval.py [--rows 200] [--rps 20] [--big 1000]

(a) ``--rows`` rows × one LLM node on the local fake server at 50 ms, 16 rows in flight: wall
    time of ``evaluate`` against the ideal rows/16 × 50 ms, and CPU per row;
(b) a fake server admitting R requests/s (429 + Retry-After beyond): an evaluation of 30·R rows
    with 64 rows in flight, and a fixed-concurrency baseline (plain ``arun`` calls, 64 at once);
    answered rate as a share of R and share of requests answered 429;
(c) ``--big`` rows × 2 variants on the mock: time of summary + compare + winner + figure after
    the last row, and memory growth over repeated evaluations.
Store and cache are off (``AGENTS_MAGIC_STORE=0``, ``AGENTS_MAGIC_CACHE=0``) unless set.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("AGENTS_MAGIC_STORE", "0")
os.environ.setdefault("AGENTS_MAGIC_CACHE", "0")
os.environ.setdefault("AGENTS_MAGIC_LIVE_DISPLAY", "0")

import agents_magic as am  # noqa: E402
from fake_llm import FakeLLM  # noqa: E402


def qa(base_url: str | None, max_concurrency: int = 16, rpm: int | None = None) -> str:
    extra = f", rpm: {rpm}" if rpm else ""
    llm = (f'{{provider: openai, model: gpt-4o-mini, api_base: "{base_url}", max_retries: 50{extra}}}'
           if base_url else '{provider: mock}')
    return f"""\
schema_version: "1.0"
flow: {{name: qa}}
state:
  fields:
    question: {{type: str, required: true}}
    answer: {{type: str, default: ""}}
nodes:
  - {{id: answer, prompt: "Answer: {{question}}", outputs: [answer]}}
edges:
  - {{from: START, to: answer}}
  - {{from: answer, to: END}}
config:
  llm: {llm}
  execution: {{max_concurrency: {max_concurrency}, retry_backoff: 0.2}}
"""


def data(n: int) -> list[dict]:
    return [{"question": f"question {i}", "expected_answer": "x"} for i in range(n)]


async def _bare(base_url: str, rows: int) -> float:
    """Wall ms of the same requests from a bare aiohttp client, 16 at once (the machine's floor)."""
    import aiohttp

    gate = asyncio.Semaphore(16)
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Answer: q"}]}
    async with aiohttp.ClientSession() as session:
        async def one() -> None:
            async with gate, session.post(f"{base_url}/chat/completions", json=body) as response:
                await response.json()

        await asyncio.gather(*(one() for _ in range(16)))
        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(rows)))
        return (time.perf_counter() - t0) * 1000


def bench_a(server: FakeLLM, rows: int, repeat: int = 3) -> tuple[float, float, float, float]:
    """(best wall ms, ideal ms, CPU ms per row, bare client ms)."""
    server.reset()
    server.configure(latency_ms=50)
    wf = am.load(qa(server.base_url))
    am.evaluate(wf, data(16), concurrency=16, progress=False)  # warm-up: compile, connections
    walls, cpus = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        result = am.evaluate(wf, data(rows), concurrency=16, progress=False)
        walls.append((time.perf_counter() - t0) * 1000)
        cpus.append((time.process_time() - c0) * 1000 / rows)
        assert result.summary.loc["baseline", "error_rate"] == 0
    best = min(range(repeat), key=lambda i: walls[i])
    bare = min(asyncio.run(_bare(server.base_url, rows)) for _ in range(repeat))
    return walls[best], rows / 16 * 50, cpus[best], bare


def bench_b(server: FakeLLM, rps: int) -> list[tuple[str, float, float, float]]:
    out = []
    n = 30 * rps
    from agents_magic.engine import _limiter

    am.evaluate(qa(None), data(4), progress=False)  # warm-up: first-call imports (~3 s) untimed
    # The evaluation: 64 rows in flight, the shared limiter adapting to the 429s (then told
    # the endpoint's published limit with `rpm`).
    for label, rpm in (("evaluate, 64 rows in flight, adaptive", None),
                       (f"evaluate, 64 rows in flight, rpm {60 * rps}", 60 * rps)):
        _limiter.reset()
        server.reset()
        server.configure(latency_ms=50, rate_limit_rps=rps)
        t0 = time.perf_counter()
        result = am.evaluate(qa(server.base_url, 64, rpm), data(n), concurrency=64, progress=False)
        seconds = time.perf_counter() - t0
        stats = server.stats()
        assert result.summary.loc["baseline", "error_rate"] == 0, result.table["error"].dropna().head()
        out.append((label, 100 * n / seconds / rps, 100 * stats["rate_limited"] / stats["requests"],
                    seconds))
    # Baseline: the same runs as plain concurrent arun calls, a fixed 64 at once.
    _limiter.reset()
    server.reset()
    server.configure(latency_ms=50, rate_limit_rps=rps)
    wf = am.load(qa(server.base_url, 64))

    async def fixed() -> None:
        gate = asyncio.Semaphore(64)

        async def one(i: int) -> None:
            async with gate:
                await am.arun(wf, {"question": f"question {i}"})

        await asyncio.gather(*(one(i) for i in range(n)))

    t0 = time.perf_counter()
    asyncio.run(fixed())
    seconds = time.perf_counter() - t0
    stats = server.stats()
    out.append(("fixed concurrency 64 (plain arun)", 100 * n / seconds / rps,
                100 * stats["rate_limited"] / stats["requests"], seconds))
    return out


def bench_c(big: int) -> tuple[float, float, float]:
    """(analysis ms after the last row, evaluation s, memory growth KiB over 3 more runs)."""
    wf = am.load(qa(None))
    variants = {"A": {}, "B": {"nodes.answer.prompt": "Reply: {question}"}}
    t0 = time.perf_counter()
    result = am.evaluate(wf, data(big), ["contains", lambda row, out: len(out["answer"]) / 40],
                         variants=variants, concurrency=64, progress=False)
    run_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result.summary, result.compare("A", "B"), result.winner, result.nodes
    result.plot()
    analysis_ms = (time.perf_counter() - t0) * 1000
    del result
    tracemalloc.start()
    am.evaluate(wf, data(big), ["contains"], variants=variants, concurrency=64, progress=False).plot()
    first = tracemalloc.get_traced_memory()[0]
    for _ in range(3):
        am.evaluate(wf, data(big), ["contains"], variants=variants, concurrency=64, progress=False).plot()
    growth = (tracemalloc.get_traced_memory()[0] - first) / 1024
    tracemalloc.stop()
    return analysis_ms, run_s, growth


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--rps", type=int, default=20)
    parser.add_argument("--big", type=int, default=1000)
    parser.add_argument("--only", choices=("a", "b", "c"))
    args = parser.parse_args()
    print(f"Evaluation benchmark on {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}")
    with FakeLLM() as server:
        if args.only in (None, "a"):
            wall, ideal, cpu, bare = bench_a(server, args.rows)
            print(f"(a) {args.rows} rows × 1 node, 50 ms, 16 in flight: {wall:.0f} ms vs ideal "
                  f"{ideal:.0f} ms = {ideal / wall:.0%} of ideal (target ≥ 85 %); "
                  f"CPU {cpu:.2f} ms per row; a bare aiohttp client: {bare:.0f} ms "
                  f"({ideal / bare:.0%} of ideal)")
        if args.only in (None, "b"):
            for label, share, limited, seconds in bench_b(server, args.rps):
                print(f"(b) R = {args.rps}/s, {30 * args.rps} rows, {label}: {share:.1f} % of R, "
                      f"{limited:.1f} % answered 429, {seconds:.1f} s (target ≥ 90 %, ≤ 3 %)")
    if args.only in (None, "c"):
        analysis_ms, run_s, growth = bench_c(args.big)
        print(f"(c) {args.big} rows × 2 variants on the mock ({run_s:.1f} s to run): summary + "
              f"compare + winner + figure {analysis_ms:.0f} ms after the last row (target ≤ 1 s); "
              f"memory growth over 3 more evaluations {growth:.0f} KiB")


if __name__ == "__main__":
    main()
