"""The runs browser: the run store as a table (filter, sort) where selecting a run shows its run
view rebuilt from the store, and selecting two shows them side by side with their differences."""

from __future__ import annotations

from typing import Any

import anywidget
import traitlets as t
from ipywidgets import widget_serialization

from ._assets import asset
from ._replay import replay
from .run_view import RunView

COMPARED = ("state", "duration_ms", "tokens", "total_cost")
TEXTS = ("outputs", "prompt", "response")  # compared from each node's detail panel


class RunsBrowser(anywidget.AnyWidget):
    """Recent runs; ``selected`` (one or two run ids) shows their views and a node comparison."""

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
            data["text/plain"] = f"runs browser: {len(self.runs)} runs"
        return bundle


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
                     "changed": [k for k in (*COMPARED, *TEXTS) if pick[0][k] != pick[1][k]]})
    return rows


def _number(value: Any, scale: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if number != number else round(number / scale, 6)  # NaN: not recorded


def _when(value: Any) -> str:
    text = str(value) if value is not None else ""
    return text[:19].replace("T", " ")  # to the second, not the nanosecond
