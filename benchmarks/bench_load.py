"""Load time of linear chains of 10, 1,000 and 5,000 nodes (target: 5,000 nodes in ≤ 1 s), and
of one node whose prompt is close to the 4,000,000-character cap on a workflow's text; then the
time to compile and run the same chains on the mock provider (target: 5,000 nodes in ≤ 10 s).

Run: ``python benchmarks/bench_load.py [--profile N]``. Each figure is the best of three loads
after a warm-up, so imports are not counted.
"""

from __future__ import annotations

import argparse
import time

import agents_magic

SIZES = (10, 1_000, 5_000)


def chain(size: int) -> str:
    """A workflow of ``size`` LLM nodes in a row, each reading and writing one state field."""
    lines = ['schema_version: "1.0"', "flow: {name: chain}", "state:", "  fields:",
             '    text: {type: str, default: ""}', "nodes:"]
    lines += [f'  - {{id: n{i}, prompt: "step {i}: {{state.text}}", outputs: [text]}}'
              for i in range(size)]
    lines += ["edges:", "  - {from: START, to: n0}"]
    lines += [f"  - {{from: n{i}, to: n{i + 1}}}" for i in range(size - 1)]
    lines += [f"  - {{from: n{size - 1}, to: END}}", "config: {llm: {provider: mock}}"]
    return "\n".join(lines) + "\n"


def big_prompt(chars: int = 3_900_000) -> str:
    """One node whose prompt holds ``chars`` characters of words."""
    words = "word " * (chars // 5)
    return chain(1).replace('"step 0: ', f'"{words}')


def best_of(text: str, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        agents_magic.load(text)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", type=int, metavar="N", help="profile one load of N nodes")
    args = parser.parse_args()
    agents_magic.load(chain(2))
    if args.profile:
        import cProfile
        import pstats

        text = chain(args.profile)
        with cProfile.Profile() as profile:
            agents_magic.load(text)
        pstats.Stats(profile).sort_stats("tottime").print_stats(20)
        return
    print(f"{'nodes':>6}  {'load':>9}  {'per node':>9}")
    for size in SIZES:
        seconds = best_of(chain(size))
        print(f"{size:>6}  {seconds * 1000:>7.1f} ms  {seconds / size * 1e6:>6.0f} µs")
    print(f"one node with a 3.9 MB prompt: {best_of(big_prompt()) * 1000:.1f} ms")
    compile_and_run(chain(2))  # imports LangGraph: not counted
    print(f"\n{'nodes':>6}  {'compile':>9}  {'mock run':>9}  {'per node':>9}")
    for size in SIZES:
        compile_s, run_s = compile_and_run(chain(size))
        print(f"{size:>6}  {compile_s * 1000:>7.0f} ms  {run_s * 1000:>7.0f} ms  "
              f"{(compile_s + run_s) / size * 1e6:>6.0f} µs")


def compile_and_run(text: str) -> tuple[float, float]:
    """Seconds to compile the graph and to run it once (no run store, no cache)."""
    import asyncio

    from agents_magic.engine._run import compiled, execute

    workflow = agents_magic.load(text)
    start = time.perf_counter()
    compiled(workflow)
    built = time.perf_counter()
    result = asyncio.run(execute(workflow))
    assert result.ok, result.error
    return built - start, time.perf_counter() - built


if __name__ == "__main__":
    main()
