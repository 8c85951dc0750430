"""The ``mock`` provider: deterministic, offline, free — for tutorials, tests and dry runs.

Scripted ``responses`` are cycled per node (a string, a JSON value, or
``{"tool_calls": [{"name": ..., "arguments": {...}}]}`` to ask for tools); without them a
reply is synthesised from the requested JSON schema (or a short text), seeded by the prompt so
the same prompt gives the same reply. Usage is counted in words, cost is $0, and events look
exactly like a real call's.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import replace
from typing import Any, Callable

from .._completion import Reply, ToolCall


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


def _scripted(reply: Any, call_index: int) -> Reply:
    if isinstance(reply, dict) and "tool_calls" in reply:
        calls = tuple(ToolCall(str(c.get("id") or f"call_{call_index}_{i}"), str(c["name"]),
                               dict(c.get("arguments") or {}))
                      for i, c in enumerate(reply["tool_calls"]))
        return Reply(str(reply.get("content") or ""), tool_calls=calls, finish_reason="tool_calls")
    return Reply(reply if isinstance(reply, str) else json.dumps(reply), finish_reason="stop")


async def complete(target: Any, messages: list[dict[str, Any]], response_format: dict[str, Any] | None,
                   call_index: int, on_token: Callable[[str], None] | None) -> Reply:
    params = dict(target.params)
    latency = float(params.get("latency_ms") or 0) / 1000
    # A streamed reply spends half its latency before the first word and spreads the rest over
    # the words, as a model does, so a live view shows the text growing.
    streamed = on_token is not None and latency > 0
    if latency:
        await asyncio.sleep(latency / 2 if streamed else latency)
    seed = _seed(messages)
    if target.responses:
        reply = _scripted(target.responses[call_index % len(target.responses)], call_index)
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
