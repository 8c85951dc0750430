"""Sustained throughput against a rate-limited endpoint, through ``complete()`` and its limiter.

    .venv/bin/python benchmarks/bench_ratelimit.py [--rps 20] [--latency-ms 50]

The fake server admits R requests per sliding second and answers the rest 429 with
``Retry-After``. 30·R requests are sent at once with a generous ``max_concurrency`` (64); the
figures are the answered rate as a share of R and the share of requests answered 429.
Target: ≥ 90 % of R with ≤ 3 % 429s. Modes: the adaptive limiter alone, and with ``rpm`` set
to the endpoint's published limit.

Then what slow start costs where nothing limits: 200 requests, 16 in flight, on the same
server without a rate limit, through a new endpoint's limiter (slow start), a warm one, and one
that starts at its ceiling (no slow start), each against the ideal 200/16 × latency (best of 3).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from agents_magic.engine import _limiter, _llm  # noqa: E402
from fake_llm import FakeLLM  # noqa: E402

MAX_CONCURRENCY = 64


async def _send(target: _llm.Target, n: int) -> float:
    async def one(i: int) -> None:
        await _llm.complete(target, [{"role": "user", "content": f"q{i}"}], backoff_s=0.2,
                            max_concurrency=MAX_CONCURRENCY)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - started


def run_mode(server: FakeLLM, rps: int, latency_ms: float, rpm: int | None) -> tuple[float, float, float]:
    """(answered rate as % of R, % of requests answered 429, seconds)."""
    server.reset()
    server.configure(latency_ms=latency_ms, rate_limit_rps=rps)
    target = _llm.Target("openai", "gpt-4o-mini", "http", api_base=server.base_url,
                         api_key=f"sk-{uuid.uuid4().hex}", timeout=30, max_retries=50)
    target = replace(target, rpm=rpm)
    n = 30 * rps
    seconds = asyncio.run(_send(target, n))
    stats = server.stats()
    return 100 * n / seconds / rps, 100 * stats["rate_limited"] / stats["requests"], seconds


def unlimited(server: FakeLLM, latency_ms: float, n: int = 200, repeat: int = 3) -> dict[str, float]:
    """Best wall ms of ``n`` requests, 16 in flight, per start of the endpoint's limiter."""
    server.reset()
    server.configure(latency_ms=latency_ms)

    async def send(target: _llm.Target) -> float:
        async def one(i: int) -> None:
            await _llm.complete(target, [{"role": "user", "content": f"q{i}"}], max_concurrency=16)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return (time.perf_counter() - started) * 1000

    def new_target() -> _llm.Target:
        return _llm.Target("openai", "gpt-4o-mini", "http", api_base=server.base_url,
                           api_key=f"sk-{uuid.uuid4().hex}", timeout=30, max_retries=0)

    async def modes() -> dict[str, list[float]]:
        out: dict[str, list[float]] = {"new endpoint (slow start)": [], "warm endpoint": [],
                                       "no slow start": []}
        initial = _limiter.INITIAL_WINDOW
        for _ in range(repeat):
            target = new_target()
            out["new endpoint (slow start)"].append(await send(target))
            out["warm endpoint"].append(await send(target))
            _limiter.INITIAL_WINDOW = 1 << 20
            try:
                out["no slow start"].append(await send(new_target()))
            finally:
                _limiter.INITIAL_WINDOW = initial
        return out

    return {label: min(walls) for label, walls in asyncio.run(modes()).items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rps", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=50)
    args = parser.parse_args()
    print(f"Rate-limit benchmark on {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}: R = {args.rps}/s, {30 * args.rps} requests, "
          f"{args.latency_ms:g} ms latency, max_concurrency {MAX_CONCURRENCY}")
    print(f"{'mode':34} {'% of R':>8} {'% 429':>7} {'seconds':>8}  verdict")
    with FakeLLM() as server:
        for label, rpm in (("adaptive limiter (no rpm)", None),
                           (f"rpm = {60 * args.rps} (the endpoint's limit)", 60 * args.rps)):
            share, limited, seconds = run_mode(server, args.rps, args.latency_ms, rpm)
            ok = share >= 90 and limited <= 3
            print(f"{label:34} {share:7.1f}% {limited:6.1f}% {seconds:8.1f}  "
                  f"{'meets' if ok else 'misses'} ≥ 90 % of R, ≤ 3 % 429")
        ideal = 200 / 16 * args.latency_ms
        print(f"No rate limit, 200 requests, 16 in flight, {args.latency_ms:g} ms: ideal {ideal:.0f} ms")
        for label, wall in unlimited(server, args.latency_ms).items():
            print(f"  {label:28} {wall:6.0f} ms = {ideal / wall:.0%} of ideal")


if __name__ == "__main__":
    main()
