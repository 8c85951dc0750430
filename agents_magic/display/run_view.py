"""The live run view: an anywidget drawing the workflow graph whose nodes light up as a run goes,
and :class:`LiveView`, the sink that feeds it from RunEvents at most ~10 times a second."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import anywidget
import traitlets as t

from ._assets import asset
from ._fallback import TextProgress
from ._graph import WorkflowGraph
from ._html import esc, no_math, usd
from ._state import RunState

MIN_INTERVAL_S = 0.1  # at most ~10 front-end updates a second
DETAILS_INTERVAL_S = 1.0  # detail texts (prompts, replies: the bulk) at most once a second
# state -> (fill, stroke) of a node box in the static picture; the live view uses run_view.css.
PAINT = {"running": ("#ddf4ff", "#0969da"), "retrying": ("#fff8c5", "#9a6700"),
         "succeeded": ("#dafbe1", "#1a7f37"), "cached": ("#dafbe1", "#1a7f37"),
         "failed": ("#ffebe9", "#cf222e"), "cancelled": ("#fff1e5", "#bc4c00"),
         "interrupted": ("#fff1e5", "#bc4c00"), "skipped": ("#f6f8fa", "#d0d7de")}


class RunView(anywidget.AnyWidget):
    """A run drawn live: the graph, each node's state, the totals and a Stop button.

    Everything drawn is a synced trait, so a saved notebook re-renders without a kernel, and the
    output bundle also holds a static HTML picture for nbconvert, GitHub and nbviewer.
    """

    _esm = asset("run_view.js")
    _css = asset("run_view.css")
    workflow = t.Unicode("").tag(sync=True)
    graph = t.Unicode("").tag(sync=True)  # the SVG of `%workflow graph`; nodes carry data-node
    status = t.Unicode("starting").tag(sync=True)
    nodes = t.Dict().tag(sync=True)  # node -> {state, kind, iteration, elapsed_s, tokens, cost, …}
    totals = t.Dict().tag(sync=True)  # elapsed_s, tokens, cost, done, total, in_flight, error
    # node -> {prompt, response, outputs, error, tool_calls, items (a map: one entry per item)}
    details = t.Dict().tag(sync=True)

    def __init__(self, *, workflow: str, graph: WorkflowGraph | None = None,
                 on_stop: Callable[[], bool] | None = None) -> None:
        super().__init__(workflow=workflow, graph=graph.svg if graph is not None else "")
        self._drawing = graph
        self._on_stop = on_stop
        self.text = ""  # text/plain of the output (the progress lines)
        self.on_msg(self._handle)

    def _handle(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        request = content.get("id")
        if content.get("type") != "cancel":
            self.send({"type": "error", "id": request, "error": f"unknown command {content.get('type')!r}"})
            return
        try:
            ok = bool(self._on_stop and self._on_stop())
            reply = {"type": "cancel", "id": request, "ok": ok,
                     "error": "" if ok else "the run is not running"}
        except Exception as exc:  # reported to the front end, never lost in the kernel log
            reply = {"type": "cancel", "id": request, "ok": False, "error": str(exc)}
        self.send(reply)

    def static_html(self) -> str:
        """The current state as HTML with an inline SVG: no JavaScript, no kernel needed."""
        nodes, totals = self.nodes, self.totals
        paint = {n: (*PAINT[v["state"]], f"{n}: {v['state']}") for n, v in nodes.items()
                 if v.get("state") in PAINT}
        svg = self._drawing.painted(paint) if self._drawing is not None else ""
        tools = any(v.get("tool_calls") for v in nodes.values())  # a column only when used
        rows = "".join(
            f"<tr><td><code>{esc(n)}</code></td><td style='color:{PAINT.get(v['state'], ('', '#57606a'))[1]}'>"
            f"{esc(v['state'])}</td><td>{v.get('duration_ms', 0) / 1000:.2f}s</td><td>{v.get('tokens', 0)}</td>"
            f"<td>{esc(usd(v.get('total_cost', v.get('cost', 0.0))))}</td>"
            + (f"<td>{v.get('tool_calls') or ''}</td>" if tools else "")
            + f"<td>{esc(v.get('error', ''))}</td></tr>"
            for n, v in nodes.items())
        header = (f"<b>{esc(self.workflow)}</b> · {esc(self.status)} · {totals.get('elapsed_s', 0):.2f}s · "
                  f"{totals.get('tokens', 0)} tokens · {esc(usd(totals.get('cost', 0.0)))}")
        error = f"<div style='color:#cf222e'>{esc(totals['error'])}</div>" if totals.get("error") else ""
        table = ("<table><tr><th>node</th><th>state</th><th>time</th><th>tokens</th><th>cost</th>"
                 + ("<th>tool calls</th>" if tools else "") + f"<th>error</th></tr>{rows}</table>")
        return no_math(f"<div>{header}</div>{error}<div style='overflow-x:auto'>{svg}</div>{table}",
                       "am-run-static")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if isinstance(data, dict):
            data["text/html"] = self.static_html()
            data["text/plain"] = self.text or f"{self.workflow} · {self.status}"
        return bundle


class LiveView:
    """A sink that shows a :class:`RunView` and feeds it from the events of one run.

    The engine calls it from its own thread; :meth:`refresh`, called on the kernel's main thread,
    pushes the changes in one batch (``hold_sync``) at most every ``MIN_INTERVAL_S``. When Stop was
    pressed, ``refresh`` raises KeyboardInterrupt once, so the run is cancelled exactly as a kernel
    interrupt cancels it.
    """

    stream = True  # it shows the text of running nodes: the run streams its replies

    def __init__(self, workflow: Any, *, display: Callable[..., Any] | None = None,
                 clock: Callable[[], float] = time.monotonic, handle: Any = None,
                 budget: float | None = None) -> None:
        kinds = {n.id: _kind(n) for n in workflow.spec.nodes}
        self.state = RunState(kinds, clock=clock)
        self.lines = TextProgress(workflow.name, "off", clock=clock)
        self.view = RunView(workflow=workflow.name, graph=WorkflowGraph(workflow), on_stop=self.stop)
        self.budget = budget
        self.pushes = 0  # front-end updates sent (each one batch)
        self._clock = clock
        self._display = display
        self._lock = threading.Lock()
        self._dirty = True
        self._last = -1.0
        self._texts_sent = float("-inf")
        self._details_of = -1  # state.changes when details were last built
        self._stop = "no"  # no | requested | sent
        self._handle: Any = None
        self._placeholder = handle  # an output shown earlier, which the view replaces

    def __call__(self, event: Any) -> None:
        with self._lock:
            self.state.apply(event)
            self.lines(event)
            self._dirty = True

    def stop(self) -> bool:
        """Ask the run to stop (the Stop button); False when it is not running."""
        with self._lock:
            if self.state.finished is not None or self._stop != "no":
                return False
            self._stop = "requested"
            return True

    def show(self) -> None:
        if self._handle is not None:
            return
        if self._placeholder is not None:
            self._handle = self._placeholder
            self._handle.update(self.view)
        else:
            self._handle = (self._display or _ipython_display())(self.view, display_id=True)

    def refresh(self, final: bool = False) -> None:
        """Push what changed (main thread); raise KeyboardInterrupt once after Stop."""
        if final and self.state.status == "starting":  # nothing ran: no view, a line saying so
            handle = self._handle or self._placeholder
            if handle is not None:
                from ._live import NOT_RUN

                handle.update({"text/plain": NOT_RUN.format(self.view.workflow)}, raw=True)
            return
        self.show()
        if self._stop == "requested" and not final:
            self._stop = "sent"
            raise KeyboardInterrupt
        now = self._clock()
        if not final and (not self._dirty or now - self._last < MIN_INTERVAL_S - 1e-6):
            return
        if not final:
            self._push(now, final=False)
            return
        self.view.text = self.lines.text()
        # The bundle (with the final static picture) goes out before the final traits do, so a
        # front end redraws the view first and then shows the final state on the new view.
        with self.view.hold_sync():
            self._push(now)
            self._handle.update(self.view)

    def settle(self) -> None:
        """Push the final state without showing anything (a replayed run)."""
        self._push(self._clock())
        self.view.text = self.lines.text()

    def _push(self, now: float, final: bool = True) -> None:
        texts = final or now - self._texts_sent >= DETAILS_INTERVAL_S - 1e-6
        with self._lock:
            nodes, totals = self.state.snapshot()
            details = None
            if texts and self.state.changes != self._details_of:  # nothing new: no rebuild
                details, self._details_of = self.state.details(), self.state.changes
            status = self.state.status
            self._dirty, self._last = False, now
        totals["in_flight"] = _in_flight()
        if self.budget:
            totals["budget"] = self.budget
        with self.view.hold_sync():
            self.view.nodes, self.view.totals, self.view.status = nodes, totals, status
            if details is not None and details != self.view.details:
                self.view.details, self._texts_sent = details, now
        self.pushes += 1


def _kind(node: Any) -> str:
    kind = getattr(node, "kind", None)
    if isinstance(kind, str) and kind:
        return kind
    return "llm" if getattr(node, "prompt", None) is not None else "code"


def _in_flight() -> int:
    from ..engine._llm import limiters

    return sum(int(s.get("in_flight", 0)) for s in limiters())


def _ipython_display() -> Callable[..., Any]:
    from IPython.display import display

    return display
