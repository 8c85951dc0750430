"""50 concurrent runs adding to one counter and appending to one list lose no update, on
SQLite (in one process and across processes) and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from memory_flows import COUNTER

import agents_magic as am
from agents_magic._settings import Settings
from agents_magic.store._memory import namespace, open_memory

RUNS = 50
ROOT = Path(__file__).resolve().parents[2]


def test_concurrent_runs_lose_no_update(store_url):
    wf = am.load(COUNTER)
    settings = Settings(storage_url=store_url, store=False, cache=False, mlflow=False)

    async def all_runs():
        return await asyncio.gather(*(am.arun(wf, {"tag": f"run{i}"}, settings=settings)
                                      for i in range(RUNS)))

    results = asyncio.run(all_runs())
    assert [r.status for r in results] == ["succeeded"] * RUNS
    memory = open_memory(store_url)
    ns = namespace("global")
    assert memory.get(ns, "count") == RUNS
    assert sorted(memory.get(ns, "tags")) == sorted(f"run{i}" for i in range(RUNS))


def test_concurrent_threads_on_one_key_lose_no_update(store_url):
    from concurrent.futures import ThreadPoolExecutor

    memory = open_memory(store_url)
    ns = namespace("workflow", "threads")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: memory.apply(ns, [("add", "n", 1, None), ("append", "seen", i, None)]),
                      range(RUNS)))
    assert memory.get(ns, "n") == RUNS
    assert sorted(memory.get(ns, "seen")) == list(range(RUNS))


def test_separate_processes_lose_no_update_on_sqlite(sqlite_url, tmp_path):
    script = textwrap.dedent(f"""\
        import sys
        import agents_magic as am
        from agents_magic._settings import Settings
        wf = am.load({COUNTER!r})
        settings = Settings(storage_url=sys.argv[1], store=False, cache=False, mlflow=False)
        for i in range(int(sys.argv[3])):
            result = am.run(wf, {{"tag": sys.argv[2] + "-" + str(i)}}, settings=settings)
            assert result.status == "succeeded", result.error
        """)
    open_memory(sqlite_url)  # migrate once, before the processes race
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", script, sqlite_url, f"p{p}", "10"], env=env,
                              stderr=subprocess.PIPE, text=True) for p in range(5)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    memory = open_memory(sqlite_url)
    ns = namespace("global")
    assert memory.get(ns, "count") == RUNS
    assert sorted(memory.get(ns, "tags")) == sorted(f"p{p}-{i}" for p in range(5) for i in range(10))
