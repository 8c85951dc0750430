"""A private event loop on a daemon thread, so synchronous callers can run async work anywhere,
including where a loop is already running (Jupyter), and keep HTTP connections warm between runs.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
import time
import weakref
from typing import Any, Awaitable, Callable, Coroutine, TypeVar

T = TypeVar("T")
POLL_S = 0.05
UNWIND_S = 5.0  # how long a cancelled run may take to record itself
_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="agents-magic-loop", daemon=True).start()
            atexit.register(_shutdown, _loop)
        return _loop


def _shutdown(private: asyncio.AbstractEventLoop) -> None:
    """At exit, finalise the loop's async generators: that closes its HTTP sessions cleanly."""
    try:
        asyncio.run_coroutine_threadsafe(private.shutdown_asyncgens(), private).result(timeout=2)
    except Exception:  # exiting anyway; a slow or closed loop must not hang the interpreter
        pass


_finalisers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[Any]] = weakref.WeakKeyDictionary()


def close_at_loop_end(close: Callable[[], Awaitable[Any]]) -> None:
    """Await ``close()`` when the running loop shuts down: an async generator parked on the
    loop is finalised then (``asyncio.run`` and this module's exit hook both do that)."""
    loop = asyncio.get_running_loop()

    async def finaliser() -> Any:
        try:
            yield
        finally:
            await close()

    parked = finaliser()
    _finalisers.setdefault(loop, []).append(parked)  # kept alive until the loop ends
    loop.create_task(parked.__anext__())


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Schedule ``coro`` on the private loop."""
    return asyncio.run_coroutine_threadsafe(coro, loop())


def wait(coro: Coroutine[Any, Any, T], tick: Callable[[], None] | None = None) -> T:
    """Run ``coro`` to completion; on KeyboardInterrupt cancel it, let it unwind, re-raise.

    With ``tick``, the caller's thread wakes every ``POLL_S`` to call it (a progress display
    redraws there, on the thread that owns the output); a blocked wait stays interruptible.
    """
    started: list[asyncio.Task[Any]] = []

    async def runner() -> T:
        task = asyncio.current_task()
        assert task is not None
        started.append(task)
        return await coro

    future = submit(runner())
    try:
        return _poll(future, tick, deadline=None)
    except KeyboardInterrupt:
        if not started:
            future.cancel()
            raise
        # Cancel the task, not the future: Future.cancel() marks the future done at once, so the
        # wait below would return before the task had unwound and recorded its cancelled result.
        loop().call_soon_threadsafe(started[0].cancel)
        try:
            _poll(future, tick, deadline=time.monotonic() + UNWIND_S)
        except BaseException:
            pass
        raise


def _poll(future: concurrent.futures.Future[T], tick: Callable[[], None] | None,
          deadline: float | None) -> T:
    while True:
        try:
            try:
                return future.result(timeout=POLL_S if tick or deadline else None)
            except concurrent.futures.TimeoutError:
                if deadline is not None and time.monotonic() > deadline:
                    raise
            if tick is not None:
                tick()
        except KeyboardInterrupt:
            if deadline is None:
                raise
            # A second interrupt while the run unwinds: keep waiting, the deadline bounds it.
