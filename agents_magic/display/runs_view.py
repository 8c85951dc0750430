"""The runs browser: the run store as a table (filter, sort) where selecting a run shows its run
view rebuilt from the store, and selecting two shows them side by side with their differences."""

from __future__ import annotations

from typing import Any

import anywidget
import traitlets as t
from ipywidgets import widget_serialization

from ._assets import asset
from ._html import esc, no_math, one_line, usd
from ._replay import replay
from .run_view import RunView

COMPARED = ("state", "duration_ms", "tokens", "total_cost")
TEXTS = ("outputs", "prompt", "response")  # compared from each node's detail panel
STATIC_ROWS = 50  # runs listed in the static picture of a saved notebook
STATIC_TEXT = 80  # characters of a differing text shown there
LABELS = {"duration_ms": "time", "total_cost": "cost"}  # a compared field's name in the picture
BOLD = ' style="font-weight:bold"'  # a selected run's row
SAME_TIME = (0.1, 20.0)  # times within 10 % or 20 ms of each other are the same (timing noise)


class RunsBrowser(anywidget.AnyWidget):
    """Recent runs; ``selected`` (one or two run ids) shows their views and a node comparison.

    The output bundle also holds a static HTML picture of the same (the runs, the differences,
    the selected views), for saved notebooks read without a kernel."""

    _esm = asset("runs_view.js")
    _css = asset("run_view.css")
    runs = t.List().tag(sync=True)  # {run_id, workflow, status, started, duration_s, tokens, cost}
    selected = t.List(t.Unicode()).tag(sync=True)
    views = t.List(t.Instance(RunView)).tag(sync=True, **widget_serialization)
    diff = t.List().tag(sync=True)  # per node: {node, a: {...}, b: {...}, changed: [fields]}
    # the selected run's workflow, per node across its runs: {node_id, executions, p50_ms, …}
    percentiles = t.List().tag(sync=True)

    def __init__(self, *, name: str | None = None, last: int = 200, url: str | None = None) -> None:
        from .._reports import runs
        from ..sinks import flush_sinks

        flush_sinks(kind="store")  # the latest run's rows may still be on their way
        frame = runs(name, last=last, url=url)
        rows = [{"run_id": str(r.run_id), "workflow": str(r.workflow), "status": str(r.status),
                 "started": _when(r.started_at), "duration_s": _number(r.duration_ms, 1000),
                 "tokens": int(_number(r.total_tokens, 1)), "cost": _number(r.cost_usd, 1)}
                for r in frame.itertuples()]
        super().__init__(runs=rows)
        self._url = url
        self.observe(self._select, names=["selected"])

    def _select(self, change: dict[str, Any]) -> None:
        from .._reports import node_percentiles

        chosen = list(change["new"])[-2:]
        views = [replay(run_id, url=self._url) for run_id in chosen]
        spread = node_percentiles(views[-1].workflow, url=self._url) if views else None
        with self.hold_sync():
            self.views = views
            self.diff = compare(views[0], views[1]) if len(views) == 2 else []
            self.percentiles = spread.to_dict("records") if spread is not None else []

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if isinstance(data, dict):
            data["text/html"] = self.static_html()
            data["text/plain"] = f"runs browser: {len(self.runs)} runs"
        return bundle

    def static_html(self) -> str:
        """The runs, the differences of two selected runs and their views, as HTML without
        JavaScript: what a saved notebook shows without a kernel (GitHub, nbviewer, nbconvert)."""
        chosen = set(self.selected)
        shown = self.runs[:STATIC_ROWS] + [r for r in self.runs[STATIC_ROWS:] if r["run_id"] in chosen]
        rows = "".join(
            f"<tr{BOLD if r['run_id'] in chosen else ''}>"
            f"<td><code>{esc(r['run_id'][:12])}</code></td><td>{esc(r['workflow'])}</td>"
            f"<td>{esc(r['status'])}</td><td>{esc(r['started'])}</td><td>{r['duration_s']:.2f}</td>"
            f"<td>{r['tokens']}</td><td>{esc(usd(r['cost']))}</td></tr>" for r in shown)
        more = len(self.runs) - len(shown)
        parts = [f"<div><b>runs browser</b> · {len(self.runs)} runs"
                 + (f" ({more} more not listed here)" if more else "") + "</div>",
                 "<table><tr><th>run</th><th>workflow</th><th>status</th><th>started</th>"
                 f"<th>time (s)</th><th>tokens</th><th>cost</th></tr>{rows}</table>"]
        if self.diff:
            parts.append(_static_diff(self.diff))
        parts += [f"<div style='margin-top:8px'>{v.static_html()}</div>" for v in self.views]
        return no_math("".join(parts), "am-runs-static")


def compare(a: RunView, b: RunView) -> list[dict[str, Any]]:
    """Node by node, the two runs' state, time, tokens, cost, outputs, prompt and response, and
    which of them differ."""
    rows = []
    for node in dict.fromkeys([*a.nodes, *b.nodes]):
        left, right = a.nodes.get(node, {}), b.nodes.get(node, {})
        texts = a.details.get(node, {}), b.details.get(node, {})
        pick = ({**{k: left.get(k) for k in COMPARED}, **{k: texts[0].get(k, "") for k in TEXTS}},
                {**{k: right.get(k) for k in COMPARED}, **{k: texts[1].get(k, "") for k in TEXTS}})
        rows.append({"node": node, "a": pick[0], "b": pick[1],
                     "changed": [k for k in (*COMPARED, *TEXTS) if differs(k, pick[0][k], pick[1][k])]})
    return rows


def differs(key: str, first: Any, second: Any) -> bool:
    """Whether a compared field differs between two runs; a time only beyond timing noise."""
    if key != "duration_ms" or first is None or second is None:
        return bool(first != second)
    relative, absolute = SAME_TIME
    return abs(first - second) > max(absolute, relative * max(abs(first), abs(second)))


def _static_diff(rows: list[dict[str, Any]]) -> str:
    """Per node, the fields that differ between the two runs: ``first → second``."""
    changed = [r for r in rows if r["changed"]]
    if not changed:
        return "<div><b>differences</b>: none (same states, numbers and texts)</div>"
    body = "".join(
        f"<tr><td><code>{esc(r['node'])}</code></td><td>{esc(LABELS.get(k, k))}</td>"
        f"<td>{esc(_field(k, r['a'][k]))}</td><td>{esc(_field(k, r['b'][k]))}</td></tr>"
        for r in changed for k in r["changed"])
    return ("<div><b>differences</b> (first → second)</div><table><tr><th>node</th><th>field</th>"
            f"<th>first</th><th>second</th></tr>{body}</table>")


def _field(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if key == "duration_ms":
        return f"{value / 1000:.2f}s"
    if key == "total_cost":
        return usd(value)
    return one_line(value, STATIC_TEXT)


def _number(value: Any, scale: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if number != number else round(number / scale, 6)  # NaN: not recorded


def _when(value: Any) -> str:
    text = str(value) if value is not None else ""
    return text[:19].replace("T", " ")  # to the second, not the nanosecond
