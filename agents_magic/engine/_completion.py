"""What a provider call returns, and how OpenAI-shaped replies and streams are read into it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable


class CallError(Exception):
    """One failed attempt, classified; ``retryable`` decides whether another is made."""

    def __init__(self, kind: str, message: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.kind, self.retryable, self.retry_after = kind, retryable, retry_after


@dataclass(frozen=True)
class ToolCall:
    """A function the model asks to call; ``arguments`` is the decoded JSON object."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """One transport's answer, before cost and bookkeeping."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None


@dataclass(frozen=True)
class Completion:
    """A finished call: content, usage, cost, and how it was obtained.

    ``cache_key`` identifies the call when a cache was given (``remember`` stores it there).
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    attempts: int = 1
    cached: bool = False
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    cache_key: str | None = None


def unreadable(what: str, sample: Any) -> CallError:
    """Any shape but the expected one is the provider's fault, worth a retry."""
    return CallError("invalid_response", f"the provider sent {what}: {str(sample)[:120]!r}",
                     retryable=True)


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def tool_call(call_id: Any, name: Any, arguments: Any) -> ToolCall:
    """A :class:`ToolCall` from wire fields; arguments arrive as a JSON string (or a dict)."""
    if isinstance(arguments, dict):
        return ToolCall(str(call_id or ""), str(name or ""), arguments)
    try:
        decoded = json.loads(arguments) if arguments and str(arguments).strip() else {}
    except ValueError:
        raise unreadable("tool-call arguments that are not JSON", arguments) from None
    if not isinstance(decoded, dict):
        raise unreadable("tool-call arguments that are not an object", arguments)
    return ToolCall(str(call_id or ""), str(name or ""), decoded)


def tool_calls_of(message: Any) -> tuple[ToolCall, ...]:
    """The tool calls of a (non-streamed) assistant message, dict or object."""
    calls = _get(message, "tool_calls") or ()
    return tuple(tool_call(_get(c, "id"), _get(_get(c, "function"), "name"),
                           _get(_get(c, "function"), "arguments")) for c in calls)


def parse_reply(text: str) -> Reply:
    """Read a non-streamed chat-completion body."""
    try:
        data = json.loads(text)
        choice = data["choices"][0]
        message = choice["message"]
        content = message.get("content") or ""
        usage = data.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        completion_tokens = int(usage.get("completion_tokens") or 0)
    except Exception:
        raise unreadable("an unreadable reply", text) from None
    return Reply(content if isinstance(content, str) else json.dumps(content), prompt_tokens,
                 completion_tokens, tool_calls_of(message), choice.get("finish_reason"))


class Stream:
    """Accumulates a streamed reply: text, index-keyed tool-call fragments, finish and usage."""

    __slots__ = ("on_token", "parts", "calls", "finish_reason", "done", "prompt_tokens",
                 "completion_tokens")

    def __init__(self, on_token: Callable[[str], None]):
        self.on_token = on_token
        self.parts: list[str] = []
        self.calls: dict[int, list[Any]] = {}  # index -> [id, name, argument fragments]
        self.finish_reason: str | None = None
        self.done = False
        self.prompt_tokens = self.completion_tokens = 0

    def add(self, chunk: Any) -> None:
        """One chunk, as a decoded dict or a LiteLLM object."""
        usage = _get(chunk, "usage")
        if usage:
            self.prompt_tokens = int(_get(usage, "prompt_tokens") or self.prompt_tokens)
            self.completion_tokens = int(_get(usage, "completion_tokens") or self.completion_tokens)
        for choice in _get(chunk, "choices") or ():
            delta = _get(choice, "delta")
            if delta:
                text = _get(delta, "content")
                if isinstance(text, str) and text:
                    self.parts.append(text)
                    self.on_token(text)
                for fragment in _get(delta, "tool_calls") or ():
                    self._add_call(fragment)
            finish = _get(choice, "finish_reason")
            if finish:
                self.finish_reason = finish

    def _add_call(self, fragment: Any) -> None:
        index = _get(fragment, "index")
        call = self.calls.setdefault(index if index is not None else len(self.calls), [None, "", []])
        call[0] = call[0] or _get(fragment, "id")
        function = _get(fragment, "function")
        if function:
            call[1] += _get(function, "name") or ""
            call[2].append(_get(function, "arguments") or "")

    def reply(self) -> Reply:
        """The whole reply; a stream that stopped before its end is a retryable error."""
        if self.finish_reason is None and not self.done:
            raise CallError("invalid_response", "the stream ended before the reply was complete "
                            "(no finish reason, no [DONE])", retryable=True)
        calls = tuple(tool_call(cid, name, "".join(args))
                      for _, (cid, name, args) in sorted(self.calls.items()))
        return Reply("".join(self.parts), self.prompt_tokens, self.completion_tokens, calls,
                     self.finish_reason or ("tool_calls" if calls else "stop"))
