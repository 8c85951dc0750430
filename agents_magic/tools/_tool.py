"""What a tool is: a name, a description, a JSON schema for its arguments, and a function."""
from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import AgentsMagicError


class ToolError(AgentsMagicError):
    """A tool refused or failed a call; the message is safe to show the model and the user (in a
    notebook it shows without a traceback, as the user's mistake it is)."""


class ToolArgumentsError(ToolError):
    """The arguments do not fit the tool's schema: the model's mistake, always sent back to it
    (whatever the tool's ``on_error``) so it can correct the call."""

    @classmethod
    def of(cls, tool: str, error: Any) -> ToolArgumentsError:
        """``tool``'s arguments refused by pydantic (a ``ValidationError``), each problem named
        by where it is."""
        said = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}"
                         for e in error.errors())
        return cls(f"invalid arguments for `{tool}`: {said}")


@dataclass(frozen=True)
class Tool:
    """A function the model may call.

    ``parameters`` is the JSON schema (an ``object``) of the keyword arguments; ``function`` is
    called with the validated arguments as keywords and may be sync or async. ``in_kernel`` says
    the function is the user's own code running in the kernel (notebook functions) rather than a
    built-in tool whose limits the system enforces.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any] = field(repr=False)
    in_kernel: bool = False

    def schema(self) -> dict[str, Any]:
        """The tool as a provider's ``tools=[...]`` entry (OpenAI function-calling shape)."""
        return {"type": "function",
                "function": {"name": self.name, "description": self.description,
                             "parameters": self.parameters}}

    async def acall(self, arguments: dict[str, Any]) -> Any:
        """Call with keyword ``arguments``; sync functions run in a worker thread."""
        if inspect.iscoroutinefunction(self.function):
            return await self.function(**arguments)
        return await asyncio.to_thread(self.function, **arguments)

    def __call__(self, **arguments: Any) -> Any:
        """Call from Python; an async tool runs to completion here, also in a notebook cell
        (where an event loop is already running: then it runs in a worker thread)."""
        if not inspect.iscoroutinefunction(self.function):
            return self.function(**arguments)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.function(**arguments))
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as worker:
            return worker.submit(asyncio.run, self.function(**arguments)).result()
