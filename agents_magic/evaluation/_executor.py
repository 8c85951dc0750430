"""Where evaluation rows run: one small interface, a local asyncio executor behind it.

Rows go in as :class:`RowTask` and come back as plain dicts (the record's row shape), both
serialisable, so an executor on other machines can take this one's place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class RowTask:
    """One run to make: a variant on a dataset row, in one repeat."""

    variant: str
    row: int
    repeat: int
    inputs: dict[str, Any]


Work = Callable[[RowTask], Awaitable[dict[str, Any]]]


class Executor(Protocol):
    """Runs ``work`` on every task, at most ``concurrency`` at once, handing each finished
    row to ``done`` as it comes; cancelling ``map`` cancels the rows in flight."""

    async def map(self, tasks: Iterable[RowTask], work: Work,
                  done: Callable[[dict[str, Any]], None]) -> None: ...


class LocalExecutor:
    """``concurrency`` workers in the running event loop, pulling tasks in order (so memory
    holds only the rows in flight, whatever the dataset's size)."""

    def __init__(self, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.concurrency = concurrency

    async def map(self, tasks: Iterable[RowTask], work: Work,
                  done: Callable[[dict[str, Any]], None]) -> None:
        pending = iter(tasks)

        async def worker() -> None:
            for task in pending:
                done(await work(task))

        workers = [asyncio.ensure_future(worker()) for _ in range(self.concurrency)]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
