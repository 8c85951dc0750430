"""run_code: what must work, limits and presets, the warm pool, results and error lines."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agents_magic.sandbox import (POOL, PRESETS, SandboxCodeError, SandboxError,
                                  SandboxMemoryError, SandboxTimeout, SandboxViolation, limits,
                                  run_code)
from agents_magic.sandbox._limits import Limits

CONTROLS = [
    ("sum", "result = sum(inputs['numbers'])", {"numbers": [1, 2, 3]}, 6),
    ("json_parse", "import json\nresult = json.loads(inputs['text'])['a']", {"text": '{"a": [1]}'}, [1]),
    ("statistics", "import statistics\nresult = statistics.median([3, 1, 2])", {}, 2),
    ("math", "from math import sqrt, pi\nresult = round(sqrt(16) + pi, 2)", {}, 7.14),
    ("re", "import re\nresult = re.findall(r'\\d+', 'a1b22c333')", {}, ["1", "22", "333"]),
    ("datetime", "import datetime\nd = datetime.date(2024, 1, 31) + datetime.timedelta(days=1)\n"
                 "result = d.isoformat()", {}, "2024-02-01"),
    ("strptime", "from datetime import datetime\nresult = datetime.strptime('2024-03-04', '%Y-%m-%d').day",
     {}, 4),
    ("collections", "from collections import Counter\nresult = Counter('abca').most_common(1)", {},
     [["a", 2]]),
    ("defaultdict_write", "from collections import defaultdict\nd = defaultdict(list)\n"
                          "d['x'].append(1)\nresult = dict(d)", {}, {"x": [1]}),
    ("itertools", "import itertools\nresult = list(itertools.islice(itertools.count(), 3))", {}, [0, 1, 2]),
    ("functools", "from functools import reduce\nresult = reduce(lambda a, b: a * b, [1, 2, 3, 4])", {}, 24),
    ("decimal", "from decimal import Decimal\nresult = str(Decimal('0.1') + Decimal('0.2'))", {}, "0.3"),
    ("fractions", "from fractions import Fraction\nresult = str(Fraction(1, 3) + Fraction(1, 6))", {}, "1/2"),
    ("textwrap", "import textwrap\nresult = textwrap.wrap('a b c d', 3)", {}, ["a b", "c d"]),
    ("string", "import string\nresult = string.capwords('hello world')", {}, "Hello World"),
    ("heapq_bisect", "import heapq, bisect\nresult = [heapq.nsmallest(2, [5, 1, 3]), "
                     "bisect.bisect([1, 3, 5], 4)]", {}, [[1, 3], 2]),
    ("random_bounded", "import random\nresult = 1 <= random.randint(1, 6) <= 6", {}, True),
    ("user_class", "class Acc:\n    def __init__(self):\n        self.total = 0\n"
                   "    def add(self, x):\n        self.total = self.total + x\n"
                   "a = Acc()\nfor x in inputs['xs']:\n    a.add(x)\nresult = a.total", {"xs": [1, 2]}, 3),
    ("comprehensions", "result = {k: [v * 2 for v in vs] for k, vs in inputs.items()}", {"a": [1]},
     {"a": [2]}),
    ("generator", "def g(n):\n    for i in range(n):\n        yield i * i\nresult = list(g(4))", {}, [0, 1, 4, 9]),
    ("exceptions_handled", "try:\n    int('x')\nexcept ValueError as e:\n    result = 'bad'", {}, "bad"),
    ("string_methods", "result = '-'.join(s.strip().upper() for s in ' a , b '.split(','))", {}, "A-B"),
    ("percent_format", "result = '%s=%d' % ('a', 1)", {}, "a=1"),
    ("fstring", "x = 2\nresult = f'{x:03d}'", {}, "002"),
    ("format_builtin", "result = format(3.14159, '.2f')", {}, "3.14"),
    ("inputs_mutation", "inputs['x'] = 1\nresult = inputs", {}, {"x": 1}),
    ("unpacking", "a, (b, c) = 1, (2, 3)\nresult = [a, b, c]", {}, [1, 2, 3]),
    ("augmented_item", "d = {'n': 1}\nd['n'] = d['n'] + 2\nresult = d", {}, {"n": 3}),
    ("tuple_and_set_results", "result = {'t': (1, 2), 's': {3}}", {}, {"t": [1, 2], "s": [3]}),
    ("no_result", "x = 1", {}, None),
]


@pytest.mark.parametrize("code,inputs,expected", [c[1:] for c in CONTROLS], ids=[c[0] for c in CONTROLS])
def test_ordinary_code_works(code, inputs, expected):
    assert run_code(code, inputs)["result"] == expected


def test_print_is_captured_from_every_scope():
    out = run_code("def f():\n    print('inner')\nprint('outer', 1)\nf()")
    assert out == {"result": None, "stdout": "outer 1\ninner\n"}


def test_print_keywords_work():
    assert run_code("print('a', 'b', sep='-', end='!', flush=True)")["stdout"] == "a-b!"


def test_concurrent_calls_use_separate_workers():
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n: run_code("result = inputs['n'] * 2", {"n": n})["result"],
                                range(16)))
    assert results == [n * 2 for n in range(16)]


def test_results_round_trip_as_plain_json_data():
    data = {"s": "é", "i": 2 ** 60, "f": 1.5, "b": True, "n": None, "l": [1, [2]], "d": {"k": {}}}
    out = run_code("result = inputs", data)
    assert out["result"] == data and json.loads(json.dumps(out["result"])) == data
    assert type(out["result"]) is dict


def test_inputs_must_be_plain_data():
    with pytest.raises(SandboxError, match="plain data"):
        run_code("result = 1", {"f": object()})


@pytest.mark.parametrize("code,line", [("x = 1\ny = 2\nz = 1 / 0", 3),
                                       ("def f():\n    return [][1]\n\nf()", 2),
                                       ("x = 1\nimport os", 2),
                                       ("x = 1\nif True:\n  y = (", 3)])
def test_errors_name_the_line(code, line):
    with pytest.raises(SandboxError) as caught:
        run_code(code)
    assert caught.value.line == line and str(caught.value).startswith(f"line {line}: ")


def test_messages_say_what_is_blocked_and_what_is_allowed():
    with pytest.raises(SandboxViolation) as caught:
        run_code("import os")
    assert "`import os` is not allowed in a code node; allowed modules: bisect, collections" in str(caught.value)
    with pytest.raises(SandboxViolation, match="`open` is not available in a code node"):
        run_code("open('/etc/passwd')")
    with pytest.raises(SandboxViolation, match="`json.load` is not available.*offers: dumps, loads"):
        run_code("from json import load")
    with pytest.raises(SandboxCodeError, match="ZeroDivisionError: division by zero"):
        run_code("1 / 0")


def test_a_violation_caught_by_the_code_is_still_reported():
    with pytest.raises(SandboxViolation, match="import os"):
        run_code("try:\n    import os\nexcept Exception:\n    pass\nresult = 1")


def test_presets_match_the_documented_values():
    assert {k: (v.cpu_s, v.memory_mb, v.timeout_s) for k, v in PRESETS.items()} == {
        "low": (0.5, 256, 30), "medium": (1, 512, 60), "high": (2, 1024, 120), "max": (4, 2048, 300)}
    assert limits("high", timeout=5, memory=300) == Limits(cpu_s=2, memory_mb=300, timeout_s=5)
    with pytest.raises(ValueError, match="unknown sandbox preset `huge`"):
        limits("huge")
    with pytest.raises(ValueError, match="positive"):
        limits(timeout_s=0)


def test_wall_clock_timeout_kills_the_worker():
    with pytest.raises(SandboxTimeout, match="0.5 s time limit"):
        run_code("while True:\n    pass", timeout_s=0.5, cpu_s=30)


def test_cpu_limit_stops_the_code():
    with pytest.raises(SandboxTimeout, match="CPU time .* raise it with `cpu`"):
        run_code("while True:\n    pass", timeout_s=20, cpu_s=0.5)


def test_memory_limit_follows_the_setting():
    code = "x = 'a' * (300 * 1024 * 1024)\nresult = len(x) > 0"
    with pytest.raises(SandboxMemoryError, match="256 MB"):
        run_code(code, memory_mb=256, cpu_s=5)
    assert run_code(code, memory_mb=1024, cpu_s=5)["result"] is True


def test_output_cap_follows_the_setting():
    with pytest.raises(SandboxViolation, match="over the limit of 100"):
        run_code("print('x' * 200)", output_bytes=100)


def test_a_clean_success_reuses_the_worker():
    run_code("result = 1")
    started = POOL.started
    for _ in range(20):
        run_code("result = 1")
    assert POOL.started == started


def test_a_failure_replaces_the_worker():
    run_code("result = 1")
    before = {w.pid for w in POOL.idle}
    with pytest.raises(SandboxCodeError):
        run_code("1 / 0")
    with pytest.raises(SandboxTimeout):
        run_code("while True:\n    pass", cpu_s=0.5)
    after = {w.pid for w in POOL.idle}
    assert len(before - after) >= 1


def test_nothing_carries_over_between_executions():
    assert run_code("leak = 5\nresult = 1")["result"] == 1
    with pytest.raises(SandboxCodeError, match="name 'leak' is not defined"):
        run_code("result = leak")
    a = run_code("import random\nrandom.seed(1)\nresult = random.random()")["result"]
    b = run_code("import random\nresult = random.random()")["result"]
    c = run_code("import random\nrandom.seed(1)\nresult = random.random()")["result"]
    assert a == c != b
    run_code("import collections\nx = collections.Counter\nresult = 1")
    assert run_code("inputs['k'] = 1\nresult = 1", {})["result"] == 1
    assert run_code("result = inputs", {})["result"] == {}


def test_the_worker_sees_no_environment_files_or_descriptors():
    # The worker's own view, checked from the kernel: its /proc entries.
    run_code("result = 1")
    worker = POOL.idle[-1]
    status = Path(f"/proc/{worker.pid}/status").read_text()
    environ = Path(f"/proc/{worker.pid}/environ").read_bytes()
    assert b"AM_SANDBOX_SECRET" not in environ and b"OPENAI" not in environ
    assert sorted(os.listdir(f"/proc/{worker.pid}/fd")) == ["0", "1", "2"]
    assert os.listdir(worker.dir) == []
    limits_text = Path(f"/proc/{worker.pid}/limits").read_text()
    assert any(line.startswith("Max open files") and line.split()[3:5] == ["3", "3"]
               for line in limits_text.splitlines())
    assert any(line.startswith("Max processes") and line.split()[2:4] == ["0", "0"]
               for line in limits_text.splitlines())
    if os.geteuid() == 0:
        assert status.split("Uid:")[1].split()[0] == "65534"
    assert os.getsid(worker.pid) == worker.pid  # its own session: killed as a group


ESCAPED = """
import errno, json, os, socket
from agents_magic.sandbox import _worker
_worker.harden()
out = {}
for name, attempt in [("open", lambda: open("/etc/hostname")),
                      ("socket", lambda: socket.socket()),
                      ("pipe", lambda: os.pipe()),
                      ("fork", lambda: os.waitpid(os.fork(), 0) if os.fork() else os._exit(0))]:
    try:
        attempt()
        out[name] = "allowed"
    except OSError as exc:
        out[name] = errno.errorcode.get(exc.errno, str(exc.errno))
print(json.dumps(out))
"""


def test_even_escaped_code_could_not_open_files_sockets_or_processes():
    # Python that got past RestrictedPython still runs under the worker's OS limits.
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", ESCAPED], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})
    seen = json.loads(done.stdout)
    assert seen == {"open": "EMFILE", "socket": "EMFILE", "pipe": "EMFILE", "fork": "EAGAIN"}
