"""Warm worker processes and :func:`run_code`, the one door into the sandbox.

A worker is reused only after a clean success; after a timeout, a memory error, a violation,
an exception in the code, a crash or :data:`MAX_RUNS` jobs it is killed (with its whole
process group) and replaced, so nothing one execution leaves behind reaches the next.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from . import _protocol
from ._errors import KINDS, SandboxError, SandboxTimeout
from ._limits import limits

MAX_RUNS = 200  # jobs per worker before it is replaced anyway
START_TIMEOUT_S = 30.0
REPLY_MARGIN = 65536  # bytes a reply may carry beyond the output limit (error text, framing)
CANCEL_POLL_S = 0.02  # how often a waiting call looks at its cancel event
# All a worker gets from the kernel's environment: nothing secret, nothing that changes Python.
WORKER_ENV = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"}
# The worker runs the very agents_magic the kernel imported (a source checkout too), isolated
# (-I: no environment, no user site) with only that package's directory added to its path.
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
WORKER_MAIN = ("import sys; sys.path.insert(0, sys.argv[1]); "
               "from agents_magic.sandbox._worker import main; main()")


class Cancelled(Exception):
    """The caller stopped waiting for the job (its run was cancelled)."""


class Worker:
    """One worker process in its own session and empty directory."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="am-sandbox-")
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", WORKER_MAIN, PACKAGE_ROOT], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=self.dir,
            env={**WORKER_ENV, "HOME": self.dir, "TMPDIR": self.dir}, close_fds=True,
            start_new_session=True)
        self.runs = 0
        try:
            self.receive(time.monotonic() + START_TIMEOUT_S)
        except (TimeoutError, EOFError, OSError, ValueError):
            status = self.kill()
            raise SandboxError(f"the sandbox worker could not start (exit status {status}); it needs "
                               "RestrictedPython: pip install agents_magic") from None
        except BaseException:
            self.kill()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def call(self, job: dict[str, Any], timeout_s: float,
             cancel: threading.Event | None = None) -> dict[str, Any]:
        """Send ``job`` and wait for the reply; ``TimeoutError`` or ``EOFError`` if none comes,
        :class:`Cancelled` once ``cancel`` is set."""
        self.runs += 1
        assert self.proc.stdin is not None
        _protocol.write(self.proc.stdin.fileno(), _protocol.encode(job))
        return self.receive(time.monotonic() + timeout_s, int(job["output_bytes"]) + REPLY_MARGIN,
                            cancel)

    def receive(self, deadline: float, cap: int = REPLY_MARGIN,
                cancel: threading.Event | None = None) -> dict[str, Any]:
        """The next reply, read by the deadline; one longer than ``cap`` bytes is refused."""
        size = int.from_bytes(self._read(_protocol.HEADER, deadline, cancel), "big")
        if size > cap:
            raise EOFError("worker reply too large")
        return json.loads(self._read(size, deadline, cancel))

    def _read(self, size: int, deadline: float, cancel: threading.Event | None = None) -> bytes:
        assert self.proc.stdout is not None
        fd, chunks, left = self.proc.stdout.fileno(), [], size
        while left:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise TimeoutError
            if cancel is not None and cancel.is_set():
                raise Cancelled
            if not select.select([fd], [], [], min(wait, CANCEL_POLL_S))[0]:
                continue
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def kill(self) -> int | None:
        """Kill the worker's process group; its exit status (negative: the signal)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        code = self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream:
                stream.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return code


class Pool:
    """Idle warm workers, handed out one job at a time, thread-safe."""

    def __init__(self, size: int | None = None) -> None:
        self.size = size or max(2, os.cpu_count() or 2)
        self.idle: list[Worker] = []
        self.lock = threading.Lock()
        self.started = 0  # workers started over the pool's life (tests and benchmarks read it)

    def take(self) -> Worker:
        with self.lock:
            if self.idle:
                return self.idle.pop()
            self.started += 1
        return Worker()

    def give_back(self, worker: Worker) -> None:
        with self.lock:
            if worker.runs < MAX_RUNS and len(self.idle) < self.size:
                self.idle.append(worker)
                return
        worker.kill()

    def close(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for worker in idle:
            worker.kill()


POOL = Pool()
atexit.register(POOL.close)


def run_code(code: str, inputs: Any = None, timeout_s: float | None = None,
             memory_mb: int | None = None, *, preset: str | None = None, cpu_s: float | None = None,
             output_bytes: int | None = None, cancel: threading.Event | None = None,
             memory: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run ``code`` in a sandboxed worker with ``inputs`` bound to a dict named ``inputs``.

    Returns ``{"result": <the code's `result`, plain data>, "stdout": <printed text>}``; raises
    a :class:`SandboxError` subclass when the code is blocked, too slow, too big or fails.
    Setting ``cancel`` (from another thread) kills the worker within a few milliseconds.

    With ``memory`` (memory entries by key, plain data) the code also gets a ``memory`` object
    (``get``/``set``/``append``/``add``), and the reply has ``"memory": {"reads": [[key, found]],
    "writes": [[mode, key, value, keep]]}``: the writes are for the caller to store.
    """
    lim = limits(preset, timeout_s=timeout_s, memory_mb=memory_mb, cpu_s=cpu_s, output_bytes=output_bytes)
    try:
        job = {"code": code, "inputs": json.loads(json.dumps({} if inputs is None else inputs)),
               "cpu_s": lim.cpu_s, "memory_mb": lim.memory_mb, "output_bytes": lim.output_bytes,
               "seed": secrets.randbits(64)}
        if memory is not None:
            job["memory"] = json.loads(json.dumps(dict(memory)))
    except (TypeError, ValueError) as exc:
        raise SandboxError(f"code inputs and memory must be plain data (JSON-like): {exc}") from None
    worker = POOL.take()
    try:
        reply = worker.call(job, lim.timeout_s, cancel)
    except Cancelled:
        worker.kill()
        raise SandboxError("the code was stopped: its run was cancelled") from None
    except TimeoutError:
        worker.kill()
        raise SandboxTimeout(f"the code ran longer than its {lim.timeout_s:g} s time limit and "
                             "was stopped") from None
    except (EOFError, OSError, ValueError):
        status = worker.kill()
        if status in (-signal.SIGPROF, -signal.SIGXCPU):
            raise SandboxTimeout(f"the code used more than its {lim.cpu_s:g} s of CPU time and "
                                 "was stopped (a CPU limit, apart from the wall-clock timeout: "
                                 "raise it with `cpu` or a bigger `preset`)") from None
        if status == -signal.SIGXFSZ:
            raise KINDS["violation"]("writing files is not allowed in a code node") from None
        raise SandboxError(f"the sandbox worker stopped unexpectedly (exit status {status})") from None
    except BaseException:
        worker.kill()
        raise
    if "error" in reply:
        worker.kill()
        kind = KINDS.get(str(reply["error"]), SandboxError)
        line = reply.get("line")
        raise kind(str(reply.get("message")), line=line if isinstance(line, int) else None)
    POOL.give_back(worker)
    done = {"result": reply.get("result"), "stdout": str(reply.get("stdout") or "")}
    if memory is not None:
        done["memory"] = _memory_reply(reply.get("memory"))
    return done


def _memory_reply(report: Any) -> dict[str, Any]:
    """The worker's memory report, checked: reads ``[(key, found)]``, writes
    ``[(mode, key, value, keep)]``."""
    report = report if isinstance(report, dict) else {}
    reads = [(str(k), bool(found)) for k, found in report.get("reads") or []]
    writes = []
    for mode, key, value, keep in report.get("writes") or []:
        if mode not in ("set", "append", "add") or not isinstance(key, str):
            raise SandboxError(f"the sandbox worker sent back an invalid memory write {mode!r}")
        writes.append((mode, key, value, keep if isinstance(keep, int) else None))
    return {"reads": reads, "writes": writes}
