"""Helpers for sandbox tests: what a worker may not leave behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox_marks import CANARY, SECRET

from agents_magic.sandbox import POOL


def _proc_stat(pid: str) -> tuple[int, int] | None:
    """(ppid, session id) of a live process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return (None if fields[0] == "Z" else (int(fields[1]), int(fields[3])))


def strays() -> list[int]:
    """Processes started for the sandbox that are neither idle pool workers nor gone."""
    idle = {w.pid for w in POOL.idle}
    me = os.getpid()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        stat = _proc_stat(pid)
        if stat is None or int(pid) in idle:
            continue
        ppid, session = stat
        # A worker is a session leader we started running the worker module (the test server
        # and the MLflow logging process are children of ours too).
        ours = ppid == me and session == int(pid) and _is_worker(pid)
        if ours or (session != int(pid) and session in _sessions):
            found.append(int(pid))
    return found


def _is_worker(pid: str) -> bool:
    try:
        return b"agents_magic.sandbox._worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


_sessions: set[int] = set()


@pytest.fixture(autouse=True)
def no_traces(monkeypatch: pytest.MonkeyPatch):
    """Every test: a secret in the kernel's environment, and afterwards no canary file and
    no process of the sandbox left running beyond the idle pool."""
    monkeypatch.setenv("AM_SANDBOX_SECRET", SECRET)
    CANARY.unlink(missing_ok=True)
    _sessions.update(w.pid for w in POOL.idle)
    yield
    _sessions.update(w.pid for w in POOL.idle)
    assert not CANARY.exists(), "sandboxed code wrote a file"
    assert strays() == [], "sandboxed code left a process running"
