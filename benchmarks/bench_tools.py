"""Kernel-side cost of one tool-calling step, against a raw aiohttp loop, over the local fake
server at 0 ms latency.

    .venv/bin/python benchmarks/bench_tools.py [--steps 20] [--repeat 7]

A step is one model reply asking for a tool, the tool's call, and the next request carrying its
result. Per-step time is the slope between a run with ``--steps`` steps and one with none (the
run's fixed costs cancel out). The baseline does the same conversation by hand: one shared
aiohttp session, ``json`` in and out, the function called inline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("AGENTS_MAGIC_STORE", "0")
os.environ.setdefault("AGENTS_MAGIC_CACHE", "0")
os.environ.setdefault("AGENTS_MAGIC_MLFLOW", "0")

import agents_magic as am  # noqa: E402
from fake_llm import FakeLLM  # noqa: E402

MODEL = "gpt-4o-mini"


def lookup(key: str) -> str:
    """Look a key up.

    Args:
        key: What to look up.
    """
    return key.upper()


def rules(steps: int) -> list[dict[str, Any]]:
    call = {"tool_calls": [{"name": "lookup", "arguments": {"key": "abc"}}], "times": steps}
    return ([call] if steps else []) + [{"content": "done"}]


def workflow(base_url: str, steps: int) -> Any:
    return am.load("\n".join([
        'schema_version: "1.0"', "flow: {name: bench_tools}", "state:", "  fields:",
        "    q: {type: str, default: go}", "    a: {type: str, default: ''}", "nodes:",
        f'  - {{id: ask, prompt: "{{state.q}}", outputs: [a], tools: [lookup], '
        f"max_tool_steps: {steps + 1}}}",
        "edges: [{from: START, to: ask}, {from: ask, to: END}]", "config:",
        f'  llm: {{provider: openai, model: {MODEL}, api_base: "{base_url}"}}', ""]),
        tools=[lookup])


async def engine_run(fake: FakeLLM, wf: Any, steps: int) -> float:
    fake.configure(rules=rules(steps))
    t0 = time.perf_counter()
    result = await am.arun(wf, {}, persist=False)
    elapsed = time.perf_counter() - t0
    assert result.ok and result.nodes["tool_calls"].tolist() == [steps], result.error
    return elapsed


async def raw_run(fake: FakeLLM, session: Any, steps: int) -> float:
    """The same conversation by hand."""
    fake.configure(rules=rules(steps))
    schema = am.tools.from_function(lookup).schema()
    messages: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    t0 = time.perf_counter()
    while True:
        async with session.post(fake.base_url + "/chat/completions",
                                json={"model": MODEL, "messages": messages, "tools": [schema]}) as r:
            message = (await r.json())["choices"][0]["message"]
        calls = message.get("tool_calls")
        if not calls:
            break
        messages.append({"role": "assistant", "content": None, "tool_calls": calls})
        for call in calls:
            result = lookup(**json.loads(call["function"]["arguments"]))
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    return time.perf_counter() - t0


def slope(times: dict[int, list[float]], steps: int) -> float:
    return (statistics.median(times[steps]) - statistics.median(times[0])) / steps * 1000


async def main(steps: int, repeat: int) -> None:
    import aiohttp

    with FakeLLM() as fake:
        wf = {n: workflow(fake.base_url, n) for n in (0, steps)}
        engine: dict[int, list[float]] = {0: [], steps: []}
        raw: dict[int, list[float]] = {0: [], steps: []}
        async with aiohttp.ClientSession() as session:
            for n in (0, steps):  # warm-up: imports, connections, compiled graphs
                await engine_run(fake, wf[n], n)
                await raw_run(fake, session, n)
            for _ in range(repeat):
                for n in (0, steps):
                    engine[n].append(await engine_run(fake, wf[n], n))
                    raw[n].append(await raw_run(fake, session, n))
    ours, base = slope(engine, steps), slope(raw, steps)
    print(f"python {platform.python_version()} · {platform.machine()} · {os.cpu_count()} CPUs · "
          f"{steps} steps · median of {repeat}")
    print(f"engine per tool step: {ours:.2f} ms   raw aiohttp loop: {base:.2f} ms   "
          f"overhead: {ours - base:.2f} ms/step")
    print(f"engine run with 0 steps: {statistics.median(engine[0]) * 1000:.2f} ms   "
          f"with {steps}: {statistics.median(engine[steps]) * 1000:.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(args.steps, args.repeat))
