"""The one provider layer: resolve a node's LLM settings, call the model, retry, count and cost.

Three routes share one contract (:func:`complete`):

- ``http``: OpenAI-compatible endpoints (OpenAI, Ollama's ``/v1``, any ``api_base``) through a
  lean, shared ``aiohttp`` session — LiteLLM's per-call work costs ~4.5 ms, this path ~0.2 ms;
- ``litellm``: every other provider (Anthropic, Gemini, any LiteLLM model string);
- ``mock``: the offline provider, which imports neither.

Retries (exponential backoff with jitter, ``Retry-After`` honoured) apply to rate limits, 5xx
and timeouts; auth errors, unknown models, bad requests and refused connections fail at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import weakref
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Protocol

from ..config._schema import LLMDefaults, LLMSettings
from ..errors import ProviderError
from . import _cost

OPENAI_BASE = "https://api.openai.com/v1"
OLLAMA_BASE = "http://127.0.0.1:11434"
KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "google": "GEMINI_API_KEY",
           "gemini": "GEMINI_API_KEY"}
LITELLM_PREFIX = {"google": "gemini", "ollama": "ollama_chat"}
RETRY_CAP_S = 30.0
SETTING_NAMES = ("provider", "model", "temperature", "max_tokens", "api_base", "api_key_env",
                 "timeout", "max_retries", "responses", "params")


class CallError(Exception):
    """One failed attempt, classified; ``retryable`` decides whether another is made."""

    def __init__(self, kind: str, message: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.kind, self.retryable, self.retry_after = kind, retryable, retry_after


@dataclass(frozen=True)
class Target:
    """A node's resolved LLM: where and how to call it. ``api_key`` never leaves this object."""

    provider: str
    model: str
    route: str
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float = 120.0
    max_retries: int = 3
    responses: tuple[Any, ...] = ()
    params: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    attempts: int = 1
    cached: bool = False


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


def estimate_cost(target: Target, messages: list[dict[str, str]], default_completion: int = 256) -> float:
    """A quick upper-bound guess of one call's cost (4 characters a token)."""
    prompt_tokens = sum(len(str(m.get("content", ""))) for m in messages) // 4 + 1
    return _cost.cost_usd(target.provider, target.model, prompt_tokens,
                          target.max_tokens or default_completion)


def merge(*layers: LLMSettings | dict[str, Any] | None) -> dict[str, Any]:
    """Later layers win; ``None`` values never override."""
    out: dict[str, Any] = {}
    for layer in layers:
        if layer is None:
            continue
        items = layer.items() if isinstance(layer, dict) else ((n, getattr(layer, n)) for n in SETTING_NAMES)
        out.update({k: v for k, v in items if v is not None and k in SETTING_NAMES})
    return out


def resolve(node_llm: LLMSettings | None, defaults: LLMDefaults | None, overrides: dict[str, Any],
            *, timeout: float, max_retries: int, node_id: str = "",
            fallback: dict[str, Any] | None = None) -> Target:
    """Merge session fallback ← workflow defaults ← per-provider defaults ← node ← run overrides,
    and check the result can be called."""
    overrides = _provider_from_model(overrides)
    workflow = merge(fallback, defaults, node_llm)
    first = merge(workflow, overrides)
    provider = first.get("provider")
    model = str(first.get("model") or "")
    if not provider and "/" in model:
        provider = model.split("/", 1)[0]
    per_provider = (defaults.providers or {}).get(provider or "") if defaults else None
    s = merge(fallback, defaults, per_provider, node_llm, overrides)
    if (overrides.get("provider") not in (None, workflow.get("provider")) and "api_base" not in overrides
            and not (per_provider and per_provider.api_base)):
        s.pop("api_base", None)  # the workflow's endpoint belongs to the provider being replaced
    provider = s.get("provider") or provider
    model = str(s.get("model") or "")
    if not provider and not model:
        raise ProviderError("no LLM is configured: set config.llm.provider and model "
                            "(or provider: mock to run offline)", node=node_id, kind="config")
    if provider and model.startswith(f"{provider}/"):
        model = model.split("/", 1)[1]
    if provider == "mock":
        return Target("mock", model or "mock", "mock", timeout=timeout, max_retries=0,
                      responses=tuple(s.get("responses") or ()),
                      params=tuple((s.get("params") or {}).items()))
    if not model:
        raise ProviderError(f"no model given for provider `{provider}`", node=node_id,
                            provider=str(provider), kind="config")
    api_base = s.get("api_base")
    key_env = s.get("api_key_env") or KEY_ENV.get(str(provider))
    api_key = os.environ.get(key_env) if key_env else None
    if s.get("api_key_env") and not api_key:
        raise ProviderError(f"missing API key: environment variable ${key_env} is not set",
                            node=node_id, provider=str(provider), model=model, kind="auth")
    if provider in ("openai", "ollama") or (api_base and provider in (None, "openai")):
        route = "http"
        if provider == "ollama":
            base = (api_base or OLLAMA_BASE).rstrip("/")
            api_base = base if base.endswith("/v1") else base + "/v1"
        elif not api_base:
            api_base = OPENAI_BASE
            if not api_key:
                raise ProviderError("missing API key: set $OPENAI_API_KEY (or name another "
                                    "variable with llm.api_key_env)", node=node_id,
                                    provider="openai", model=model, kind="auth")
    else:
        route = "litellm"
        if key_env and not api_key and not api_base and provider in KEY_ENV:
            raise ProviderError(f"missing API key: set ${key_env}", node=node_id,
                                provider=str(provider), model=model, kind="auth")
    return Target(
        provider=str(provider or "openai"), model=model, route=route, api_base=api_base,
        api_key=api_key, temperature=s.get("temperature"), max_tokens=s.get("max_tokens"),
        timeout=float(s.get("timeout") or timeout),
        max_retries=int(s["max_retries"] if s.get("max_retries") is not None else max_retries),
        params=tuple((s.get("params") or {}).items()),
    )


def resolve_nodes(spec: Any, overrides: dict[str, Any],
                  fallback: dict[str, Any] | None = None) -> dict[str, Target]:
    """Every LLM node's target, checked before any call; one error names all problems, each
    cause once with the nodes it affects."""
    execution = spec.config.execution
    targets: dict[str, Target] = {}
    problems: dict[tuple[str, str, str, str], list[str]] = {}
    for node in spec.nodes:
        if node.prompt is None:
            key = ("code nodes need the sandbox, which this version does not include", "config", "", "")
            problems.setdefault(key, []).append(node.id)
            continue
        try:
            target = resolve(node.llm, spec.config.llm, overrides, timeout=execution.timeout,
                             max_retries=execution.max_retries, node_id=node.id, fallback=fallback)
            if target.route == "litellm":
                check_litellm_provider(target, node.id)
            targets[node.id] = target
        except ProviderError as exc:
            problems.setdefault((exc.cause, exc.kind, exc.provider, exc.model), []).append(node.id)
    if len(problems) == 1:
        (cause, kind, provider, model), nodes = next(iter(problems.items()))
        raise ProviderError(cause, node="`, `".join(nodes), provider=provider, model=model, kind=kind)
    if problems:
        raise ProviderError("; ".join(
            f"{', '.join(f'`{n}`' for n in nodes)} ({provider or '?'}/{model or '?'}): {kind}: {cause}"
            for (cause, kind, provider, model), nodes in problems.items()), kind="config")
    return targets


def _provider_from_model(overrides: dict[str, Any]) -> dict[str, Any]:
    """``--model anthropic/claude-...`` alone also switches the provider to ``anthropic``."""
    model = overrides.get("model")
    if overrides.get("provider") or not isinstance(model, str) or "/" not in model:
        return overrides
    from ..config._validate import PROVIDERS

    prefix = model.split("/", 1)[0]
    return {**overrides, "provider": prefix} if prefix in PROVIDERS else overrides


# -- the shared HTTP client ------------------------------------------------------------------
_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def _session() -> Any:
    """One keep-alive ``aiohttp`` session per event loop.

    aiohttp costs ~0.2 ms of CPU per call where httpx costs ~0.75 ms (benchmarks/). The session
    is closed when its loop shuts down (``asyncio.run`` finalises async generators first).
    """
    import aiohttp

    loop = asyncio.get_running_loop()
    session, _closer = _sessions.get(loop, (None, None))
    if session is None or session.closed:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=None), trust_env=False)
        closer = _close_at_shutdown(session)  # kept alive beside the session until the loop ends
        _sessions[loop] = (session, closer)
        loop.create_task(closer.__anext__())
    return session


async def _close_at_shutdown(session: Any) -> Any:
    try:
        yield
    finally:
        await session.close()


def _retry_after(headers: Any) -> float | None:
    try:
        return float(headers.get("retry-after")) if headers.get("retry-after") else None
    except (TypeError, ValueError):
        return None


def _status_error(status: int, body: str, headers: Any) -> CallError:
    try:
        message = json.loads(body)["error"]["message"]
    except Exception:
        message = body[:200] or f"HTTP {status}"
    if status == 429:
        return CallError("rate_limit", f"HTTP 429: {message}", retryable=True,
                         retry_after=_retry_after(headers))
    if status >= 500:
        return CallError("server_error", f"HTTP {status}: {message}", retryable=True,
                         retry_after=_retry_after(headers))
    if status in (401, 403):
        return CallError("auth", f"HTTP {status}: {message}", retryable=False)
    if status == 404:
        return CallError("not_found", f"HTTP 404 (unknown model or endpoint?): {message}", retryable=False)
    return CallError("bad_request", f"HTTP {status}: {message}", retryable=False)


async def _http_call(target: Target, body: dict[str, Any], on_token: Callable[[str], None] | None
                     ) -> tuple[str, int, int]:
    import aiohttp

    headers = {"Content-Type": "application/json"}
    if target.api_key:
        headers["Authorization"] = f"Bearer {target.api_key}"
    url = f"{(target.api_base or OPENAI_BASE).rstrip('/')}/chat/completions"
    if on_token is not None:
        body = {**body, "stream": True, "stream_options": {"include_usage": True}}
    try:
        timeout = aiohttp.ClientTimeout(total=target.timeout)
        async with _session().post(url, data=json.dumps(body), headers=headers,
                                   timeout=timeout) as response:
            if response.status != 200:
                raise _status_error(response.status, await response.text(), response.headers)
            if on_token is None:
                return _parse_reply(await response.text())
            return await _read_stream(_lines(response.content), on_token)
    except asyncio.TimeoutError:
        raise CallError("timeout", f"no reply within {target.timeout:g}s", retryable=True) from None
    except aiohttp.ClientConnectorError as exc:
        raise CallError("connection", f"cannot connect to {url}: {exc.os_error or exc}",
                        retryable=False) from None
    except aiohttp.ClientError as exc:
        raise CallError("connection", f"{type(exc).__name__}: {exc}", retryable=True) from None


async def _lines(content: Any) -> Any:
    async for raw in content:
        yield raw.decode("utf-8", "replace").rstrip("\r\n")


def _parse_reply(text: str) -> tuple[str, int, int]:
    try:
        data = json.loads(text)
        message = data["choices"][0]["message"]
        usage = data.get("usage") or {}
        return (message.get("content") or "", int(usage.get("prompt_tokens") or 0),
                int(usage.get("completion_tokens") or 0))
    except Exception:  # any shape but the expected one is the provider's fault, worth a retry
        raise CallError("invalid_response", f"the provider sent an unreadable reply: {text[:120]!r}",
                        retryable=True) from None


async def _read_stream(lines: Any, on_token: Callable[[str], None]) -> tuple[str, int, int]:
    parts: list[str] = []
    prompt_tokens = completion_tokens = 0
    async for line in lines:
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            break
        try:
            chunk = json.loads(payload)
            deltas = [(c.get("delta") or {}).get("content") for c in chunk.get("choices") or []]
            usage = chunk.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens") or prompt_tokens)
            completion_tokens = int(usage.get("completion_tokens") or completion_tokens)
        except Exception:
            raise CallError("invalid_response", f"unreadable stream chunk {payload[:80]!r}",
                            retryable=True) from None
        for delta in deltas:
            if isinstance(delta, str) and delta:
                parts.append(delta)
                on_token(delta)
    return "".join(parts), prompt_tokens, completion_tokens


async def _litellm_call(target: Target, body: dict[str, Any], on_token: Callable[[str], None] | None
                        ) -> tuple[str, int, int]:
    litellm = import_litellm()
    prefix = LITELLM_PREFIX.get(target.provider, target.provider)
    model = target.model if "/" in target.model and target.provider not in LITELLM_PREFIX \
        else f"{prefix}/{target.model}"
    kwargs = {k: v for k, v in body.items() if k != "model"}
    kwargs.update(model=model, api_base=target.api_base, api_key=target.api_key, num_retries=0,
                  timeout=target.timeout)
    try:
        if on_token is None:
            response = await litellm.acompletion(**kwargs)
            usage = getattr(response, "usage", None)
            return (response.choices[0].message.content or "",
                    int(getattr(usage, "prompt_tokens", 0) or 0),
                    int(getattr(usage, "completion_tokens", 0) or 0))
        stream = await litellm.acompletion(**kwargs, stream=True, stream_options={"include_usage": True})
        parts: list[str] = []
        prompt_tokens = completion_tokens = 0
        async for chunk in stream:
            delta = chunk.choices[0].delta.content if chunk.choices else None
            if delta:
                parts.append(delta)
                on_token(delta)
            usage = getattr(chunk, "usage", None)
            if usage:
                prompt_tokens = int(usage.prompt_tokens or 0)
                completion_tokens = int(usage.completion_tokens or 0)
        return "".join(parts), prompt_tokens, completion_tokens
    except CallError:
        raise
    except Exception as exc:
        raise _classify_litellm(exc) from None


def _classify_litellm(exc: Exception) -> CallError:
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    message = str(exc)[:300]
    if name == "RateLimitError" or status == 429:
        return CallError("rate_limit", message, retryable=True)
    if name in ("Timeout", "APITimeoutError") or isinstance(exc, asyncio.TimeoutError):
        return CallError("timeout", message, retryable=True)
    if name == "AuthenticationError" or status in (401, 403):
        return CallError("auth", message, retryable=False)
    if name == "NotFoundError" or status == 404:
        return CallError("not_found", message, retryable=False)
    if name == "APIConnectionError":
        return CallError("connection", message, retryable=False)
    if isinstance(status, int) and status >= 500:
        return CallError("server_error", message, retryable=True)
    return CallError("bad_request", f"{name}: {message}", retryable=False)


def import_litellm() -> Any:
    """Import LiteLLM with its remote price-map fetch and telemetry off."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    litellm.drop_params = True  # a provider without JSON mode still gets the schema in the prompt
    return litellm


@lru_cache(maxsize=1)
def _litellm_providers() -> frozenset[str]:
    return frozenset(getattr(p, "value", p) for p in import_litellm().provider_list)


def check_litellm_provider(target: Target, node_id: str) -> None:
    """Fail before any call when LiteLLM does not know the provider (checked on every run)."""
    known = _litellm_providers()
    prefix = LITELLM_PREFIX.get(target.provider, target.provider)
    if prefix not in known:
        import difflib

        close = difflib.get_close_matches(prefix, sorted(known), n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        raise ProviderError(f"LiteLLM does not know the provider `{target.provider}`{hint}",
                            node=node_id, provider=target.provider, model=target.model,
                            kind="config")


async def complete(
    target: Target,
    messages: list[dict[str, str]],
    *,
    response_format: dict[str, Any] | None = None,
    on_token: Callable[[str], None] | None = None,
    on_retry: Callable[[int, float, CallError], None] | None = None,
    node_id: str = "",
    call_index: int = 0,
    backoff_s: float = 0.5,
    cache: Cache | None = None,
) -> Completion:
    """Call ``target`` with retries; raise :class:`ProviderError` when it cannot succeed.

    With a ``cache``, an identical earlier call is replayed at $0 and marked ``cached``.
    """
    body: dict[str, Any] = {"model": target.model, "messages": messages}
    if target.temperature is not None:
        body["temperature"] = target.temperature
    if target.max_tokens is not None:
        body["max_tokens"] = target.max_tokens
    if response_format is not None:
        body["response_format"] = response_format
    body.update(dict(target.params))
    key = cache_key(target, body, call_index) if cache is not None else ""
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            if on_token is not None:
                on_token(hit["text"])
            return Completion(hit["text"], hit["prompt_tokens"], hit["completion_tokens"], 0.0,
                              attempts=0, cached=True)
    result = await _complete_uncached(target, messages, body, response_format, on_token, on_retry,
                                      node_id, call_index, backoff_s)
    if cache is not None:
        cache.set(key, {"text": result.text, "prompt_tokens": result.prompt_tokens,
                        "completion_tokens": result.completion_tokens})
    return result


async def _complete_uncached(target: Target, messages: list[dict[str, str]], body: dict[str, Any],
                             response_format: dict[str, Any] | None,
                             on_token: Callable[[str], None] | None,
                             on_retry: Callable[[int, float, CallError], None] | None,
                             node_id: str, call_index: int, backoff_s: float) -> Completion:
    if target.route == "mock":
        from .providers import _mock

        text, p, c = await _mock.complete(target, messages, response_format, call_index, on_token)
        return Completion(text, p, c, 0.0)
    attempt = 0
    while True:
        attempt += 1
        try:
            if target.route == "http":  # aiohttp enforces the timeout without an extra task
                text, p, c = await _http_call(target, body, on_token)
            else:
                text, p, c = await asyncio.wait_for(_litellm_call(target, body, on_token), target.timeout)
            return Completion(text, p, c, _cost.cost_usd(target.provider, target.model, p, c), attempt)
        except asyncio.TimeoutError:
            error = CallError("timeout", f"no reply within {target.timeout:g}s", retryable=True)
        except CallError as exc:
            error = exc
        if not error.retryable or attempt > target.max_retries:
            raise ProviderError(str(error), node=node_id, provider=target.provider,
                                model=target.model, attempts=attempt, kind=error.kind)
        delay = min(RETRY_CAP_S, backoff_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        if error.retry_after is not None:
            delay = max(delay, min(error.retry_after, RETRY_CAP_S))
        if on_retry is not None:
            on_retry(attempt, delay, error)
        await asyncio.sleep(delay)
