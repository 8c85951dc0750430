"""The worker process: compiles code with RestrictedPython and runs it, one job at a time.

Started by :mod:`._pool` as ``python -I -m agents_magic.sandbox._worker`` in its own session,
with a scrubbed environment, an empty working directory and only fds 0/1 (the job pipe)
and 2 (``/dev/null``). Before the first job it imports everything code may use, drops root
to ``nobody`` if it has it, and fixes RLIMIT_NOFILE at 3 (no new file, socket or pipe can
be opened), RLIMIT_NPROC at 0, RLIMIT_FSIZE at 0 and RLIMIT_CORE at 0. Each job then sets
RLIMIT_AS, a CPU-time timer and RLIMIT_CPU for itself. Everything a job sees is built fresh for it.
"""

from __future__ import annotations

import gc
import json
import math
import os
import re
import resource
import signal
from typing import Any

from RestrictedPython import compile_restricted_exec

from ..store._memory_ops import MISSING, MemoryValueError, combine
from . import _policy, _protocol
from ._guards import FILENAME, Job, make_globals

MB = 1024 * 1024
NOBODY = 65534
MAX_DEPTH = 64  # nesting of a result
_LINE = re.compile(r"^Line (\d+): (.*)$", re.S)
_COMPILED: dict[str, Any] = {}  # code text -> code object (immutable; safe to share)


class ResultError(TypeError):
    """``result`` is not plain data."""


def plain(value: Any, depth: int = 0, what: str = "`result`") -> Any:
    """``value`` as JSON-like data, or ``TypeError`` naming what is not."""
    if depth > MAX_DEPTH:
        raise ResultError(f"{what} is nested more than {MAX_DEPTH} levels deep")
    if value is None or type(value) in (bool, str, float):
        return value
    if isinstance(value, (str, float)):
        return (str if isinstance(value, str) else float)(value)
    if isinstance(value, int):
        if value.bit_length() > 4000:
            raise ResultError(f"{what} holds an integer too large to send back (over 4000 bits)")
        return int(value)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise ResultError(f"{what} has a dict key of type `{type(key).__name__}`; use str keys")
            out[key if type(key) is str else json.dumps(plain(key, depth + 1, what))] = plain(
                item, depth + 1, what)
        return out
    if isinstance(value, (list, tuple, set, frozenset)) or type(value).__name__ == "deque":
        return [plain(item, depth + 1, what) for item in value]
    raise ResultError(f"{what} must be plain data (dict, list, str, int, float, bool, None), "
                      f"got `{type(value).__name__}`")


class Memory:
    """``memory`` in a code node: the node's entries, handed in as plain data. Writes are
    only collected; the kernel stores them once the code has succeeded. Code reaches nothing
    but the methods below (names starting with ``_`` are refused by the attribute guard)."""

    def __init__(self, entries: dict[str, Any]) -> None:
        self._entries = entries
        self._reads: dict[str, bool] = {}
        self._writes: list[list[Any]] = []

    @staticmethod
    def _key(key: Any) -> str:
        if not isinstance(key, str) or not key:
            raise TypeError(f"a memory key must be a non-empty str, got {key!r}")
        return key

    def get(self, key: str, default: Any = None) -> Any:
        """The stored value of ``key`` (as this code last wrote it), or ``default``."""
        key = self._key(key)
        self._reads.setdefault(key, key in self._entries)
        return self._entries.get(key, default)

    def _write(self, mode: str, key: str, value: Any, keep: int | None = None) -> Any:
        key = self._key(key)
        try:  # a plain TypeError: reported with the code's line, unlike a bad `result`
            value = plain(value, what=f"memory `{key}`")
            new = combine(mode, self._entries.get(key, MISSING), value, keep)
        except ResultError as exc:
            raise TypeError(str(exc)) from None
        except MemoryValueError as exc:
            raise TypeError(f"memory `{key}`: {exc}") from None
        self._entries[key] = new
        self._writes.append([mode, key, value, keep])
        return new

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` (plain data) under ``key``."""
        self._write("set", key, value)

    def append(self, key: str, item: Any, keep: int | None = None) -> list[Any]:
        """Append ``item`` to the list under ``key`` (keeping the last ``keep``); the new list."""
        if keep is not None and (not isinstance(keep, int) or keep < 1):
            raise ValueError("keep must be a positive int")
        return self._write("append", key, item, keep)  # type: ignore[no-any-return]

    def add(self, key: str, amount: float = 1) -> float:
        """Add ``amount`` to the number under ``key``; the new number."""
        return self._write("add", key, amount)  # type: ignore[no-any-return]

    def _report(self) -> dict[str, Any]:
        return {"reads": [[k, found] for k, found in self._reads.items()], "writes": self._writes}


def compile_code(code: str) -> tuple[Any, dict[str, Any] | None]:
    """The code object, or ``None`` and the first compile problem as a reply."""
    if code in _COMPILED:
        return _COMPILED[code], None
    compiled = compile_restricted_exec(code, filename=FILENAME)
    if compiled.errors:
        match = _LINE.match(compiled.errors[0])
        line, text = (int(match.group(1)), match.group(2)) if match else (None, compiled.errors[0])
        kind = "code" if "SyntaxError" in text or "IndentationError" in text else "violation"
        return None, {"error": kind, "message": f"{text} (not allowed in a code node)"
                      if kind == "violation" else text, "line": line}
    if len(_COMPILED) > 256:
        _COMPILED.clear()
    _COMPILED[code] = compiled.code
    return compiled.code, None


def error_line(exc: BaseException) -> int | None:
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = ""
    text = text[:2000]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def execute(job_data: dict[str, Any]) -> dict[str, Any]:
    """Compile and run one job under its limits; the reply is plain data."""
    job = Job(int(job_data["output_bytes"]), int(job_data["seed"]))
    memory_mb = int(job_data["memory_mb"])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # SIGPROF (default action: terminate) ends the job after exactly ``cpu_s`` of CPU time;
    # RLIMIT_CPU (whole seconds of the worker's total, SIGXCPU) is the backstop.
    cpu_limit = math.ceil(usage.ru_utime + usage.ru_stime + float(job_data["cpu_s"])) + 1
    _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * MB, resource.RLIM_INFINITY))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_limit, cpu_hard))
        signal.setitimer(signal.ITIMER_PROF, float(job_data["cpu_s"]))
        # Compiling, converting the result and describing an error may be made expensive by
        # the code: all of it stays under the limits.
        try:
            code_obj, problem = compile_code(job_data["code"])
        except MemoryError:
            code_obj, problem = None, {"error": "memory", "line": None, "message":
                                       f"compiling the code needed more than its {memory_mb} MB"}
        except (RecursionError, ValueError) as exc:
            code_obj, problem = None, {"error": "code", "line": None, "message":
                                       f"the code cannot be compiled: {describe(exc)}"}
        namespace = make_globals(job, job_data["inputs"])
        memory = None
        if job_data.get("memory") is not None:
            memory = namespace["memory"] = Memory(job_data["memory"])
        reply = problem or run_limited(code_obj, namespace, job, memory_mb, memory)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_hard, cpu_hard))
    if job.blocked:
        message, line = job.blocked[0]
        return {"error": "violation", "message": message, "line": line}
    return reply


def run_limited(code_obj: Any, namespace: dict[str, Any], job: Job, memory_mb: int,
                memory: Memory | None = None) -> dict[str, Any]:
    try:
        exec(code_obj, namespace)
        reply = {"result": plain(namespace.get("result")), "stdout": "".join(job.parts)}
        if memory is not None:
            reply["memory"] = memory._report()
        return reply
    except MemoryError:
        return {"error": "memory", "message": f"the code needed more than its {memory_mb} MB of memory",
                "line": None}
    except NameError as exc:
        name = getattr(exc, "name", None)
        absent = name in _policy.ABSENT_BUILTINS
        return {"error": "violation" if absent else "code", "line": error_line(exc), "message":
                f"`{name}` is not available in a code node (no files, processes, eval or "
                "introspection)" if absent else describe(exc)}
    except ResultError as exc:
        return {"error": "code", "message": str(exc), "line": None}
    except BaseException as exc:  # noqa: BLE001 - whatever the code raised is reported
        return {"error": "code", "message": describe(exc), "line": error_line(exc)}
    finally:
        namespace.clear()
        gc.collect()  # the code's cycles (and any finalizers) go now, under this job's limits


def harden() -> None:
    """Drop root, then fix the limits no job may change."""
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    for limit, value in ((resource.RLIMIT_NOFILE, 3), (resource.RLIMIT_NPROC, 0),
                         (resource.RLIMIT_FSIZE, 0), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(limit, (value, value))


def read_exact(size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = os.read(0, left)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def main() -> None:
    import _strptime  # noqa: F401 - datetime.strptime imports it lazily; no files later

    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    os.environ.clear()
    harden()
    _protocol.write(1, {"ready": True})
    while True:
        try:
            size = int.from_bytes(read_exact(_protocol.HEADER), "big")
            job_data = json.loads(read_exact(size))
        except EOFError:
            return
        reply = execute(job_data)
        body = _protocol.encode(reply)
        if len(body) > int(job_data["output_bytes"]) + 4096:  # the kernel refuses more
            body = _protocol.encode({"error": "violation", "line": None, "message":
                                     f"printed output and result are over the limit of "
                                     f"{job_data['output_bytes']} bytes"})
        _protocol.write(1, body)


if __name__ == "__main__":
    main()
