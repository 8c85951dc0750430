"""Live progress of an evaluation in the cell: rows done/failed/total, cost so far, ETA, calls
in flight against the limiter's current limit, rate-limit waits, and (with widgets) the latency
percentile curves filling in (an inline SVG) and a Stop button. Text otherwise.

Rows arrive on the engine's thread (:meth:`EvalProgress.row`); the cell's thread redraws
(:meth:`EvalProgress.refresh`, a few times a second at most). Only counters and one latency per
row are kept — no per-row objects.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ..display._html import usd

TEXT_EVERY_S = 0.25
PLOT_EVERY_S = 1.0
APPEND_EVERY_S = 5.0


class EvalProgress:
    """Progress of one evaluation; ``mode`` is ``widget``, ``update`` (one text display redrawn
    in place), ``append`` (a line every few seconds, terminals) or ``off``."""

    def __init__(self, name: str, total: int, variants: list[str], endpoints: set[tuple[str, str]],
                 mode: str = "update", *, clock: Callable[[], float] = time.monotonic,
                 display: Callable[..., Any] | None = None) -> None:
        self.name, self.total, self.mode = name, total, mode
        self.endpoints = endpoints
        self._clock = clock
        self._display = display
        self._lock = threading.Lock()
        self.done = self.failed = 0
        self.cost_usd = 0.0
        self.latencies: dict[str, list[float]] = {v: [] for v in variants}
        self.stopped = False
        self._started = clock()
        self._drawn = self._plotted = float("-inf")
        self._handle: Any = None
        self._widget: Any = None

    # -- engine thread ---------------------------------------------------------------------
    def row(self, row: dict[str, Any]) -> None:
        with self._lock:
            self.done += 1
            self.failed += row["status"] != "succeeded"
            self.cost_usd += row["cost_usd"] + row["judge_cost_usd"]
            self.latencies.setdefault(row["variant"], []).append(row["latency_ms"])

    # -- cell thread -----------------------------------------------------------------------
    def limiter_state(self) -> dict[str, Any]:
        """Calls in flight, the limit, waits and 429s over the evaluation's endpoints."""
        from ..engine._limiter import limiters

        state = {"in_flight": 0, "limit": 0, "waiting": 0, "throttled": 0, "rate_limited": 0,
                 "paused_s": 0.0}
        for snap in limiters():
            if (snap["provider"], snap["api_base"]) not in self.endpoints:
                continue
            state["in_flight"] += snap["in_flight"]
            state["limit"] += snap["limit"]
            state["waiting"] += snap["waiting"]
            state["throttled"] += snap["throttled_total"]
            state["rate_limited"] += snap["rate_limited_total"]
            state["paused_s"] = max(state["paused_s"], snap["paused_s"])
        return state

    def line(self, status: str = "running") -> str:
        with self._lock:
            done, failed, cost = self.done, self.failed, self.cost_usd
        elapsed = self._clock() - self._started
        eta = elapsed / done * (self.total - done) if done else None
        text = (f"eval {self.name} · {status} · {done}/{self.total} rows · {failed} failed · "
                f"{usd(cost)} · {elapsed:.1f}s")
        if status == "running":
            text += f" · ETA {eta:.0f}s" if eta is not None else " · ETA …"
        lim = self.limiter_state()
        if lim["limit"]:
            text += f" · in flight {lim['in_flight']}/{lim['limit']}"
        if lim["throttled"] or lim["rate_limited"]:
            text += f" · rate-limit waits {lim['throttled']} · 429s {lim['rate_limited']}"
        if lim["paused_s"] > 0:
            text += f" · paused {lim['paused_s']:.1f}s"
        return text

    def refresh(self, final: bool = False, status: str = "running") -> None:
        """Redraw if due; a pressed Stop button stops the evaluation (as an interrupt does)."""
        if self.stopped and not final:
            raise KeyboardInterrupt
        if self.mode == "off":
            return
        now = self._clock()
        every = APPEND_EVERY_S if self.mode == "append" else TEXT_EVERY_S
        if not final and now - self._drawn < every:
            return
        self._drawn = now
        text = self.line("finished" if final and status == "running" else status)
        if self.mode == "append":
            print(text, flush=True)
        elif self.mode == "widget":
            self._draw_widget(text, final or now - self._plotted >= PLOT_EVERY_S, final)
            self._plotted = now if final or now - self._plotted >= PLOT_EVERY_S else self._plotted
        else:
            self._draw_text(text)

    def _show(self, obj: Any, **options: Any) -> Any:
        if self._display is not None:
            return self._display(obj, **options)
        from IPython.display import display

        return display(obj, **options)

    def _draw_text(self, text: str) -> None:
        bundle = {"text/plain": text}
        if self._handle is None:
            self._handle = self._show(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)

    def _draw_widget(self, text: str, plot: bool, final: bool = False) -> None:
        if self._widget is None:
            self._widget = _ProgressWidget(self)
            self._handle = self._show(self._widget, display_id=True)
        self._widget.status.value = text
        if plot:
            from ._plots import percentile_curve

            with self._lock:
                curves = {v: percentile_curve(values) for v, values in self.latencies.items()}
            self._widget.plot(curves)
        if final:
            self._widget.stop.disabled = True  # nothing left to stop: no red button stays behind
            self._widget.stop.layout.display = "none"
            if self._handle is not None:  # the saved output keeps the final static picture
                self._handle.update(self._widget)

    def stop(self) -> None:
        self.stopped = True


class _ProgressWidget:
    """A status line, a Stop button and the latency percentile curves (an inline SVG).

    The curves are plain SVG in an HTML widget: nothing heavy is imported while rows run, so the
    first evaluation of a kernel is as quick and as interruptible as the next. Its output bundle
    also holds the current state as text and as static HTML, for nbconvert, GitHub and nbviewer."""

    def __init__(self, progress: EvalProgress) -> None:
        import ipywidgets

        self.status = ipywidgets.Label()
        self.stop = button = ipywidgets.Button(description="Stop", button_style="danger", icon="stop",
                                               tooltip="Stop the evaluation (like interrupting the kernel)")
        button.on_click(lambda _b: progress.stop())
        self.curve = ipywidgets.HTML()
        self.box = ipywidgets.VBox([ipywidgets.HBox([self.status, button]), self.curve])

    def plot(self, curves: dict[str, list[float]]) -> None:
        from ..display._html import no_math
        from ._curve_svg import curve_svg

        svg = curve_svg(curves)
        if svg:
            self.curve.value = no_math(svg, "am-eval-curve")

    def static_html(self) -> str:
        from ..display._html import esc, no_math

        return no_math(f"<div>{esc(self.status.value)}</div>{self.curve.value}", "am-eval-static")

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.box._repr_mimebundle_(**kwargs)
        return {**bundle, "text/plain": self.status.value, "text/html": self.static_html()}


def mode_for(live: bool, quiet: bool = False) -> str:
    """``widget`` in a kernel with widgets, ``update`` in a kernel without, ``append`` in a
    terminal IPython, ``off`` elsewhere or when ``quiet``."""
    import importlib.util

    from ..display._live import in_kernel

    if quiet or not live:
        return "off"
    if in_kernel():
        return "widget" if importlib.util.find_spec("ipywidgets") is not None else "update"
    try:
        from IPython import get_ipython
    except ImportError:
        return "off"
    return "append" if get_ipython() is not None else "off"
