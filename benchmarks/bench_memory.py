"""Memory latency: get/set/append on SQLite and PostgreSQL, and what a memory read + write adds
to a node in a run.

    .venv/bin/python benchmarks/bench_memory.py [--calls 500] [--pg URL]

(a) p50/p95 of ``Memory.get``, ``Memory.set`` (one upsert) and ``Memory.append`` (locked
    read-modify-write) on a SQLite file and, when it answers, PostgreSQL;
(b) per-node time of a 20-node chain of mock nodes (0 ms latency) with each node reading one
    key and writing one, against the same chain without memory (slope of 20- vs 1-node runs).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("AGENTS_MAGIC_STORE", "0")
os.environ.setdefault("AGENTS_MAGIC_CACHE", "0")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import agents_magic as am  # noqa: E402
from agents_magic._settings import Settings  # noqa: E402
from agents_magic.store._memory import namespace, open_memory  # noqa: E402


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def store_latency(url: str, calls: int) -> dict[str, tuple[float, float]]:
    memory = open_memory(url)
    ns = namespace("workflow", f"bench-{uuid.uuid4().hex[:6]}")
    out = {}
    for name, call in (("set", lambda i: memory.set(ns, f"k{i % 50}", {"i": i, "text": "x" * 200})),
                       ("get", lambda i: memory.get(ns, f"k{i % 50}")),
                       ("append (keep 20)", lambda i: memory.append(ns, "log", i, keep=20))):
        samples = []
        for i in range(calls):
            t0 = time.perf_counter()
            call(i)
            samples.append((time.perf_counter() - t0) * 1000)
        out[name] = (_pct(samples, 0.5), _pct(samples, 0.95))
    memory.clear([ns])
    return out


def chain(n: int, with_memory: bool) -> str:
    memory = "\n    memory: {read: {seen: seen}, write: {seen: text}}" if with_memory else ""
    nodes = "\n".join(f"  - id: n{i}\n    prompt: \"Step {i}: {{state.text}}\"\n    outputs: [text]"
                      f"{memory}" for i in range(n))
    edges = "\n".join(["  - {from: START, to: n0}"]
                      + [f"  - {{from: n{i}, to: n{i + 1}}}" for i in range(n - 1)]
                      + [f"  - {{from: n{n - 1}, to: END}}"])
    return (f'schema_version: "1.0"\nflow: {{name: chain{n}{with_memory}}}\nstate:\n  fields:\n'
            f'    text: {{type: str, default: "go"}}\n    seen: {{type: str, default: ""}}\n'
            f"nodes:\n{nodes}\nedges:\n{edges}\nconfig:\n  llm: {{provider: mock}}\n")


def per_node_ms(url: str, with_memory: bool, repeat: int) -> float:
    settings = Settings(storage_url=url, store=False, cache=False, mlflow=False)
    times = {}
    for n in (1, 20):
        wf = am.load(chain(n, with_memory))
        am.run(wf, settings=settings)  # warm: compile, open the store
        samples = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            assert am.run(wf, settings=settings).status == "succeeded"
            samples.append(time.perf_counter() - t0)
        times[n] = statistics.median(samples)
    return (times[20] - times[1]) / 19 * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--pg", default=os.environ.get("AGENTS_MAGIC_TEST_PG"))
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        urls = {"SQLite": f"sqlite:///{tmp}/runs.db"}
        if args.pg:
            urls["PostgreSQL"] = args.pg
        print("\n| store | call | p50 ms | p95 ms |\n| --- | --- | ---: | ---: |")
        for label, url in urls.items():
            for name, (p50, p95) in store_latency(url, args.calls).items():
                print(f"| {label} | {name} | {p50:.2f} | {p95:.2f} |")
        print("\n| store | per node, no memory (ms) | per node, read + write (ms) |\n"
              "| --- | ---: | ---: |")
        for label, url in urls.items():
            plain = per_node_ms(url, False, args.repeat)
            remembered = per_node_ms(url, True, args.repeat)
            print(f"| {label} | {plain:.2f} | {remembered:.2f} |")


if __name__ == "__main__":
    main()
