"""The tool-calling loop of an LLM node.

The model gets the node's tools' schemas; the calls it asks for in one reply run concurrently,
their results go back as ``tool`` messages, and the model is called again, until it answers
without asking for tools or the node's ``max_tool_steps`` rounds are spent. Each call of the
model goes through the runner's one call path (budget reservation, limiter, retries, cache,
usage), so a tool loop is accounted like any other node.

Caching: every model call is keyed on its whole request, tool results included, so a cached
turn is replayed only when everything the model saw is identical. Tools themselves always run.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import AgentsMagicError
from ..tools._tool import ToolArgumentsError, ToolError
from ._llm import remember
from .events import TOOL_SUMMARY_CHARS, ToolCalled, ToolStarted

if TYPE_CHECKING:
    from ..tools._registry import NodeTool
    from ._completion import ToolCall
    from ._llm import Completion
    from ._runners import LLMRunner, Step

MAX_RESULT_CHARS = 16_000  # of one tool result sent back to the model
LIMIT_NOTICE = ("You have used every tool call this step allows. Answer now with what you have; "
                "do not call tools.")


class ToolLimitError(AgentsMagicError):
    """The model still asked for tools after the node's ``max_tool_steps`` rounds."""

    kind = "tool_limit"


class ToolFailedError(AgentsMagicError):
    """A tool with ``on_error: fail`` failed."""

    kind = "tool_error"


@dataclass(frozen=True)
class _Outcome:
    call: ToolCall
    content: str
    fatal: str | None = None  # the error, when it fails the node


def result_text(value: Any) -> str:
    """What the model reads of a tool's return value: text as is, anything else as JSON."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    if len(text) > MAX_RESULT_CHARS:
        text = f"{text[:MAX_RESULT_CHARS]}… [{len(text) - MAX_RESULT_CHARS} more characters cut]"
    return text


def _summary(text: str) -> str:
    return text if len(text) <= TOOL_SUMMARY_CHARS else text[:TOOL_SUMMARY_CHARS - 1] + "…"


def assistant_message(completion: Completion) -> dict[str, Any]:
    """The model's tool-calling reply, as the next request repeats it."""
    return {"role": "assistant", "content": completion.text or None,
            "tool_calls": [{"id": c.id, "type": "function",
                            "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                           for c in completion.tool_calls]}


class ToolLoop:
    """One node execution's conversation with its tools."""

    def __init__(self, runner: LLMRunner, step: Step, tools: list[NodeTool]) -> None:
        self.runner, self.step = runner, step
        self.tools = {t.tool.name: t for t in tools}
        self.schemas = [t.tool.schema() for t in tools]
        self.rounds = 0

    @property
    def closing(self) -> dict[str, Any]:
        """Options of a call that must answer (a repair request): tools offered, none allowed."""
        return {"tools": self.schemas, "tool_choice": "none"}

    async def answer(self, messages: list[dict[str, Any]]) -> Completion:
        """Converse until the model answers; ``messages`` grows with the conversation."""
        node = self.runner.node
        while True:
            spent = self.rounds >= node.max_tool_steps
            if spent and node.on_tool_limit == "answer":
                messages.append({"role": "user", "content": LIMIT_NOTICE})
                return await self.runner._call(self.step, messages, **self.closing)
            completion = await self.runner._call(self.step, messages, tools=self.schemas)
            if not completion.tool_calls:
                return completion
            if spent:
                asked = ", ".join(f"`{c.name}`" for c in completion.tool_calls)
                raise ToolLimitError(
                    f"node `{node.id}` still asked for tools ({asked}) after max_tool_steps="
                    f"{node.max_tool_steps} rounds; raise max_tool_steps, or set "
                    "on_tool_limit: answer to take the model's answer without more tools")
            self.rounds += 1
            messages.append(assistant_message(completion))
            outcomes = await asyncio.gather(*(self._run(call) for call in completion.tool_calls))
            messages.extend({"role": "tool", "tool_call_id": o.call.id, "content": o.content}
                            for o in outcomes)
            fatal = [o for o in outcomes if o.fatal]
            if fatal:
                raise ToolFailedError("; ".join(f"tool `{o.call.name}` failed: {o.fatal}"
                                                for o in fatal))
            remember(self.step.run.cache, completion)  # the turn was acted on: replayable

    async def _run(self, call: ToolCall) -> _Outcome:
        step, run = self.step, self.step.run
        run.emit(ToolStarted(run.run_id, self.runner.node.id, call.name, call.arguments, self.rounds,
                             step.iteration, call.id, time.time(), step.item))
        started = time.perf_counter()
        bound = self.tools.get(call.name)
        error: str | None = None
        text = ""
        mistaken = True  # the model's own mistake (unknown tool, bad arguments): never fatal
        if bound is None:
            from ..config._validate import did_you_mean

            hint = did_you_mean(call.name, self.tools)
            error = (f"unknown tool `{call.name}`" + (f" ({hint})" if hint else "")
                     + f"; the tools are: {', '.join(self.tools)}")
        else:
            try:
                text = result_text(await bound.tool.acall(call.arguments))
            except ToolArgumentsError as exc:
                error = str(exc)
            except ToolError as exc:
                error, mistaken = str(exc), False
            except Exception as exc:  # the tool's own failure goes back to the model
                error, mistaken = f"{type(exc).__name__}: {exc}", False
        content = f"error: {error}" if error is not None else text
        event = ToolCalled(run.run_id, self.runner.node.id, call.name, call.arguments,
                           _summary(content), error, (time.perf_counter() - started) * 1000,
                           self.rounds, step.iteration, call.id, time.time(), step.item)
        step.tool_calls.append(event.record())
        run.emit(event)
        fatal = error if not mistaken and bound is not None and bound.on_error == "fail" else None
        return _Outcome(call, content, fatal)
