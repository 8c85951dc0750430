"""The provider layer's one door: resolve a node's LLM, call it, retry, count and cost.

Three routes share one contract (:func:`complete`):

- ``http``: OpenAI-compatible endpoints (OpenAI, Ollama's ``/v1``, any ``api_base``) through a
  lean, shared ``aiohttp`` session (``providers/_http``);
- ``litellm``: every other provider (``providers/_litellm``);
- ``mock``: the offline provider, which imports neither (``providers/_mock``).

Calls to a real endpoint pass its process-wide limiter (``_limiter``) and the retry policy
(``_retry``). A cache is read here but written only by :func:`remember`, once the caller has
accepted the reply, so a cache entry is always an answer that passed.
"""

from __future__ import annotations

import hashlib
import json
from functools import partial
from typing import Any, Callable, Protocol

from . import _cost
from ._completion import CallError, Completion, ToolCall
from ._limiter import limiter_for, limiters
from ._retry import RETRY_CAP_S, with_retries
from ._targets import (KEY_ENV, LITELLM_PREFIX, OLLAMA_BASE, OPENAI_BASE, Target, merge, resolve,
                       resolve_nodes)
from .providers._http import call as _http_call
from .providers._litellm import check_provider as check_litellm_provider, import_litellm

__all__ = ["CallError", "Completion", "ToolCall", "Target", "Cache", "complete", "remember",
           "cache_key", "estimate_cost", "estimate_prompt_tokens", "resolve", "resolve_nodes",
           "merge", "import_litellm", "check_litellm_provider", "limiter_for", "limiters", "KEY_ENV", "LITELLM_PREFIX",
           "OLLAMA_BASE", "OPENAI_BASE", "RETRY_CAP_S"]

DEFAULT_COMPLETION_TOKENS = 256


class Cache(Protocol):
    """Where identical calls are remembered (``agents_magic.store`` provides a disk cache)."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def set(self, key: str, value: dict[str, Any]) -> None: ...


def cache_key(target: Target, body: dict[str, Any], call_index: int) -> str:
    """Identity of a call: provider, model, endpoint, messages and every parameter."""
    scripted = call_index if target.route == "mock" and target.responses else None
    ident = {"provider": target.provider, "model": target.model, "api_base": target.api_base,
             "body": body, "scripted": scripted, "responses": list(target.responses)}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


def estimate_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """A quick guess at a request's prompt tokens: 4 characters a token."""
    return sum(len(str(m.get("content") or "")) + len(str(m.get("tool_calls") or ""))
               for m in messages) // 4 + 1


def estimate_cost(target: Target, messages: list[dict[str, Any]],
                  default_completion: int = DEFAULT_COMPLETION_TOKENS) -> float:
    """A quick upper-bound guess of one call's cost (4 characters a token)."""
    return _cost.cost_usd(target.provider, target.model, estimate_prompt_tokens(messages),
                          target.max_tokens or default_completion)


def _body(target: Target, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
          tool_choice: Any, response_format: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": target.model, "messages": messages}
    if target.temperature is not None:
        body["temperature"] = target.temperature
    if target.max_tokens is not None:
        body["max_tokens"] = target.max_tokens
    if tools:
        body["tools"] = tools
        if tool_choice is not None:
            body["tool_choice"] = tool_choice
    if response_format is not None:
        body["response_format"] = response_format
    body.update(dict(target.params))
    return body


def _replay(hit: dict[str, Any], key: str, on_token: Callable[[str], None] | None) -> Completion:
    if on_token is not None and hit["text"]:
        on_token(hit["text"])
    calls = tuple(ToolCall(c["id"], c["name"], c["arguments"]) for c in hit.get("tool_calls") or ())
    return Completion(hit["text"], hit["prompt_tokens"], hit["completion_tokens"], 0.0, attempts=0,
                      cached=True, tool_calls=calls, finish_reason=hit.get("finish_reason"),
                      cache_key=key)


async def complete(
    target: Target,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: Any = None,
    response_format: dict[str, Any] | None = None,
    on_token: Callable[[str], None] | None = None,
    on_retry: Callable[[int, float, CallError], None] | None = None,
    node_id: str = "",
    call_index: int = 0,
    backoff_s: float = 0.5,
    cache: Cache | None = None,
    max_concurrency: int | None = None,
) -> Completion:
    """Call ``target`` with retries; raise :class:`ProviderError` when it cannot succeed.

    ``tools`` are OpenAI function schemas; ``messages`` may hold assistant ``tool_calls`` and
    ``tool`` replies. With a ``cache``, an identical earlier call that was remembered is replayed
    at $0 and marked ``cached`` (without taking a slot). ``max_concurrency`` sets the ceiling of
    the endpoint's shared limiter.
    """
    body = _body(target, messages, tools, tool_choice, response_format)
    key = cache_key(target, body, call_index) if cache is not None else None
    if key is not None:
        hit = cache.get(key)
        if hit is not None:
            return _replay(hit, key, on_token)
    if target.route == "mock":
        from .providers import _mock

        attempts = iter(range(1, target.max_retries + 2))
        reply, tries = await with_retries(
            target, lambda: _mock.complete(target, messages, response_format, call_index, on_token,
                                           attempt=next(attempts)),
            limiter_for(target), tokens=0, ceiling=max_concurrency, backoff_s=backoff_s,
            on_retry=on_retry, node_id=node_id)
        return Completion(reply.text, reply.prompt_tokens, reply.completion_tokens, 0.0, tries,
                          tool_calls=reply.tool_calls, finish_reason=reply.finish_reason,
                          cache_key=key)
    if target.route == "http":
        send = partial(_http_call, target, body, on_token)
    else:
        from .providers import _litellm

        send = partial(_litellm.call, target, body, on_token)
    tokens = estimate_prompt_tokens(messages) + (target.max_tokens or DEFAULT_COMPLETION_TOKENS) \
        if target.tpm else 0
    reply, attempts = await with_retries(target, send, limiter_for(target), tokens=tokens,
                                         ceiling=max_concurrency, backoff_s=backoff_s,
                                         on_retry=on_retry, node_id=node_id)
    cost = _cost.cost_usd(target.provider, target.model, reply.prompt_tokens, reply.completion_tokens)
    return Completion(reply.text, reply.prompt_tokens, reply.completion_tokens, cost, attempts,
                      tool_calls=reply.tool_calls, finish_reason=reply.finish_reason, cache_key=key)


def remember(cache: Cache | None, completion: Completion, key: str | None = None) -> None:
    """Store an accepted reply in ``cache`` under ``key`` (default: the call's own key).

    Call it once the reply passed every check (e.g. after a repair, under the first call's key);
    replies replayed from the cache, and calls made without a cache, are not stored again.
    """
    key = key or completion.cache_key
    if cache is None or key is None or (completion.cached and key == completion.cache_key):
        return
    cache.set(key, {"text": completion.text, "prompt_tokens": completion.prompt_tokens,
                    "completion_tokens": completion.completion_tokens,
                    "finish_reason": completion.finish_reason,
                    "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments}
                                   for c in completion.tool_calls]})
