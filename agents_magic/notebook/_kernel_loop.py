"""Run the async engine from a kernel's main thread: no "event loop is already running", a
display that keeps updating, and a kernel interrupt that cancels the run cleanly.

The run goes to the engine's private loop thread. The main thread waits in short slices (a
blocked ``Future.result()`` is still interruptible by SIGINT) and redraws the progress display
between slices, so every display call happens on the thread that owns the cell's output.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable

if TYPE_CHECKING:
    from .._result import RunResult

POLL_S = 0.05
UNWIND_S = 5.0  # how long a cancelled run may take to record itself before we give up on it


def run_in_kernel(workflow: Any, inputs: dict[str, Any], *, sinks: Iterable[Any] = (),
                  refresh: Callable[..., None] = lambda final=False: None,
                  **options: Any) -> RunResult:
    """Run ``workflow`` to its end and return the RunResult (status ``cancelled`` on interrupt).

    ``options`` go to :func:`agents_magic.arun` (``model``, ``provider``, ``cache``, ...). Errors
    raised before the run starts (bad inputs, unusable LLM settings) propagate.
    """
    from .._api import arun
    from ..engine import _loop

    box: list[RunResult] = []
    holder: dict[str, asyncio.Task[Any]] = {}

    async def main() -> RunResult:
        task = asyncio.current_task()
        assert task is not None
        holder["task"] = task
        try:
            return await arun(workflow, inputs, sinks=sinks, _box=box, **options)
        except asyncio.CancelledError:
            # The engine records a cancelled run (RunFinished + result) before re-raising.
            if box:
                return box[0]
            raise

    future = _loop.submit(main())
    try:
        try:
            return _wait(future, refresh, deadline=None)
        except KeyboardInterrupt:
            task = holder.get("task")
            if task is None:
                future.cancel()  # not started yet: nothing to record
                raise
            _loop.loop().call_soon_threadsafe(task.cancel)
            try:
                return _wait(future, refresh, deadline=time.monotonic() + UNWIND_S)
            except (concurrent.futures.CancelledError, concurrent.futures.TimeoutError):
                raise KeyboardInterrupt from None
    finally:
        refresh(final=True)


def _wait(future: concurrent.futures.Future[Any], refresh: Callable[..., None],
          deadline: float | None) -> Any:
    while True:
        try:
            try:
                return future.result(timeout=POLL_S)
            except concurrent.futures.TimeoutError:
                if deadline is not None and time.monotonic() > deadline:
                    raise
            refresh()
        except KeyboardInterrupt:
            if deadline is None:
                raise
            # A second interrupt while the run unwinds: keep waiting, the deadline bounds it.
