"""The LiteLLM route: Anthropic, Gemini and any LiteLLM model string.

Failures are classified by LiteLLM's exception types. Timeouts are connect + idle read, as on
the lean route: LiteLLM gets per-operation ``httpx`` timeouts, and a stream is only given up
when no chunk arrives for ``timeout`` seconds. LiteLLM's own HTTP clients honour the proxy
environment variables (``NO_PROXY`` included).
"""

from __future__ import annotations

import asyncio
import os
from functools import lru_cache
from typing import Any, Callable

from .._completion import CallError, Reply, Stream, tool_calls_of, unreadable
from .._retry import retry_after
from .._targets import LITELLM_PREFIX
from ...errors import ProviderError


def import_litellm() -> Any:
    """Import LiteLLM with its remote price-map fetch and telemetry off."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    litellm.drop_params = True  # a provider without JSON mode still gets the schema in the prompt
    _tolerate_missing_service_tier()
    return litellm


@lru_cache(maxsize=1)
def _tolerate_missing_service_tier() -> None:
    """LiteLLM's Groq adapter reads ``service_tier`` off every reply and fails on an ordinary
    OpenAI-shaped one without it; such a reply is given ``"auto"``, the value the adapter maps
    a missing tier to, before the adapter reads it."""
    try:
        from litellm.llms.groq.chat.transformation import GroqChatConfig
    except ImportError:
        return
    original = GroqChatConfig.transform_response

    def transform_response(self: Any, *args: Any, **kwargs: Any) -> Any:
        if "raw_response" in kwargs:
            kwargs["raw_response"] = _with_service_tier(kwargs["raw_response"])
        elif len(args) > 1:
            args = (args[0], _with_service_tier(args[1]), *args[2:])
        return original(self, *args, **kwargs)

    GroqChatConfig.transform_response = transform_response


def _with_service_tier(raw: Any) -> Any:
    import httpx

    try:
        data = raw.json()
    except Exception:
        return raw
    if not isinstance(data, dict) or "service_tier" in data:
        return raw
    headers = {k: v for k, v in raw.headers.items()
               if k.lower() not in ("content-length", "content-encoding")}
    return httpx.Response(raw.status_code, headers=headers, json={**data, "service_tier": "auto"},
                          request=raw.request)


@lru_cache(maxsize=1)
def _providers() -> frozenset[str]:
    return frozenset(getattr(p, "value", p) for p in import_litellm().provider_list)


def check_provider(target: Any, node_id: str) -> None:
    """Fail before any call when LiteLLM does not know the provider (checked on every run)."""
    known = _providers()
    prefix = LITELLM_PREFIX.get(target.provider, target.provider)
    if prefix not in known:
        import difflib

        close = difflib.get_close_matches(prefix, sorted(known), n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        raise ProviderError(f"LiteLLM does not know the provider `{target.provider}`{hint}",
                            node=node_id, provider=target.provider, model=target.model,
                            kind="config")


async def call(target: Any, body: dict[str, Any], on_token: Callable[[str], None] | None) -> Reply:
    """One ``litellm.acompletion`` (streamed when ``on_token`` is given)."""
    import httpx

    litellm = import_litellm()
    prefix = LITELLM_PREFIX.get(target.provider, target.provider)
    kwargs = {k: v for k, v in body.items() if k != "model"}
    kwargs.update(model=f"{prefix}/{target.model}", api_base=target.api_base,
                  api_key=target.api_key, num_retries=0, timeout=httpx.Timeout(target.timeout))
    # a whole non-streamed reply, or a stream's headers: connecting plus one silent read
    first = 2 * target.timeout
    try:
        if on_token is None:
            response = await asyncio.wait_for(litellm.acompletion(**kwargs), first)
            return _reply(response)
        chunks = await asyncio.wait_for(litellm.acompletion(
            **kwargs, stream=True, stream_options={"include_usage": True}), first)
        stream = Stream(on_token)
        iterator = chunks.__aiter__()
        while True:
            try:
                chunk = await asyncio.wait_for(iterator.__anext__(), target.timeout)
            except StopAsyncIteration:
                break
            stream.add(chunk)
        return stream.reply()
    except CallError:
        raise
    except asyncio.TimeoutError:
        raise CallError("timeout", f"the provider was silent for {target.timeout:g}s",
                        retryable=True) from None
    except Exception as exc:
        raise classify(exc) from None


def _reply(response: Any) -> Reply:
    try:
        choice = response.choices[0]
        message = choice.message
        usage = getattr(response, "usage", None)
        return Reply(message.content or "", int(getattr(usage, "prompt_tokens", 0) or 0),
                     int(getattr(usage, "completion_tokens", 0) or 0), tool_calls_of(message),
                     getattr(choice, "finish_reason", None))
    except (AttributeError, IndexError, TypeError):
        raise unreadable("an unreadable reply", response) from None


def _headers(exc: Exception) -> Any:
    headers = getattr(exc, "litellm_response_headers", None) or getattr(exc, "headers", None)
    if headers:
        return headers
    return getattr(getattr(exc, "response", None), "headers", None)


def _network_failure(exc: BaseException) -> str | None:
    """``"refused"`` (refused or unresolvable: final), ``"transient"`` (reset, dropped) or None,
    from the exception's chain of causes."""
    import aiohttp
    import httpx

    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, (ConnectionRefusedError, httpx.ConnectError, aiohttp.ClientConnectorError)):
            return "refused"
        if isinstance(cause, (ConnectionError, httpx.TransportError, aiohttp.ClientError)):
            return "transient"
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def classify(exc: Exception) -> CallError:
    """A LiteLLM exception as a :class:`CallError`, by its type."""
    import litellm
    from litellm.exceptions import MidStreamFallbackError

    message = str(exc)[:300]
    original = getattr(exc, "original_exception", None)
    if isinstance(exc, MidStreamFallbackError) and isinstance(original, Exception):
        error = classify(original)
        if error.kind == "connection" and _network_failure(original) is None:
            # the stream stopped early without a network fault: an incomplete reply
            return CallError("invalid_response", f"the stream broke off: {message}", retryable=True)
        return error
    network = _network_failure(exc)
    if network == "refused":
        return CallError("connection", message, retryable=False)
    if isinstance(exc, litellm.RateLimitError):
        return CallError("rate_limit", message, retryable=True, retry_after=retry_after(_headers(exc)))
    if isinstance(exc, litellm.Timeout):
        return CallError("timeout", message, retryable=True)
    if isinstance(exc, (litellm.AuthenticationError, litellm.PermissionDeniedError)):
        return CallError("auth", message, retryable=False)
    if isinstance(exc, litellm.NotFoundError):
        return CallError("not_found", message, retryable=False)
    if isinstance(exc, (litellm.InternalServerError, litellm.ServiceUnavailableError,
                        litellm.BadGatewayError)):
        return CallError("server_error", message, retryable=True, retry_after=retry_after(_headers(exc)))
    if isinstance(exc, litellm.APIConnectionError):
        return CallError("connection", message, retryable=network == "transient")
    if isinstance(exc, (litellm.BadRequestError, litellm.UnprocessableEntityError)):
        return CallError("bad_request", message, retryable=False)
    status = getattr(exc, "status_code", None)
    if isinstance(exc, litellm.APIError) and isinstance(status, int) and status >= 500:
        return CallError("server_error", message, retryable=True, retry_after=retry_after(_headers(exc)))
    return CallError("bad_request", f"{type(exc).__name__}: {message}", retryable=False)
