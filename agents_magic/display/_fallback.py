"""Progress as text lines, one per node execution: redrawn in place in notebooks, appended in a
terminal. A sink: the engine calls it with RunEvents (on its own thread); the kernel's main
thread calls :meth:`TextProgress.refresh`, which is the only place that touches the display.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..engine.events import (NodeFailed, NodeFinished, NodeRetrying, NodeStarted, RunFinished,
                             RunStarted, ToolCalled, execution_label)
from ._html import one_line, usd

MIN_INTERVAL_S = 0.1  # at most ~10 redraws a second, like tqdm
TICK_S = 1.0  # while a node runs, redraw its elapsed time this often
KIND_TEXT = {
    "rate_limit": "rate limit",
    "timeout": "timeout",
    "auth": "authentication",
    "invalid_output": "invalid output",
    "invalid_response": "invalid response",
    "server_error": "server error",
    "connection": "connection",
    "not_found": "unknown model or endpoint",
    "bad_request": "bad request",
    "config": "configuration",
}
KIND_HINT = {
    "rate_limit": "wait, or lower config.execution.max_concurrency",
    "timeout": "raise config.execution.timeout (seconds per call)",
    "auth": "check the API key (llm.api_key_env names the variable)",
    "invalid_output": "the reply did not fit output_schema; simplify the schema or the prompt",
    "connection": "is the server at llm.api_base running?",
    "not_found": "check llm.model and llm.api_base",
}
SYMBOL = {"started": "▶", "retrying": "↻", "finished": "✓", "cached": "✓", "failed": "✗",
          "cancelled": "■", "interrupted": "⏸"}
# The engine's error repeats the node, its model and the attempts; a progress line already has them.
_PREFIX = re.compile(r"^node `[^`]*`(?: \([^)]*\))? failed(?: after \d+ attempts?)?: ")


@dataclass
class _Row:
    node: str
    iteration: int
    state: str
    started: float
    llm: str = ""
    duration_ms: float = 0.0
    cost_usd: float = 0.0
    tokens: int = 0
    detail: str = ""
    tools: int = 0  # tool calls so far
    tool_errors: int = 0  # of which came back with an error
    item: int | None = None  # the map item it runs for

    @property
    def label(self) -> str:
        return execution_label(self.node, self.item, self.iteration)


class _Text:
    """A display object whose only representation is the given text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def kind_text(kind: str) -> str:
    return KIND_TEXT.get(kind, kind.replace("_", " "))


def failure_text(event: NodeFailed, limit: int = 300) -> str:
    """Why a node failed, said once: ``server error after 3 attempts: HTTP 500: …``."""
    if event.status != "failed":
        return event.status
    error = _PREFIX.sub("", " ".join(str(event.error).split()), count=1)
    if error.startswith(f"{event.kind}: "):
        error = error[len(event.kind) + 2:]
    tries = f" after {event.attempts} attempts" if event.attempts > 1 else ""
    return f"{kind_text(event.kind)}{tries}: {one_line(error, limit)}"


def tool_text(event: ToolCalled) -> str:
    """One tool call: ``tool lookup(city='Paris') → 2100000 (3 ms)`` or ``… ✗ error``."""
    args = one_line(", ".join(f"{k}={v!r}" for k, v in event.arguments.items()), 60)
    outcome = f"✗ {one_line(event.error, 80)}" if event.error else f"→ {one_line(event.result, 60)}"
    return f"tool {event.tool}({args}) {outcome} ({event.duration_ms:.0f} ms)"


class TextProgress:
    """A run's progress as text lines.

    Parameters
    ----------
    workflow
        Name shown in the header line.
    mode
        ``"update"`` redraws one display in place (notebooks), ``"append"`` prints each new line
        (terminals), ``"off"`` shows nothing.
    display
        ``IPython.display.display``-like callable (injected by tests).
    """

    stream = False  # text lines show no streamed text: the run need not stream

    def __init__(self, workflow: str, mode: str = "update", *,
                 display: Callable[..., Any] | None = None,
                 clock: Callable[[], float] = time.monotonic, handle: Any = None) -> None:
        if mode not in ("update", "append", "off"):
            raise ValueError(f"unknown progress mode {mode!r}")
        self.workflow = workflow
        self.mode = mode
        self._display = display
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, int, int | None], _Row] = {}  # (node, iteration, item)
        self._log: list[str] = []
        self._printed = 0
        self._status = "starting"
        self._total_nodes = 0
        self._run_started = clock()
        self._finished: RunFinished | None = None
        self._dirty = False
        self._last_draw = 0.0
        self._handle: Any = handle  # a display to redraw in place (None: make one)

    # -- the sink (engine thread) ----------------------------------------------------------
    def __call__(self, event: Any) -> None:
        with self._lock:
            self._apply(event)
            self._dirty = True

    def _apply(self, event: Any) -> None:
        now = self._clock()
        if isinstance(event, RunStarted):
            self._status, self._run_started = "running", now
            self._total_nodes = len(event.nodes)
        elif isinstance(event, NodeStarted):
            llm = f"{event.provider}/{event.model}" if event.provider else event.model
            row = _Row(event.node_id, event.iteration, "started", now, llm, item=event.item)
            self._rows[(event.node_id, event.iteration, event.item)] = row
            self._log.append(f"{SYMBOL['started']} {row.label} started ({llm})")
        elif isinstance(event, NodeRetrying):
            row = self._latest(event.node_id, event.item)
            detail = (f"attempt {event.attempt} failed ({kind_text(event.kind)}: "
                      f"{one_line(event.cause, 80)}); retrying in {event.delay_s:.1f}s")
            if row is not None:
                row.state, row.detail = "retrying", detail
            label = row.label if row is not None else execution_label(event.node_id, event.item)
            self._log.append(f"{SYMBOL['retrying']} {label} {detail}")
        elif isinstance(event, ToolCalled):
            row = self._rows.get((event.node_id, event.iteration, event.item))
            line = tool_text(event)
            if row is not None:
                row.tools += 1
                row.tool_errors += event.error is not None
                row.detail = line
            label = row.label if row is not None else execution_label(
                event.node_id, event.item, event.iteration)
            self._log.append(f"  ↳ {label} {line}")
        elif isinstance(event, NodeFinished):
            row = self._row(event, now)
            row.state = "cached" if event.cached else "finished"
            row.duration_ms, row.cost_usd = event.duration_ms, event.cost_usd
            row.tokens = event.prompt_tokens + event.completion_tokens
            row.llm = row.llm or f"{event.provider}/{event.model}"
            row.detail = f"after {event.attempts} attempts" if event.attempts > 1 else ""
            self._log.append(f"{SYMBOL[row.state]} {row.label} {self._numbers(row)}")
        elif isinstance(event, NodeFailed):
            row = self._row(event, now)
            # A cancelled or interrupted node is not shown as failed, nor as still running.
            row.state, row.duration_ms = event.status, event.duration_ms
            row.llm = f"{event.provider}/{event.model}" if event.provider else row.llm
            hint = KIND_HINT.get(event.kind) if event.status == "failed" else None
            row.detail = failure_text(event) + (f" — hint: {hint}" if hint else "") \
                if event.status == "failed" else ""
            self._log.append(f"{SYMBOL.get(row.state, '✗')} {row.label} {row.state} in "
                             f"{event.duration_ms / 1000:.2f}s ({row.llm})"
                             + (f" {row.detail}" if row.detail else ""))
        elif isinstance(event, RunFinished):
            self._finished = event
            self._status = event.status
            self._log.append(self._header())

    def _row(self, event: NodeFinished | NodeFailed, now: float) -> _Row:
        return self._rows.setdefault((event.node_id, event.iteration, event.item), _Row(
            event.node_id, event.iteration, "started", now, item=event.item))

    def _latest(self, node: str, item: int | None = None) -> _Row | None:
        rows = [r for (n, _, i), r in self._rows.items() if n == node and i == item]
        return rows[-1] if rows else None

    # -- rendering (main thread) -----------------------------------------------------------
    @staticmethod
    def _numbers(row: _Row) -> str:
        text = (f"{row.state} in {row.duration_ms / 1000:.2f}s · {usd(row.cost_usd)} · "
                f"{row.tokens} tokens · {row.llm}")
        if row.tools:
            text += f" · {row.tools} tool call{'s' if row.tools != 1 else ''}"
            text += f" ({row.tool_errors} with errors)" if row.tool_errors else ""
        return text + (f" · {row.detail}" if row.detail else "")

    def _header(self) -> str:
        done = sum(r.state in ("finished", "cached") for r in self._rows.values())
        cost = sum(r.cost_usd for r in self._rows.values())
        tokens = sum(r.tokens for r in self._rows.values())
        if self._finished is not None:
            f = self._finished
            when = f"{f.status} in {f.duration_ms / 1000:.2f}s"
            cost, tokens = f.cost_usd, f.total_tokens
        else:
            when = f"{self._status} {self._clock() - self._run_started:.1f}s"
        return (f"{self.workflow} · {when} · {done} node run{'s' if done != 1 else ''} done · "
                f"{tokens} tokens · {usd(cost)}")

    def text(self) -> str:
        """The current progress block (header, then one line per node execution)."""
        with self._lock:
            return self._text()

    def _text(self) -> str:
        rows = list(self._rows.values())
        width = max((len(r.label) for r in rows), default=0)
        lines = [self._header()]
        now = self._clock()
        for r in rows:
            if r.state in ("started", "retrying"):
                body = f"{r.state} {now - r.started:.1f}s · {r.llm}"
                body += f" · {r.detail}" if r.detail else ""
            elif r.state in ("failed", "cancelled", "interrupted"):
                body = f"{r.state} in {r.duration_ms / 1000:.2f}s · {r.llm}"
                body += f" · {r.detail}" if r.detail else ""
            else:
                body = self._numbers(r)
            lines.append(f"  {SYMBOL.get(r.state, '✗')} {r.label:<{width}}  {body}")
        return "\n".join(lines)

    def refresh(self, final: bool = False) -> None:
        """Redraw if something changed (at most every MIN_INTERVAL_S unless ``final``)."""
        if self.mode == "off" or self._status == "starting":
            # Nothing ran (e.g. the LLM settings were rejected): the placeholder says so.
            if final and self.mode == "update" and self._handle is not None:
                from ._live import NOT_RUN

                self._handle.update(_Text(NOT_RUN.format(self.workflow)))
            return
        now = self._clock()
        with self._lock:
            running = any(r.state in ("started", "retrying") for r in self._rows.values())
            due = now - self._last_draw >= (MIN_INTERVAL_S if self._dirty else TICK_S) - 1e-6
            if not (final or (due and (self._dirty or running))):
                return
            if self.mode == "append":
                new, self._printed = self._log[self._printed:], len(self._log)
                text = "\n".join(new)
            else:
                text = self._text()
            self._dirty, self._last_draw = False, now
        if self.mode == "append":
            if text:
                print(text, flush=True)
            return
        display = self._display or _ipython_display()
        if self._handle is None:
            self._handle = display(_Text(text), display_id=True)
        else:
            self._handle.update(_Text(text))


def _ipython_display() -> Callable[..., Any]:
    from IPython.display import display

    return display
