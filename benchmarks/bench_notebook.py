"""Notebook start-up benchmark: ``%load_ext agents_magic`` and the cold first ``%%workflow`` run.

Each sample is a fresh Jupyter kernel running this interpreter (``sys.executable``), so nothing
is imported or cached beforehand. Per kernel it measures:

- ``%load_ext agents_magic``: the kernel's own execution time (execute_reply ``started`` to the
  reply's date) and the client round trip;
- the first ``%%workflow`` cell (the bundled ``summarize`` example, mock provider): from sending
  the cell to its first visible output (target: 100 ms, before the engine's imports finish) and
  to receiving its result, imports included;
- a second run of the same cell, for comparison;
- ``%workflow estimate`` of an OpenAI workflow after those mock runs (so LiteLLM would be its
  own import): the round trip;
- a kernel interrupt of a running cell (a mock node that would take 10 s): from the interrupt
  to the cell's execute_reply, with the cancelled result shown (target: under 1 s).

Run::

    python benchmarks/bench_notebook.py [--kernels 10] [--out benchmarks/results_notebook.md]

It prints a table and writes the figures as a markdown section. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KERNEL_NAME = "agents-magic-bench"
TARGETS = {"load_ext": 0.150, "first_visible": 0.100, "first_run": 2.0, "interrupt": 1.0}
EXAMPLE = (ROOT / "agents_magic" / "examples" / "summarize.yaml").read_text(encoding="utf-8")
FIRST_CELL = '%%workflow summarize -i text="Jupyter notebooks mix code and prose."\n' + EXAMPLE
OPENAI_CELL = ("%%workflow summarize_openai --no-run --quiet\n"
               + EXAMPLE.replace("llm: {provider: mock}", "llm: {provider: openai, model: gpt-4o-mini}"))
ESTIMATE = '%workflow estimate summarize_openai text="Jupyter notebooks mix code and prose."'
SLOW_CELL = FIRST_CELL.replace("llm: {provider: mock}",
                               "llm: {provider: mock, params: {latency_ms: 10000}}")


def kernelspec(root: Path) -> list[str]:
    """A kernelspec for this interpreter with an empty data directory (a fresh LLM cache) of
    its own; the run store and MLflow are off, as they are not what is measured here."""
    spec = root / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "agents_magic bench", "language": "python",
        "env": {"AGENTS_MAGIC_DATA_DIR": str(root / "data"), "AGENTS_MAGIC_STORE": "0",
                "AGENTS_MAGIC_MLFLOW": "0", "AGENTS_MAGIC_CACHE": "1"},
    }))
    return [str(root / "kernels")]


def execute(kc: Any, code: str, timeout: float = 120) -> dict[str, float]:
    """Send ``code``; times until its first output, its reply and the kernel idle again."""
    sent = time.perf_counter()
    msg_id = kc.execute(code)
    visible: float | None = None
    while True:  # iopub: the first output, then idle (which follows the reply)
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if visible is None and msg["msg_type"] in ("display_data", "stream", "execute_result", "error"):
            visible = time.perf_counter() - sent
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    idle = time.perf_counter()
    reply = None
    while reply is None:
        msg = kc.get_shell_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") == msg_id:
            reply = msg
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"cell failed: {reply['content'].get('ename')}: {reply['content'].get('evalue')}")
    started = reply["metadata"].get("started")
    kernel_s = float("nan")
    if started:
        begin = dt.datetime.fromisoformat(str(started).replace("Z", "+00:00"))
        end = reply["header"]["date"]
        end = end if isinstance(end, dt.datetime) else dt.datetime.fromisoformat(str(end).replace("Z", "+00:00"))
        kernel_s = (end - begin).total_seconds()
    return {"kernel": kernel_s, "visible": float("nan") if visible is None else visible, "idle": idle - sent}


def one_kernel(kernel_dirs: list[str]) -> dict[str, float]:
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name=KERNEL_NAME,
                       kernel_spec_manager=KernelSpecManager(kernel_dirs=kernel_dirs))
    km.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        execute(kc, "pass")  # the kernel's own first-cell overhead is not ours
        load = execute(kc, "%load_ext agents_magic")
        first = execute(kc, FIRST_CELL)
        second = execute(kc, FIRST_CELL)
        execute(kc, OPENAI_CELL)
        estimate = execute(kc, ESTIMATE)
        return {"load_ext_kernel": load["kernel"], "load_ext_roundtrip": load["idle"],
                "first_visible": first["visible"], "first_run": first["idle"],
                "second_run": second["idle"], "estimate": estimate["idle"],
                "interrupt": interrupt(km, kc)}
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def interrupt(km: Any, kc: Any) -> float:
    """Seconds from interrupting a running ``%%workflow`` cell to its execute_reply."""
    msg_id = kc.execute(SLOW_CELL.replace("%%workflow summarize", "%%workflow slow --quiet", 1))
    while True:  # the cell is running once the kernel says busy
        msg = kc.get_iopub_msg(timeout=60)
        if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "busy"):
            break
    time.sleep(0.5)  # let the run reach its node (a benchmark, not a test)
    started = time.perf_counter()
    km.interrupt_kernel()
    while True:
        reply = kc.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            return time.perf_counter() - started


def import_time(module: str) -> float:
    """Seconds to import ``module`` in a fresh interpreter (for context)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def markdown(samples: list[dict[str, float]], context: dict[str, float], kernels: int) -> str:
    def med(key: str) -> float:
        return statistics.median(s[key] for s in samples)

    def spread(key: str) -> str:
        values = [s[key] for s in samples]
        return f"{min(values) * 1000:.0f}–{max(values) * 1000:.0f}"

    rows = [
        ("`%load_ext agents_magic` (kernel time)", "load_ext_kernel", TARGETS["load_ext"]),
        ("`%load_ext agents_magic` (round trip)", "load_ext_roundtrip", None),
        ("first `%%workflow` cell, cold: its first visible output", "first_visible",
         TARGETS["first_visible"]),
        ("first `%%workflow` run, cold (imports included)", "first_run", TARGETS["first_run"]),
        ("second `%%workflow` run, warm", "second_run", None),
        ("`%workflow estimate` of an OpenAI workflow (after mock runs)", "estimate", None),
        ("interrupt of a running cell to its reply (status `cancelled`)", "interrupt",
         TARGETS["interrupt"]),
    ]
    lines = [
        "## Notebook start-up",
        "",
        f"Median over {kernels} fresh Jupyter kernels (`benchmarks/bench_notebook.py`); "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, {dt.date.today().isoformat()}. The first run is the bundled "
        "`summarize` example on the `mock` provider, timed from sending the cell to its result "
        "(LLM cache on and empty, run store and MLflow off).",
        "",
        "| measure | median (ms) | min–max (ms) | target (ms) | met |",
        "|---|---:|---:|---:|:---:|",
    ]
    for label, key, target in rows:
        met = "" if target is None else ("yes" if med(key) <= target else "no")
        shown_target = "" if target is None else f"{target * 1000:.0f}"
        lines.append(f"| {label} | {med(key) * 1000:.0f} | {spread(key)} | {shown_target} | {met} |")
    lines += ["", "For context, cold imports in a fresh interpreter (median of 3):", ""]
    lines += [f"- `import {m}`: {v * 1000:.0f} ms" for m, v in context.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", type=int, default=10, help="fresh kernels to sample (10)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results_notebook.md")
    args = parser.parse_args(argv)
    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.kernels):
            sample = one_kernel(kernelspec(Path(tmp) / str(i)))
            samples.append(sample)
            print(f"kernel {i + 1:2d}/{args.kernels}: load_ext {sample['load_ext_kernel'] * 1000:6.1f} ms · "
                  f"first visible {sample['first_visible'] * 1000:6.1f} ms · "
                  f"first run {sample['first_run'] * 1000:7.1f} ms · "
                  f"estimate {sample['estimate'] * 1000:7.1f} ms · "
                  f"interrupt {sample['interrupt'] * 1000:6.1f} ms", flush=True)
    context = {m: statistics.median(import_time(m) for _ in range(3))
               for m in ("agents_magic.config._loader", "langgraph.graph", "pandas")}
    text = markdown(samples, context, args.kernels)
    print()
    print(text)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
