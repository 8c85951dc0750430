"""The ``mock`` provider: deterministic, offline, free — for tutorials, tests and dry runs.

Scripted ``responses`` are cycled per node (a string, a JSON value, or
``{"tool_calls": [{"name": ..., "arguments": {...}}]}`` to ask for tools); without them a
reply is synthesised from the requested JSON schema (or a short text), seeded by the prompt so
the same prompt gives the same reply. Usage is counted in words, cost is $0, and events look
exactly like a real call's.

A scripted ``{"error": KIND}`` (optionally with ``message`` and ``retry_after`` seconds) fails
one attempt as a real provider would (:data:`ERRORS`); the retry takes the next entry. Errors
belong to the reply that follows them, so ``[{error: rate_limit}, "ok"]`` is one call that
succeeds on its second attempt, and errors with no reply after them fail every attempt.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import json
from dataclasses import replace
from typing import Any, Callable

from .._completion import CallError, Reply, ToolCall

# A scripted failure's default message, and whether the retry policy gives it another attempt.
ERRORS = {
    "rate_limit": ("HTTP 429: rate limit reached (scripted)", True),
    "server_error": ("HTTP 503: service unavailable (scripted)", True),
    "timeout": ("no reply in time (scripted)", True),
    "bad_request": ("HTTP 400: bad request (scripted)", False),
    "auth": ("HTTP 401: invalid API key (scripted)", False),
}


def _seed(messages: list[dict[str, str]]) -> int:
    text = "\n".join(str(m.get("content", "")) for m in messages)
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


def synthesise(schema: dict[str, Any], seed: int, name: str = "value") -> Any:
    """A value satisfying ``schema``, chosen deterministically from ``seed``."""
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties") or {}
        if not props:
            return {}
        return {key: synthesise(sub, seed // (i + 2) + i, key) for i, (key, sub) in enumerate(props.items())}
    if kind == "array":
        return [synthesise(schema.get("items") or {"type": "string"}, seed, name)]
    if kind == "integer":
        return seed % 10
    if kind == "number":
        return round((seed % 1000) / 100, 2)
    if kind == "boolean":
        return bool(seed % 2)
    return f"mock {name} {seed % 10_000:04d}"


def _words(text: str) -> int:
    return max(1, len(text.split()))


def _is_error(entry: Any) -> bool:
    return isinstance(entry, dict) and "error" in entry


def check_responses(responses: tuple[Any, ...]) -> str | None:
    """What is wrong with the scripted errors in ``responses``, or None."""
    for i, entry in enumerate(responses):
        if _is_error(entry) and entry["error"] not in ERRORS:
            close = difflib.get_close_matches(str(entry["error"]), ERRORS, n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"use one of {', '.join(ERRORS)}"
            return f"responses[{i}]: unknown scripted error `{entry['error']}`; {hint}"
    return None


def _script(responses: tuple[Any, ...], call_index: int, attempt: int) -> Any:
    """The entry for ``attempt`` (from 1) of call ``call_index``: calls are replies with the
    errors before them; past a call's last entry its last one repeats."""
    calls: list[list[Any]] = [[]]
    for entry in responses:
        calls[-1].append(entry)
        if not _is_error(entry):
            calls.append([])
    if not calls[-1]:
        calls.pop()
    call = calls[call_index % len(calls)]
    return call[min(attempt, len(call)) - 1]


def _failure(entry: dict[str, Any]) -> CallError:
    message, retryable = ERRORS[entry["error"]]
    after = entry.get("retry_after")
    return CallError(entry["error"], str(entry.get("message") or message), retryable=retryable,
                     retry_after=float(after) if after is not None else None)


def _scripted(reply: Any, call_index: int) -> Reply:
    if isinstance(reply, dict) and "tool_calls" in reply:
        calls = tuple(ToolCall(str(c.get("id") or f"call_{call_index}_{i}"), str(c["name"]),
                               dict(c.get("arguments") or {}))
                      for i, c in enumerate(reply["tool_calls"]))
        return Reply(str(reply.get("content") or ""), tool_calls=calls, finish_reason="tool_calls")
    return Reply(reply if isinstance(reply, str) else json.dumps(reply), finish_reason="stop")


async def complete(target: Any, messages: list[dict[str, Any]], response_format: dict[str, Any] | None,
                   call_index: int, on_token: Callable[[str], None] | None, attempt: int = 1) -> Reply:
    params = dict(target.params)
    latency = float(params.get("latency_ms") or 0) / 1000
    # A streamed reply spends half its latency before the first word and spreads the rest over
    # the words, as a model does, so a live view shows the text growing.
    streamed = on_token is not None and latency > 0
    if latency:
        await asyncio.sleep(latency / 2 if streamed else latency)
    seed = _seed(messages)
    if target.responses:
        entry = _script(target.responses, call_index, attempt)
        if _is_error(entry):
            raise _failure(entry)
        reply = _scripted(entry, call_index)
    elif response_format and response_format.get("type") == "json_schema":
        reply = Reply(json.dumps(synthesise(response_format["json_schema"]["schema"], seed)),
                      finish_reason="stop")
    else:
        last = str(messages[-1].get("content") or "").strip().replace("\n", " ")
        reply = Reply(f"Mock reply to: {last[:60]}", finish_reason="stop")
    if on_token is not None and reply.text:
        words = reply.text.split(" ")
        for i, word in enumerate(words):
            on_token(word if i == 0 else " " + word)
            if streamed:
                await asyncio.sleep(latency / 2 / len(words))
    elif streamed:
        await asyncio.sleep(latency / 2)
    prompt_words = sum(_words(str(m.get("content") or "")) for m in messages)
    produced = reply.text or json.dumps([c.arguments for c in reply.tool_calls])
    return replace(reply, prompt_tokens=prompt_words, completion_tokens=_words(produced))
