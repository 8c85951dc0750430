"""The lean route: OpenAI-compatible endpoints through one shared keep-alive ``aiohttp`` session.

aiohttp costs ~0.2 ms of CPU per call where LiteLLM costs ~4.5 ms (benchmarks/). Timeouts are
connect + idle read: a reply may take as long as it likes while bytes keep coming, but silence
for ``timeout`` seconds (before the reply starts or between stream chunks) is a timeout.
Proxy variables (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``) are honoured;
they are looked up here rather than by ``trust_env``, which costs two thread hops per request.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
import weakref
from functools import lru_cache
from typing import Any, Callable
from urllib.parse import urlsplit

from .._completion import CallError, Reply, Stream, parse_reply, unreadable
from .._loop import close_at_loop_end
from .._retry import retry_after

_PROXY_VARS = ("https_proxy", "http_proxy", "all_proxy", "no_proxy", "HTTPS_PROXY", "HTTP_PROXY",
               "ALL_PROXY", "NO_PROXY")
_ENCODED_VARS = tuple(map(getattr(os.environ, "encodekey", str), _PROXY_VARS))
_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def _session() -> Any:
    """One keep-alive session per event loop, closed when its loop shuts down (``asyncio.run``
    finalises async generators first)."""
    import aiohttp

    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        session = _sessions[loop] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=None), trust_env=False)
        close_at_loop_end(session.close)
    return session


@lru_cache(maxsize=64)
def _timeout(seconds: float) -> Any:
    import aiohttp

    return aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url`` (None when unset or bypassed by NO_PROXY)."""
    return _proxy(url, _proxy_env())


def _proxy_env() -> tuple[Any, ...]:
    """The proxy variables' values, read through ``os.environ``'s own store when it has one
    (0.3 µs where eight ``os.environ.get`` cost 12 µs)."""
    data = getattr(os.environ, "_data", None)
    if isinstance(data, dict):
        return tuple(map(data.get, _ENCODED_VARS))
    return tuple(os.environ.get(name) for name in _PROXY_VARS)


@lru_cache(maxsize=256)
def _proxy(url: str, _env: tuple[str | None, ...]) -> str | None:
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    if not proxies or urllib.request.proxy_bypass_environment(parts.netloc, proxies):
        return None
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    return proxy if not proxy or "://" in proxy else f"http://{proxy}"


def status_error(status: int, body: str, headers: Any) -> CallError:
    """Classify an HTTP error status."""
    try:
        message = json.loads(body)["error"]["message"]
    except Exception:
        message = body[:200] or f"HTTP {status}"
    if status == 429:
        return CallError("rate_limit", f"HTTP 429: {message}", retryable=True,
                         retry_after=retry_after(headers))
    if status >= 500:
        return CallError("server_error", f"HTTP {status}: {message}", retryable=True,
                         retry_after=retry_after(headers))
    if status in (401, 403):
        return CallError("auth", f"HTTP {status}: {message}", retryable=False)
    if status == 404:
        return CallError("not_found", f"HTTP 404 (unknown model or endpoint?): {message}", retryable=False)
    return CallError("bad_request", f"HTTP {status}: {message}", retryable=False)


async def call(target: Any, body: dict[str, Any], on_token: Callable[[str], None] | None) -> Reply:
    """POST ``body`` to ``{api_base}/chat/completions``; stream when ``on_token`` is given."""
    import aiohttp

    headers = {"Content-Type": "application/json"}
    if target.api_key:
        headers["Authorization"] = f"Bearer {target.api_key}"
    url = f"{target.api_base.rstrip('/')}/chat/completions"
    if on_token is not None:
        body = {**body, "stream": True, "stream_options": {"include_usage": True}}
    try:
        async with _session().post(url, data=json.dumps(body), headers=headers,
                                   timeout=_timeout(target.timeout), proxy=proxy_for(url)) as response:
            if response.status != 200:
                raise status_error(response.status, await response.text(), response.headers)
            if on_token is None:
                return parse_reply(await response.text())
            return await _read_stream(response.content, on_token)
    except aiohttp.ConnectionTimeoutError:
        raise CallError("timeout", f"could not connect to {url} within {target.timeout:g}s",
                        retryable=True) from None
    except asyncio.TimeoutError:
        raise CallError("timeout", f"the provider was silent for {target.timeout:g}s",
                        retryable=True) from None
    except aiohttp.ClientConnectorError as exc:  # refused, unknown host: retrying will not help
        raise CallError("connection", f"cannot connect to {url}: {exc.os_error or exc}",
                        retryable=False) from None
    except aiohttp.InvalidURL as exc:
        raise CallError("config", f"invalid URL {exc}", retryable=False) from None
    except aiohttp.ClientError as exc:  # dropped or reset mid-call: transient
        raise CallError("connection", f"{type(exc).__name__}: {exc}", retryable=True) from None


async def _read_stream(content: Any, on_token: Callable[[str], None]) -> Reply:
    stream = Stream(on_token)
    async for raw in content:
        line = raw.decode("utf-8", "replace").strip()
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            stream.done = True
            break
        try:
            chunk = json.loads(payload)
        except ValueError:
            raise unreadable("an unreadable stream chunk", payload) from None
        stream.add(chunk)
    return stream.reply()
