"""A background writer shared by the persisting sinks: a bounded queue and one daemon thread.

The sink's ``__call__`` runs on the engine's event loop, so it only filters and enqueues
(``put_nowait``: a full queue drops the event with one warning rather than ever blocking the
run). The thread drains the queue in batches and hands each batch to ``handle``. ``flush()``
waits until everything queued before it is handled; ``close()`` flushes and stops the thread.
Sinks still open at interpreter exit are flushed (bounded wait) by an ``atexit`` hook, the
``essential`` ones (the run store) first.
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
import warnings
import weakref
from collections.abc import Callable
from typing import Any

MAX_QUEUE = 100_000
MAX_BATCH = 2_000
EXIT_FLUSH_S = 20.0
LINGER_S = 0.02

_live: weakref.WeakSet[BackgroundWriter] = weakref.WeakSet()


class _Flush:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class BackgroundWriter:
    """Run ``handle(batch)`` on a daemon thread for the items given to :meth:`put`."""

    def __init__(self, name: str, handle: Callable[[list[Any]], None],
                 on_error: Callable[[BaseException], None], *, linger_s: float = LINGER_S,
                 essential: bool = False) -> None:
        self.linger_s = linger_s
        self.essential = essential
        self._handle = handle
        self._on_error = on_error
        self._queue: queue.Queue[Any] = queue.Queue(MAX_QUEUE)
        self._dropped = 0
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()
        _live.add(self)

    def put(self, item: Any) -> None:
        """Enqueue without ever blocking; a full queue drops the item (warned once)."""
        if self._closed:
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._dropped += 1
            if self._dropped == 1:
                warnings.warn(f"agents_magic: {self._thread.name} cannot keep up; events are "
                              "being dropped (the run itself is not affected)", RuntimeWarning,
                              stacklevel=3)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every item queued so far is handled; False on timeout."""
        if not self._thread.is_alive():
            return True
        marker = _Flush()
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def stop_soon(self) -> None:
        """Accept nothing more and end the thread once what is queued is handled (callable from
        the writer thread itself, unlike :meth:`close`)."""
        if self._closed:
            return
        self._closed = True
        _live.discard(self)
        try:
            self._queue.put_nowait(_STOP)
        except queue.Full:
            pass

    def close(self, timeout: float | None = None) -> None:
        """Flush, then stop the thread."""
        if self._closed:
            if threading.current_thread() is not self._thread:
                self._thread.join(timeout)
            return
        self.flush(timeout)
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        _live.discard(self)

    @property
    def dropped(self) -> int:
        return self._dropped

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if self.linger_s and not isinstance(item, _Flush) and item is not _STOP:
                # Let the rest of the run's burst of events arrive: fewer, larger transactions
                # and fewer wake-ups competing with the engine for the GIL.
                time.sleep(self.linger_s)
            batch, markers, stop = [], [], False
            while True:
                if item is _STOP:
                    stop = True
                elif isinstance(item, _Flush):
                    markers.append(item)
                else:
                    batch.append(item)
                if stop or len(batch) >= MAX_BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                try:
                    self._handle(batch)
                except BaseException as exc:  # the thread must survive anything
                    try:
                        self._on_error(exc)
                    except BaseException:
                        pass
            for marker in markers:
                marker.done.set()
            if stop:
                return


@atexit.register
def _flush_all() -> None:
    deadline = time.monotonic() + EXIT_FLUSH_S
    for writer in sorted(_live, key=lambda w: not w.essential):
        writer.linger_s = 0.0
        try:
            writer.flush(max(0.1, deadline - time.monotonic()))
        except Exception:
            pass
