"""Code-node overhead: the warm worker pool against a process per execution.

    .venv/bin/python benchmarks/bench_sandbox.py [--calls 200]

(a) ``run_code`` p50/p95 for a small data-wrangling snippet with the warm pool (target p50
    <= 5 ms);
(b) the same with a fresh worker per execution (what a pool saves);
(c) one run of a workflow chaining 100 code nodes, mock provider, store off.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("AGENTS_MAGIC_STORE", "0")
os.environ.setdefault("AGENTS_MAGIC_CACHE", "0")

import agents_magic as am  # noqa: E402
from agents_magic.sandbox import POOL, run_code  # noqa: E402
from agents_magic.sandbox._pool import Worker  # noqa: E402

SNIPPET = ("import json, statistics\nrows = json.loads(inputs['text'])\n"
           "result = {'mean': statistics.mean(r['v'] for r in rows), 'n': len(rows)}")
INPUTS = {"text": '[{"v": 1}, {"v": 2}, {"v": 3}]'}


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def warm(calls: int) -> list[float]:
    run_code(SNIPPET, INPUTS)
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        run_code(SNIPPET, INPUTS)
        out.append((time.perf_counter() - start) * 1000)
    return out


def cold(calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        POOL.close()  # no idle worker: every call starts one
        run_code(SNIPPET, INPUTS)
        out.append((time.perf_counter() - start) * 1000)
    return out


def chain(nodes: int) -> tuple[float, bool]:
    fields = "\n".join(f"    v{i}: {{type: int}}" for i in range(nodes + 1))
    body = "\n".join(
        f"  - id: n{i}\n    code: \"result = inputs['x'] + 1\"\n    inputs: {{x: \"{{v{i}}}\"}}\n"
        f"    outputs: [v{i + 1}]\n    output_schema: {{type: int}}" for i in range(nodes))
    edges = "\n".join(["  - {from: START, to: n0}"] + [
        f"  - {{from: n{i}, to: n{i + 1}}}" for i in range(nodes - 1)] + [f"  - {{from: n{nodes - 1}, to: END}}"])
    text = (f'schema_version: "1.0"\nflow: {{name: chain}}\nstate:\n  fields:\n{fields}\n'
            f"nodes:\n{body}\nedges:\n{edges}\nconfig: {{llm: {{provider: mock}}}}\n")
    wf = am.load(text)
    start = time.perf_counter()
    result = am.run(wf, {"v0": 0})
    return time.perf_counter() - start, result.ok and result.outputs[f"v{nodes}"] == nodes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} cores")
    p50, p95 = percentiles(warm(args.calls))
    print(f"(a) warm pool:         p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  ({args.calls} calls)")
    cold_calls = max(10, args.calls // 10)
    c50, c95 = percentiles(cold(cold_calls))
    print(f"(b) process per call:  p50 {c50:6.2f} ms  p95 {c95:6.2f} ms  ({cold_calls} calls)")
    start = time.perf_counter()
    Worker().kill()
    print(f"    one worker start + stop: {(time.perf_counter() - start) * 1000:.1f} ms")
    chain(5)  # warm the engine's imports
    seconds, ok = chain(100)
    print(f"(c) 100 code nodes in one run: {seconds * 1000:.0f} ms total, "
          f"{seconds * 10:.2f} ms a node, outputs correct: {ok}")
    POOL.close()


if __name__ == "__main__":
    main()
