"""Retry policy: which failures get another attempt, and how long to wait before it.

Rate limits, 5xx, timeouts, unreadable or cut-short replies and dropped connections are retried
with exponential backoff and jitter (``Retry-After`` honoured); everything else fails at once.
The endpoint's slot is held only while a request is on the wire, never during the wait.
"""

from __future__ import annotations

import asyncio
import random
import time
from email.utils import parsedate_to_datetime
from typing import Any, Awaitable, Callable

from ..errors import ProviderError
from ._completion import CallError, Reply

RETRY_CAP_S = 30.0


def retry_after(headers: Any) -> float | None:
    """Seconds asked by ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    if not headers:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, AttributeError):
        return None


def backoff(attempt: int, backoff_s: float, error: CallError) -> float:
    """Exponential backoff with jitter, at least what the provider asked for, capped."""
    delay = min(RETRY_CAP_S, backoff_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
    if error.retry_after is not None:
        delay = max(delay, min(error.retry_after, RETRY_CAP_S))
    return delay


async def with_retries(target: Any, send: Callable[[], Awaitable[Reply]], limiter: Any, *,
                       tokens: int, ceiling: int | None, backoff_s: float,
                       on_retry: Callable[[int, float, CallError], None] | None,
                       node_id: str) -> tuple[Reply, int]:
    """Send through ``limiter`` until a reply comes or the failure is final; (reply, attempts)."""
    attempt = 0
    while True:
        attempt += 1
        await limiter.acquire(tokens, ceiling)
        try:
            reply = await send()
        except CallError as exc:
            error = exc
        except asyncio.TimeoutError:
            error = CallError("timeout", f"no reply within {target.timeout:g}s", retryable=True)
        else:
            limiter.succeeded()
            return reply, attempt
        finally:
            limiter.release()
        if error.kind == "rate_limit":
            limiter.rate_limited(error.retry_after)
        if not error.retryable or attempt > target.max_retries:
            raise ProviderError(str(error), node=node_id, provider=target.provider,
                                model=target.model, attempts=attempt, kind=error.kind)
        delay = backoff(attempt, backoff_s, error)
        if on_retry is not None:
            on_retry(attempt, delay, error)
        await asyncio.sleep(delay)
