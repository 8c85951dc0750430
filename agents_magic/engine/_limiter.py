"""One limiter per provider endpoint, shared by every run, thread and event loop in the process.

A :class:`Limiter` admits requests to an endpoint (provider, api_base, key) from one FIFO queue,
sending the head when a slot is free *and* its send time has come:

- **Slots.** At most ``limit`` requests on the wire; the ceiling is the latest ``max_concurrency``
  asked. A new endpoint starts at :data:`INITIAL_WINDOW` and, until its first 429, grows by one
  per success while every slot is busy (slow start: the window doubles per round trip), so a
  server without limits reaches the ceiling within a few round trips and a limited one is
  overshot by at most one window. Later the limit grows by one per ``limit`` successes while
  every slot is busy.
- **Send times.** ``Retry-After`` pauses the endpoint. ``rpm``/``tpm`` space requests at
  :data:`RATE_SHARE` of them. A 429 teaches a rate, since a provider's limit is a rate: when
  its pause ends, the requests sent in the second before it that were not refused are what the
  endpoint admits per second (the window's first request has to age out before the next, when
  no ``Retry-After`` says so). Requests are then spaced a little under :data:`RATE_SHARE` of
  that, rising to it over :data:`PROBE_AFTER_S`, flat there, then faster and faster beyond (cubic in the
  time since the lesson, as TCP CUBIC grows its window): a fixed limit is probed about every
  two :data:`PROBE_AFTER_S`, less often each time a 429 finds the same limit again (up to
  :data:`PROBE_MAX_S`), since each probe pays a ``Retry-After`` pause; a lifted limit is found
  within half a minute. Each 429 teaches again; a minute without one forgets the rate.
- A 429 too early to learn from (fewer than :data:`MIN_SAMPLE` admitted) cuts the learned rate
  and the limit to about 80 % instead (the limit once per cool-down, floor 1). Requests backing off
  (``release`` then a sleep) hold no slot; other failures never shrink anything.

State sits behind a thread lock. Each waiter is a future of its own loop, granted thread-safely,
and the timer that wakes the queue when a send time comes runs on the head waiter's loop, so one
limiter serves the engine's loop thread and any ``asyncio.run`` loop at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import threading
import time
from collections import deque
from typing import Any

DEFAULT_CONCURRENCY = 16
INITIAL_WINDOW = 8
CUT = 0.8
COOL_DOWN_S = 5.0
PAUSE_CAP_S = 30.0
RATE_SHARE = 0.95
WINDOW_S = 1.0
MIN_SAMPLE = 5  # requests admitted in a window below which no rate is inferred
PROBE_AFTER_S = 5.0  # a learned rate stays near RATE_SHARE of the limit this long
PROBE_MAX_S = 20.0  # ... doubled, up to this, each time a 429 finds the same limit again
STABLE_SHARE = 0.1  # two lessons this close find the same limit
RATE_MEMORY_S = 60.0  # a learned rate is forgotten this long after the last 429
TIMER_SLACK_S = 0.005  # a timer this late keeps the pace

_limiters: dict[tuple[str, str, str], Limiter] = {}
_registry_lock = threading.Lock()


class _Waiter:
    __slots__ = ("loop", "future", "tokens", "granted")

    def __init__(self, loop: asyncio.AbstractEventLoop, tokens: int):
        self.loop, self.future, self.tokens, self.granted = loop, loop.create_future(), tokens, False


class Limiter:
    """Bounded, paced, adaptive access to one endpoint (see the module docstring)."""

    def __init__(self, key: tuple[str, str, str], ceiling: int = DEFAULT_CONCURRENCY):
        self.key = key
        self.ceiling = ceiling
        self.limit = min(ceiling, INITIAL_WINDOW)
        self.slow_start = True
        self.in_flight = 0
        self.rpm: int | None = None
        self.tpm: int | None = None
        self.waited_total = self.throttled_total = self.rate_limited_total = 0
        self.last_429_at: float | None = None
        self._lock = threading.Lock()
        self._waiters: deque[_Waiter] = deque()
        self._paused_until = self._cool_until = self._last_429 = 0.0
        self._episode: float | None = None  # when the 429 that the next lesson is about came
        self._unsettled = 0  # requests on the wire at that 429 and not back yet
        self._next_request = self._next_tokens = 0.0
        self._timer_at = math.inf  # when the armed timer fires (inf: none armed)
        self._successes = 0
        self._peak: float | None = None  # requests/s the endpoint admits, learned from a 429
        self._peak_at = 0.0
        self._probe_s = PROBE_AFTER_S  # how long the rate stays below the peak before probing
        self._sent: deque[float] = deque(maxlen=4096)  # when recent requests went out
        self._refused: deque[float] = deque(maxlen=4096)  # when recent 429s came

    # -- the caller's side -------------------------------------------------------------------
    async def acquire(self, tokens: int = 0, ceiling: int | None = None) -> None:
        """Wait for a slot and the send time (after any pause, at the rates' spacing)."""
        if ceiling is not None and ceiling != self.ceiling:
            self._set_ceiling(ceiling)
        loop = asyncio.get_running_loop()
        with self._lock:
            now = time.monotonic()
            if not self._waiters and self.in_flight < self.limit and self._due(tokens, now) <= now:
                self._send(tokens, now)
                self._sent.append(now)
                return
            waiter = _Waiter(loop, tokens)
            self._waiters.append(waiter)
            self.waited_total += 1
            if self._due(tokens, now) > now:
                self.throttled_total += 1
            self._wake(now)
        while True:
            await self._wait(waiter)
            with self._lock:
                now = time.monotonic()
                if now >= self._paused_until:
                    self._sent.append(now)
                    return
                # A 429 came between the grant and now: wait out its pause at the head.
                self._vacate()
                waiter = _Waiter(loop, tokens)
                self._waiters.appendleft(waiter)
                self._wake(now)

    def release(self) -> None:
        """Give the slot back (to the head of the queue, when its time has come)."""
        with self._lock:
            self._vacate()
            self._wake(time.monotonic())

    def succeeded(self) -> None:
        """A reply came: grow the limit if it was what held requests back."""
        now = time.monotonic()
        with self._lock:
            if self.limit >= self.ceiling or self.in_flight < self.limit:
                return
            if self.slow_start:
                self.limit += 1
            elif now >= self._cool_until:
                self._successes += 1
                if self._successes >= self.limit:
                    self.limit += 1
                    self._successes = 0
            self._wake(now)

    def rate_limited(self, retry_after: float | None) -> None:
        """A 429: pause for ``retry_after``; when the pause ends, learn a rate (or cut)."""
        with self._lock:
            now = time.monotonic()
            self.rate_limited_total += 1
            self.last_429_at, self._last_429 = time.time(), now
            self._refused.append(now)
            self.slow_start = False
            self._successes = 0
            if self._episode is None:
                self._episode, self._unsettled = now, self.in_flight
            if retry_after:
                self._paused_until = max(self._paused_until, now + min(retry_after, PAUSE_CAP_S))
            self._wake(now)

    @property
    def rate(self) -> float | None:
        """Requests/s learned from 429s (None: none learned, or forgotten)."""
        return self._rate(time.monotonic())

    def snapshot(self) -> dict[str, Any]:
        """The limiter's state, for views."""
        provider, api_base, _ = self.key
        return {"provider": provider, "api_base": api_base, "limit": self.limit,
                "ceiling": self.ceiling, "slow_start": self.slow_start,
                "in_flight": self.in_flight, "waiting": len(self._waiters),
                "rpm": self.rpm, "tpm": self.tpm, "learned_rps": self.rate,
                "waited_total": self.waited_total, "throttled_total": self.throttled_total,
                "rate_limited_total": self.rate_limited_total, "last_429_at": self.last_429_at,
                "paused_s": max(0.0, self._paused_until - time.monotonic())}

    # -- the queue (every method below is called with the lock held) ---------------------------
    def _rate(self, now: float) -> float | None:
        """RATE_SHARE² of the peak right after the lesson, RATE_SHARE of it after ``_probe_s``,
        then faster and faster beyond (cubic)."""
        if self._peak is None or now - self._last_429 > RATE_MEMORY_S:
            return None
        growth = (1 - RATE_SHARE) * ((now - self._peak_at) / self._probe_s - 1) ** 3
        return RATE_SHARE * self._peak * (1 + growth)

    def _learn(self, episode: float, now: float) -> None:
        """When a 429's pause ends: the requests sent in the window before it that were not
        refused are what the endpoint admits per window. Too few to tell: cut the rate, if
        there is one, and the limit (once per cool-down)."""
        sent = [t for t in self._sent if episode - WINDOW_S < t <= episode]
        admitted = len(sent) - sum(1 for t in self._refused if t > episode - WINDOW_S)
        current, peak = self._rate(now), self._peak
        if admitted >= MIN_SAMPLE:
            self._peak = admitted / WINDOW_S
            if current is not None:  # a paced probe: the window's edge may hide one request
                self._peak = max(self._peak, min(current, (admitted + 1) / WINDOW_S))
            # Without a Retry-After, the window's first request has to age out before the next.
            self._next_request = max(self._next_request, sent[0] + WINDOW_S)
            # The same limit again: it is stable, so probe it half as often (up to a cap).
            stable = peak is not None and abs(self._peak - peak) <= STABLE_SHARE * peak
            self._probe_s = min(2 * self._probe_s, PROBE_MAX_S) if stable else PROBE_AFTER_S
        else:
            self._peak = CUT * current / RATE_SHARE if current is not None else None
            self._probe_s = PROBE_AFTER_S
            if now >= self._cool_until:
                self.limit = max(1, int(self.limit * CUT))
                self._cool_until = now + COOL_DOWN_S
        self._peak_at = now

    def _due(self, tokens: int, now: float) -> float:
        """When a request of ``tokens`` may go: after the pause and the rates' spacing."""
        # Learn once the pause is over and what was on the wire at the 429 has come back.
        if (self._episode is not None and now >= self._paused_until
                and (self._unsettled <= 0 or now >= self._episode + WINDOW_S)):
            episode, self._episode = self._episode, None
            self._learn(episode, now)
        due = self._paused_until
        if self.rpm or self._rate(now):
            due = max(due, self._next_request)
        if self.tpm and tokens:
            due = max(due, self._next_tokens)
        return due

    def _send(self, tokens: int, now: float) -> None:
        """Take a slot and book the rates' spacing after this request."""
        self.in_flight += 1
        rate = self._rate(now)
        interval = max(60.0 / (self.rpm * RATE_SHARE) if self.rpm else 0.0,
                       1.0 / rate if rate else 0.0)
        # A timer firing a little late keeps the schedule instead of slowing the pace.
        if interval:
            self._next_request = max(now - TIMER_SLACK_S, self._next_request) + interval
        if self.tpm and tokens:
            self._next_tokens = (max(now - TIMER_SLACK_S, self._next_tokens)
                                 + tokens * 60.0 / (self.tpm * RATE_SHARE))

    def _vacate(self) -> None:
        self.in_flight -= 1
        self._unsettled -= 1

    def _wake(self, now: float) -> None:
        """Send queued requests while a slot is free and their time has come; otherwise arm a
        timer for that time."""
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters[0]
            if waiter.future.done():
                self._waiters.popleft()
                continue
            due = self._due(waiter.tokens, now)
            if due > now:
                self._arm(waiter.loop, due, now)
                return
            self._waiters.popleft()
            self._send(waiter.tokens, now)
            waiter.granted = True
            try:
                if waiter.loop is asyncio._get_running_loop():
                    waiter.loop.call_soon(_grant, waiter.future)
                else:
                    waiter.loop.call_soon_threadsafe(_grant, waiter.future)
            except RuntimeError:  # its loop is closed: nobody will use the slot
                self._vacate()

    def _arm(self, loop: asyncio.AbstractEventLoop, due: float, now: float) -> None:
        # A timer already set for that time (and not lost with a loop that stopped) will do.
        if now < self._timer_at <= due:
            return
        self._timer_at = due
        try:
            if loop is asyncio._get_running_loop():
                loop.call_later(due - now, self._on_timer)
            else:
                loop.call_soon_threadsafe(loop.call_later, due - now, self._on_timer)
        except RuntimeError:  # its loop is closed: the next event re-arms
            self._timer_at = math.inf

    def _on_timer(self) -> None:
        with self._lock:
            self._timer_at = math.inf  # a stale or early timer only leads to a re-arm
            self._wake(time.monotonic())

    async def _wait(self, waiter: _Waiter) -> None:
        try:
            await waiter.future
        except BaseException:  # cancelled: give back a slot handed over meanwhile
            with self._lock:
                if waiter.granted:
                    self._vacate()
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                self._timer_at = math.inf  # the timer may sit on this waiter's loop
                self._wake(time.monotonic())
            raise

    def _set_ceiling(self, ceiling: int) -> None:
        with self._lock:
            # In slow start the limit is at least INITIAL_WINDOW (under the ceiling) and grows
            # from there; later, a limit at its ceiling follows it.
            if self.slow_start:
                self.limit = min(ceiling, max(self.limit, INITIAL_WINDOW))
            elif ceiling < self.limit or self.limit >= self.ceiling:
                self.limit = ceiling
            self.ceiling = ceiling
            self._wake(time.monotonic())


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
