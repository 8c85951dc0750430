"""Attacks on the sandbox: each must be blocked and leave nothing behind (see conftest)."""

from __future__ import annotations

import pytest

from agents_magic.sandbox import (SandboxCodeError, SandboxError, SandboxMemoryError,
                                  SandboxTimeout, SandboxViolation, run_code)
from sandbox_marks import CANARY, SECRET

V, T, M, C = SandboxViolation, SandboxTimeout, SandboxMemoryError, SandboxCodeError
W = f"open({str(CANARY)!r}, 'w').write('x')"

IMPORTS = [
    ("import_os", "import os", V),
    ("import_subprocess", "import subprocess\nsubprocess.run(['id'])", V),
    ("from_os_import", "from os import system\nsystem('touch /tmp/x')", V),
    ("import_dotted", "import os.path", V),
    ("dunder_import", "__import__('os')", V),
    ("importlib", "import importlib\nimportlib.import_module('os')", V),
    ("import_sys", "import sys\nresult = sys.modules", V),
    ("import_builtins", "import builtins\nbuiltins.open", V),
    ("import_ctypes", "import ctypes", V),
    ("import_socket", "import socket\nsocket.create_connection(('127.0.0.1', 80))", V),
    ("relative_import", "from . import secrets", V),
    ("allowed_prefix_submodule", "import json.decoder", V),
    ("from_allowed_import_other", "from math import os", V),
    ("from_allowed_import_private", "from random import _os", V),
    ("module_reexport_json", "import json\nresult = json.decoder", V),
    ("module_reexport_random", "import random\nresult = random._os", V),
    ("module_reexport_re", "import re\nresult = re.sre_compile", V),
    ("module_reexport_stats", "import statistics\nresult = statistics.random", V),
    ("module_reexport_datetime", "import datetime\nresult = datetime.sys", V),
    ("collections_abc", "import collections\nresult = collections.abc", V),
    ("functools_lru_cache", "import functools\nresult = functools.lru_cache", V),
    ("string_formatter", "import string\nresult = string.Formatter", V),
    ("string_template", "import string\nresult = string.Template", V),
    ("operator_attrgetter", "import operator\nresult = operator.attrgetter('__class__')", V),
    ("operator_methodcaller", "import operator\nresult = operator.methodcaller('format')", V),
    ("import_pickle", "import pickle", V),
    ("import_marshal", "import marshal", V),
    ("import_multiprocessing", "import multiprocessing", V),
    ("import_threading", "import threading", V),
    ("import_thread_private", "import _thread", V),
    ("import_signal", "import signal", V),
    ("import_resource", "import resource", V),
    ("import_urllib", "import urllib.request", V),
    ("import_http", "import http.client", V),
    ("import_asyncio", "import asyncio", V),
    ("import_io", "import io", V),
    ("import_pathlib", "import pathlib\npathlib.Path('/etc/passwd').read_text()", V),
    ("import_shutil", "import shutil", V),
    ("import_gc", "import gc\ngc.get_objects()", V),
    ("import_inspect", "import inspect", V),
    ("import_posix", "import posix", V),
    ("import_pty", "import pty", V),
    ("import_in_function", "def f():\n    import os\n    return os\nf()", V),
]

BUILTINS = [
    ("open_read", "result = open('/etc/passwd').read()", V),
    ("open_write", W, V),
    ("eval", "eval('1+1')", V),
    ("exec", "exec('x = 1')", V),
    ("compile", "compile('1', 'f', 'eval')", V),
    ("globals", "result = globals()", V),
    ("locals", "result = locals()", V),
    ("vars", "result = vars()", V),
    ("dir", "result = dir()", V),
    ("type", "result = type(1)", V),
    ("object", "result = object", V),
    ("super", "super()", V),
    ("breakpoint", "breakpoint()", V),
    ("input", "input()", V),
    ("help", "help()", V),
    ("memoryview", "memoryview(b'x')", V),
    ("id", "result = id(1)", V),
    ("setattr", "setattr(inputs, 'x', 1)", V),
    ("delattr", "delattr(inputs, 'x')", V),
    ("getattr_dunder", "result = getattr(1, '__class__')", V),
    ("getattr_format", "result = getattr('{0}', 'format')", V),
    ("hasattr_dunder_probe", "result = hasattr(1, '__class__')", V),
    ("builtins_dict", "result = __builtins__['open']", V),
    ("dunder_name", "result = __name__", V),
    ("loader", "result = __loader__", V),
    ("spec", "result = __spec__", V),
]

INTROSPECTION = [
    ("class_attr", "result = (1).__class__", V),
    ("subclasses", "result = ().__class__.__bases__[0].__subclasses__()", V),
    ("gi_frame", "def g():\n    yield 1\nresult = g().gi_frame", V),
    ("gi_code", "def g():\n    yield 1\nresult = g().gi_code", V),
    ("gi_frame_getattr", "def g():\n    yield 1\nresult = getattr(g(), 'gi_frame')", V),
    ("function_globals", "def f():\n    pass\nresult = f.__globals__", V),
    ("function_code", "result = (lambda: 0).__code__", V),
    ("traceback", "try:\n    1/0\nexcept Exception as e:\n    result = e.__traceback__", V),
    ("tb_frame", "try:\n    1/0\nexcept Exception as e:\n    t = e.with_traceback(None)\n"
                 "    result = getattr(t, 'tb_frame')", V),
    ("f_back", "def g():\n    yield 1\nx = g()\nresult = getattr(x, 'f_back')", V),
    ("class_dict", "class A:\n    pass\nresult = A.__dict__", V),
    ("class_mro", "class A:\n    pass\nresult = A.mro()", V),
    ("metaclass_keyword", "def m(*a):\n    return 1\nclass A(metaclass=m):\n    pass", V),
    ("metaclass_type", "class M(type):\n    pass", V),
    ("dict_subclass_items_loop", "class D(dict):\n    def items(self):\n        while True:\n"
                                 "            pass\nresult = D(a=1)", T),
    ("exception_str_loop", "class E(Exception):\n    def __str__(self):\n        while True:\n"
                           "            pass\nraise E()", V),
    ("coroutine", "async def c():\n    pass\nresult = c().cr_frame", V),
    ("async_generator", "async def a():\n    yield 1\nresult = a().ag_frame", V),
    ("exception_context", "try:\n    1/0\nexcept Exception as e:\n    result = e.__context__", V),
    ("bound_self", "result = inputs.get.__self__", V),
    ("private_name", "_x = 1", V),
]

FORMAT = [
    ("str_format", "result = '{0.__class__}'.format(1)", V),
    ("str_type_format", "result = str.format('{0.__class__}', 1)", V),
    ("format_map", "def f():\n    pass\nresult = '{a.__globals__}'.format_map({'a': f})", V),
    ("str_subclass_format", "class S(str):\n    pass\nresult = S('{0.__class__}').format(1)", V),
    ("fstring_dunder", "result = f'{(1).__class__}'", V),
    ("format_via_getattr", "f = getattr(str, 'format_map')", V),
]

EXCEPTIONS = [
    ("custom_exception_carries_inputs", "class E(Exception):\n    pass\nraise E(inputs)", C),
    ("exception_carries_function", "raise ValueError(lambda: 0)", C),
    ("result_exception_object", "result = ValueError('x')", C),
    ("result_function", "result = lambda: 0", C),
    ("result_pattern", "import re\nresult = re.compile('x')", C),
    ("result_iterator", "result = iter([1])", C),
    ("result_class", "class A:\n    pass\nresult = A", C),
    ("result_instance", "class A:\n    pass\nresult = A()", C),
    ("result_tuple_key", "result = {(1, 2): 1}", C),
    ("result_huge_int", "result = 10 ** 5000", C),
    ("result_nested_in_list", "result = [1, [2, {'a': print}]]", C),
]

EXHAUSTION = [
    ("cpu_loop", "while True:\n    pass", T),
    ("cpu_factorial", "import math\nresult = math.factorial(10 ** 7) > 0", T),
    ("cpu_redos", "import re\nresult = bool(re.match('(a+)+$', 'a' * 40 + 'b'))", T),
    ("cpu_huge_power", "x = 7\nresult = (x ** (10 ** 8)) % 10", T),
    ("memory_string", "x = 'a' * 10 ** 10", M),
    ("memory_list", "x = [0] * 10 ** 9", M),
    ("memory_growth", "x = []\nwhile True:\n    x.append('a' * 10 ** 6)", M),
    ("memory_infinite_iterator", "import itertools\nx = list(itertools.count())", M),
    ("memory_bytes", "x = bytes(10 ** 10)", M),
    ("output_loop", "while True:\n    print('x' * 1000)", V),
    ("output_one_print", "print('x' * 2000000)", V),
    ("output_result", "result = 'x' * 3000000", V),
    ("recursion", "def f():\n    return f()\nf()", C),
    ("recursion_caught_then_loop", "def f():\n    return f()\ntry:\n    f()\nexcept RecursionError:\n"
                                   "    while True:\n        pass", T),
    ("nested_result", "a = []\nfor i in range(100000):\n    a = [a]\nresult = a", C),
    ("huge_int_to_str", "result = str(10 ** 100000)", C),
    ("huge_str_to_int", "result = int('9' * 100000)", C),
    ("compile_bomb_nesting", "x = " + "(" * 100000 + ")" * 100000, C),
    ("compile_bomb_size", "x = [" + "1," * 3000000 + "]", (M, T)),  # whichever limit comes first
    ("memory_caught_then_loop", "try:\n    x = 'a' * 10 ** 10\nexcept MemoryError:\n    pass\n"
                                "while True:\n    pass", T),
]

PROCESS = [
    ("fork", "import os\nos.fork()", V),
    ("kill_parent", "import os\nos.kill(os.getppid(), 9)", V),
    ("signal_alarm", "import signal\nsignal.alarm(0)", V),
    ("popen", "import subprocess\nsubprocess.Popen(['sleep', '100'])", V),
    ("spawn", "import os\nos.spawnl(os.P_NOWAIT, '/bin/sleep', 'sleep', '100')", V),
    ("exit", "exit()", V),
    ("quit", "quit(1)", V),
    ("system_exit", "raise SystemExit(1)", V),
    ("keyboard_interrupt", "raise KeyboardInterrupt", V),
    ("base_exception", "raise BaseException('stop')", C),
    ("os_exit", "import os\nos._exit(0)", V),
    ("generator_exit", "raise GeneratorExit", V),
]

HOST = [
    ("proc_environ", "result = open('/proc/self/environ').read()", V),
    ("os_environ", "import os\nresult = dict(os.environ)", V),
    ("json_load_file", "import json\nresult = json.load(open('/etc/passwd'))", V),
    ("ssh_keys", "result = open('/root/.ssh/id_rsa').read()", V),
    ("parent_environ", "import os\nresult = open(f'/proc/{os.getppid()}/environ').read()", V),
    ("write_canary_via_print", f"print('x', file=open({str(CANARY)!r}, 'w'))", V),
    ("print_file_keyword", "print('x', file=inputs)", V),
]

STATE = [
    ("patch_module_function", "import json\njson.dumps = len", V),
    ("patch_module_constant", "import math\nmath.pi = 3", V),
    ("patch_function_attribute", "import functools\nfunctools.reduce.x = 1", V),
    ("patch_allowed_class", "import collections\ncollections.Counter.most_common = len", V),
    ("patch_decimal_class", "import decimal\ndecimal.Decimal.x = 1", V),
    ("decimal_context", "import decimal\ndecimal.getcontext().prec = 2", V),
    ("random_internal_state", "import random\nresult = random.getstate()", V),
    ("patch_builtin_via_getattr", "f = getattr(getattr, 'x')", C),
    ("exception_class_attribute", "ValueError.x = 1", V),
]

ATTACKS = [(f"{group}:{name}", code, kind) for group, cases in (
    ("imports", IMPORTS), ("builtins", BUILTINS), ("introspection", INTROSPECTION),
    ("format", FORMAT), ("exceptions", EXCEPTIONS), ("exhaustion", EXHAUSTION),
    ("process", PROCESS), ("host", HOST), ("state", STATE)) for name, code, kind in cases]


def test_the_corpus_is_large_enough():
    assert len(ATTACKS) >= 80


@pytest.mark.parametrize("code,kind", [a[1:] for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_attack_is_blocked(code: str, kind: type[SandboxError] | tuple[type[SandboxError], ...]):
    cpu_s = 5 if kind is M else 0.5  # memory attacks get CPU to spare: only the memory limit may stop them
    with pytest.raises(SandboxError) as caught:
        run_code(code, {"secret_free": True}, timeout_s=10, memory_mb=256, cpu_s=cpu_s)
    assert type(caught.value) in (kind if isinstance(kind, tuple) else (kind,)), str(caught.value)
    assert SECRET not in str(caught.value)
    assert all(isinstance(arg, str) for arg in caught.value.args)  # plain text, no live objects
    assert caught.value.__cause__ is None
