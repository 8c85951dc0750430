"""One limiter per provider endpoint, shared by every run, thread and event loop in the process.

A :class:`Limiter` bounds the requests in flight to an endpoint (provider, api_base, key). Its
ceiling is the latest ``max_concurrency`` asked; a 429 cuts the limit to 80 % (floor 1, once
per cool-down) and pauses new requests for the ``Retry-After`` asked; after the cool-down the
limit grows back by one for every ``limit`` successes. Other failures never shrink it.

Rates: with ``rpm``/``tpm`` set, requests are spaced to stay at :data:`RATE_SHARE` of them
(so network jitter cannot push a burst over the provider's window). A 429, and the end of a
``Retry-After`` pause, also teach the limiter a rate: :data:`RATE_SHARE` of the replies that
succeeded in the second before (when at least :data:`MIN_SAMPLE` did), raised by one request/s
for every ``rate`` successes once the cool-down is over, and forgotten a minute after the last
429.

State sits behind a thread lock and each waiter is a future of its own loop, woken thread-safely,
so one limiter serves the engine's loop thread and any ``asyncio.run`` loop at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections import deque
from typing import Any

DEFAULT_CONCURRENCY = 16
CUT = 0.8
COOL_DOWN_S = 5.0
PAUSE_CAP_S = 30.0
RATE_SHARE = 0.95
WINDOW_S = 1.0
MIN_SAMPLE = 5  # successes in a window below which no rate is inferred
RATE_MEMORY_S = 60.0  # a learned rate is forgotten this long after the last 429

_limiters: dict[tuple[str, str, str], Limiter] = {}
_registry_lock = threading.Lock()


class _Waiter:
    __slots__ = ("loop", "future", "granted")

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop, self.future, self.granted = loop, loop.create_future(), False


class Limiter:
    """Bounded, adaptive access to one endpoint (see the module docstring)."""

    def __init__(self, key: tuple[str, str, str], ceiling: int = DEFAULT_CONCURRENCY):
        self.key = key
        self.ceiling = self.limit = ceiling
        self.in_flight = 0
        self.rpm: int | None = None
        self.tpm: int | None = None
        self.waited_total = self.throttled_total = self.rate_limited_total = 0
        self.last_429_at: float | None = None
        self._lock = threading.Lock()
        self._waiters: deque[_Waiter] = deque()
        self._paused_until = self._cool_until = self._last_429 = 0.0
        self._next_request = self._next_tokens = 0.0
        self._successes = self._rate_successes = 0
        self.rate: float | None = None  # requests/s learned from 429s
        self._done: deque[float] = deque(maxlen=4096)  # when recent successes finished

    async def acquire(self, tokens: int = 0, ceiling: int | None = None) -> None:
        """Wait for a slot, then for any ``Retry-After`` pause and the rates' spacing."""
        if ceiling is not None and ceiling != self.ceiling:
            self._set_ceiling(ceiling)
        with self._lock:
            if self.in_flight < self.limit and not self._waiters:
                self.in_flight += 1
                waiter = None
            else:
                waiter = _Waiter(asyncio.get_running_loop())
                self._waiters.append(waiter)
                self.waited_total += 1
        if waiter is not None:
            await self._wait(waiter)
        try:
            await self._pace(tokens)
        except BaseException:
            self.release()
            raise

    async def _pace(self, tokens: int) -> None:
        pause = self._paused_until - time.monotonic()
        if pause > 0:
            self.throttled_total += 1
            while pause > 0:
                await asyncio.sleep(pause)
                pause = self._paused_until - time.monotonic()
            if self.rate is None:  # resume no faster than what succeeded meanwhile
                with self._lock:
                    self._learn(time.monotonic())
        if self.rate is not None and time.monotonic() - self._last_429 > RATE_MEMORY_S:
            self.rate = None
        if self.rpm or self.tpm or self.rate:
            delay = self._reserve(tokens)
            if delay > 0:
                self.throttled_total += 1
                await asyncio.sleep(delay)

    async def _wait(self, waiter: _Waiter) -> None:
        try:
            await waiter.future
        except BaseException:  # cancelled: give back a slot handed over meanwhile
            with self._lock:
                granted = waiter.granted
                if not granted:
                    self._waiters.remove(waiter)
            if granted:
                self.release()
            raise

    def release(self) -> None:
        """Give the slot back (to the longest waiter, if any)."""
        with self._lock:
            self.in_flight -= 1
            self._wake()

    def succeeded(self) -> None:
        """A reply came: after the cool-down, grow the limit and any learned rate."""
        now = time.monotonic()
        with self._lock:
            self._done.append(now)
            if now < self._cool_until:
                return
            if self.rate is not None:
                self._rate_successes += 1
                if self._rate_successes >= self.rate:
                    self.rate += 1.0
                    self._rate_successes = 0
            if self.limit < self.ceiling:
                self._successes += 1
                if self._successes >= self.limit:
                    self.limit += 1
                    self._successes = 0
                    self._wake()

    def rate_limited(self, retry_after: float | None) -> None:
        """A 429: pause for ``retry_after`` and cut the limit (once per cool-down)."""
        with self._lock:
            now = time.monotonic()
            self.rate_limited_total += 1
            self.last_429_at, self._last_429 = time.time(), now
            self._successes = self._rate_successes = 0
            self._learn(now)
            if retry_after:
                self._paused_until = max(self._paused_until, now + min(retry_after, PAUSE_CAP_S))
            if now >= self._cool_until:
                self.limit = max(1, int(self.limit * CUT))
                self._cool_until = now + max(COOL_DOWN_S, min(retry_after or 0.0, PAUSE_CAP_S))

    def _learn(self, now: float) -> None:
        """Set the rate from the successes of the last window, when there are enough of them to
        say the endpoint was saturated (called with the lock held)."""
        recent = sum(1 for t in self._done if t > now - WINDOW_S)
        if recent >= MIN_SAMPLE:
            self.rate = RATE_SHARE * recent / WINDOW_S

    def snapshot(self) -> dict[str, Any]:
        """The limiter's state, for views."""
        provider, api_base, _ = self.key
        return {"provider": provider, "api_base": api_base, "limit": self.limit,
                "ceiling": self.ceiling, "in_flight": self.in_flight, "waiting": len(self._waiters),
                "rpm": self.rpm, "tpm": self.tpm, "learned_rps": self.rate,
                "waited_total": self.waited_total, "throttled_total": self.throttled_total,
                "rate_limited_total": self.rate_limited_total, "last_429_at": self.last_429_at,
                "paused_s": max(0.0, self._paused_until - time.monotonic())}

    def _set_ceiling(self, ceiling: int) -> None:
        with self._lock:
            if self.limit >= self.ceiling or ceiling < self.limit:
                self.limit = ceiling
            self.ceiling = ceiling
            self._wake()

    def _reserve(self, tokens: int) -> float:
        """Book the next send time allowed by the rates; seconds to wait for it."""
        with self._lock:
            now = time.monotonic()
            interval = max(60.0 / (self.rpm * RATE_SHARE) if self.rpm else 0.0,
                           1.0 / self.rate if self.rate else 0.0)
            start = max(now, self._next_request if interval else now,
                        self._next_tokens if self.tpm and tokens else now)
            if interval:
                self._next_request = start + interval
            if self.tpm and tokens:
                self._next_tokens = start + tokens * 60.0 / (self.tpm * RATE_SHARE)
            return start - now

    def _wake(self) -> None:
        """Hand free slots to waiters (called with the lock held)."""
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            if waiter.future.done():
                continue
            self.in_flight += 1
            waiter.granted = True
            try:
                if waiter.loop is asyncio._get_running_loop():
                    waiter.loop.call_soon(_grant, waiter.future)
                else:
                    waiter.loop.call_soon_threadsafe(_grant, waiter.future)
            except RuntimeError:  # its loop is closed: nobody will use the slot
                self.in_flight -= 1


def _grant(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def limiter_for(target: Any) -> Limiter:
    """The process-wide limiter of ``target``'s endpoint; its ``rpm``/``tpm`` follow the target."""
    key_hash = hashlib.sha256((target.api_key or "").encode()).hexdigest()[:16]
    key = (target.provider, target.api_base or "", key_hash)
    limiter = _limiters.get(key)
    if limiter is None:
        with _registry_lock:
            limiter = _limiters.setdefault(key, Limiter(key))
    limiter.rpm, limiter.tpm = target.rpm, target.tpm
    return limiter


def reset() -> None:
    """Forget every limiter (for test isolation; calls in flight keep theirs)."""
    with _registry_lock:
        _limiters.clear()


def limiters() -> list[dict[str, Any]]:
    """A snapshot of every endpoint's limiter."""
    return [limiter.snapshot() for limiter in list(_limiters.values())]
