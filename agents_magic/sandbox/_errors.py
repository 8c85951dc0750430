"""Errors of sandboxed code, raised in the kernel from a worker's plain-data reply.

::

    SandboxError             base (an AgentsMagicError: renders without a traceback)
     ├── SandboxViolation    the code tried something a code node may not do
     ├── SandboxTimeout      wall-clock or CPU time ran out; the worker was killed
     ├── SandboxMemoryError  the code went over its memory limit
     └── SandboxCodeError    the code raised an exception (or does not compile)
"""

from __future__ import annotations

from ..errors import AgentsMagicError


class SandboxError(AgentsMagicError):
    """Sandboxed code failed; ``line`` is the line in the code when known."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        where = f"line {line}: " if line else ""
        super().__init__(f"{where}{message}")
        self.line = line
        self.reason = message


class SandboxViolation(SandboxError):
    """A blocked operation: an import, a name or an attribute a code node may not use."""


class SandboxTimeout(SandboxError):
    """The code ran past its wall-clock or CPU limit."""


class SandboxMemoryError(SandboxError):
    """The code needed more memory than its limit."""


class SandboxCodeError(SandboxError):
    """The code raised an exception, or does not compile; the message names its line."""


KINDS: dict[str, type[SandboxError]] = {
    "violation": SandboxViolation, "timeout": SandboxTimeout, "memory": SandboxMemoryError,
    "code": SandboxCodeError}
