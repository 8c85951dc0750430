"""What the live run view costs in the kernel, per event, and how many front-end updates a run
with streaming sends.

    python benchmarks/bench_run_view.py [--nodes 500] [--tokens 20000]

1. Per event: a 500-node chain's scripted events (start, 40 streamed tokens, finish per node)
   go through ``LiveView.__call__`` (what the engine thread pays); target ≤ 0.2 ms per event.
2. Per update: ``LiveView.refresh`` called 20 times a second as ``agents_magic.run`` does,
   the events arriving between calls; reported as trait messages sent per second of run and the
   main thread's cost of one batch.
Without a kernel the widget's comm is a stand-in, so the figures are the kernel-side CPU only.
"""

from __future__ import annotations

import argparse
import time

import agents_magic as am
from agents_magic.display.run_view import LiveView
from agents_magic.engine.events import NodeFinished, NodeStarted, RunFinished, RunStarted, TokenDelta


def chain(n: int) -> str:
    nodes = "\n".join(f"  - {{id: n{i}, prompt: 'p {{state.x}}', outputs: [x]}}" for i in range(n))
    edges = "\n".join(["  - {from: START, to: n0}"]
                      + [f"  - {{from: n{i}, to: n{i + 1}}}" for i in range(n - 1)]
                      + [f"  - {{from: n{n - 1}, to: END}}"])
    return (f'schema_version: "1.0"\nflow: {{name: chain}}\nstate: {{fields: {{x: {{type: str}}}}}}\n'
            f"nodes:\n{nodes}\nedges:\n{edges}\nconfig: {{llm: {{provider: mock}}}}\n")


def events(n: int, tokens: int) -> list:
    out = [RunStarted(run_id="r", workflow="chain", inputs={}, at=0.0, nodes=tuple(f"n{i}" for i in range(n)))]
    per = max(1, tokens // n)
    for i in range(n):
        node = f"n{i}"
        out.append(NodeStarted(run_id="r", node_id=node, iteration=1, at=0.0, provider="mock", model="m"))
        out += [TokenDelta(run_id="r", node_id=node, text=" tok") for _ in range(per)]
        out.append(NodeFinished(run_id="r", node_id=node, iteration=1, at=0.0, started_at=0.0,
                                duration_ms=5.0, provider="mock", model="m", prompt_tokens=3,
                                completion_tokens=per, cost_usd=0.0, cached=False, prompt="p",
                                response="tok " * per, outputs={"x": "y"}))
    out.append(RunFinished(run_id="r", status="succeeded", outputs={}, at=0.0, duration_ms=1.0,
                           cost_usd=0.0, total_tokens=1))
    return out


class Handle:
    def update(self, obj: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--tokens", type=int, default=20000)
    parser.add_argument("--seconds", type=float, default=10.0, help="simulated run length")
    args = parser.parse_args()
    wf = am.load(chain(args.nodes))
    evs = events(args.nodes, args.tokens)

    t0 = time.perf_counter()
    live = LiveView(wf, display=lambda obj, display_id=False: Handle())
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    for e in evs:
        live(e)
    per_event = (time.perf_counter() - t0) / len(evs)

    clock = [0.0]
    live = LiveView(wf, display=lambda obj, display_id=False: Handle(), clock=lambda: clock[0])
    ticks = int(args.seconds * 20)
    per_tick = len(evs) // ticks + 1
    spent = 0.0
    for k in range(ticks):
        for e in evs[k * per_tick:(k + 1) * per_tick]:
            live(e)
        clock[0] += 0.05
        t0 = time.perf_counter()
        live.refresh(final=k == ticks - 1)
        spent += time.perf_counter() - t0
    print(f"{args.nodes} nodes, {len(evs)} events over a simulated {args.seconds:.0f} s run")
    print(f"view set-up (graph layout, widget): {setup * 1000:.1f} ms")
    print(f"sink cost per event (engine thread): {per_event * 1e6:.1f} µs")
    print(f"front-end updates: {live.pushes} ({live.pushes / args.seconds:.1f} per second); "
          f"main-thread cost per update: {spent / live.pushes * 1000:.2f} ms")


if __name__ == "__main__":
    main()
