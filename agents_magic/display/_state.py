"""A run's picture for the views, folded from RunEvents: one entry per node, the totals, and
what a node's detail panel shows. Pure data; no IPython, no widgets."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from ._fallback import failure_text, kind_text
from ..engine.events import (NodeFailed, NodeFinished, NodeRetrying, NodeStarted, RunFinished,
                             RunStarted, TokenDelta)

TEXT_CHARS = 4000  # streamed text kept per running node (the tail)
DETAIL_CHARS = 20000
ERROR_CHARS = 300
SEVERITY = {"succeeded": 0, "cached": 0, "interrupted": 1, "cancelled": 2, "failed": 3}




class RunState:
    """What a view draws; ``apply`` takes events (any thread, callers lock), ``snapshot`` copies."""

    def __init__(self, nodes: dict[str, str] | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.status = "starting"
        self.nodes: dict[str, dict[str, Any]] = {n: _pending(k) for n, k in (nodes or {}).items()}
        self.details: dict[str, dict[str, str]] = {}
        self.started: dict[str, float] = {}
        self.worst: dict[str, str] = {}  # the worst ending among a node's overlapping executions
        self.run_started: float | None = None
        self.finished: RunFinished | None = None
        self.error = ""

    def apply(self, event: Any) -> None:
        now = self._clock()
        if isinstance(event, RunStarted):
            self.status, self.run_started = "running", now
            for n in event.nodes:
                self.nodes.setdefault(n, _pending("llm"))
        elif isinstance(event, NodeStarted):
            node = self.nodes.setdefault(event.node_id, _pending(event.kind))
            if not node["active"]:  # a map runs one node many times at once: one box for all
                node.update(error="", reason="", text="", attempt=1)
                self.started[event.node_id], self.worst[event.node_id] = now, "succeeded"
            model = f"{event.provider}/{event.model}" if event.provider else event.model
            node.update(state="running", kind=event.kind, iteration=event.iteration, model=model,
                        active=node["active"] + 1)
        elif isinstance(event, TokenDelta):
            node = self.nodes.get(event.node_id)
            if node is not None:
                node["text"] = (node["text"] + event.text)[-TEXT_CHARS:]
        elif isinstance(event, NodeRetrying):
            node = self.nodes.get(event.node_id)
            if node is not None:
                node.update(state="retrying", attempt=event.attempt + 1, text="",
                            reason=f"{kind_text(event.kind)}: {_short(event.cause, 120)}")
        elif isinstance(event, NodeFinished):
            node = self._close(event, "cached" if event.cached else "succeeded", "")
            node.update(model=f"{event.provider}/{event.model}" if event.provider else event.model,
                        attempt=event.attempts)
            self.details[event.node_id] = {
                "prompt": event.prompt[:DETAIL_CHARS], "response": event.response[:DETAIL_CHARS],
                "outputs": _json(event.outputs), "error": ""}
        elif isinstance(event, NodeFailed):
            self._close(event, event.status,
                        failure_text(event, ERROR_CHARS) if event.status == "failed" else "")
            self.details[event.node_id] = {"prompt": event.prompt[:DETAIL_CHARS], "response": "",
                                           "outputs": "", "error": event.error[:DETAIL_CHARS]}
        elif isinstance(event, RunFinished):
            self.finished, self.status = event, event.status
            stated = any(n["error"] for n in self.nodes.values())  # a node's error is said once
            self.error = "" if stated else _short(event.error or "", ERROR_CHARS)
            for node in self.nodes.values():
                if node["state"] == "pending":
                    node["state"] = "skipped"

    def _close(self, event: NodeFinished | NodeFailed, state: str, error: str) -> dict[str, Any]:
        """One execution of a node ended; the node shows its ending once none is left running."""
        node = self.nodes.setdefault(event.node_id, _pending("llm"))
        node["active"] = max(0, node["active"] - 1)
        worst = max(self.worst.get(event.node_id, state), state, key=lambda s: SEVERITY.get(s, 0))
        self.worst[event.node_id] = worst
        tokens = event.prompt_tokens + event.completion_tokens
        node.update(state=worst if not node["active"] else "running", iteration=event.iteration,
                    duration_ms=round(event.duration_ms, 1), cost=event.cost_usd, tokens=tokens,
                    runs=node.get("runs", 0) + 1, total_cost=node.get("total_cost", 0.0) + event.cost_usd,
                    total_tokens=node.get("total_tokens", 0) + tokens)
        if not node["active"]:
            node.update(text="", reason="")
        if error:
            node["error"] = error
        return node

    def snapshot(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(nodes, totals)`` as plain JSON-able copies; running nodes carry their elapsed time."""
        now = self._clock()
        nodes = {}
        for name, node in self.nodes.items():
            copy = dict(node)
            if copy["state"] in ("running", "retrying"):
                copy["elapsed_s"] = round(now - self.started.get(name, now), 2)
            nodes[name] = copy
        return nodes, self.totals(now)

    def totals(self, now: float | None = None) -> dict[str, Any]:
        now = self._clock() if now is None else now
        done = sum(n["state"] in ("succeeded", "cached") for n in self.nodes.values())
        if self.finished is not None:
            f = self.finished
            return {"elapsed_s": round(f.duration_ms / 1000, 2), "tokens": f.total_tokens,
                    "cost": f.cost_usd, "done": done, "total": len(self.nodes),
                    "error": self.error}
        return {"elapsed_s": round(now - self.run_started, 2) if self.run_started else 0.0,
                "tokens": sum(n.get("total_tokens", 0) for n in self.nodes.values()),
                "cost": sum(n.get("total_cost", 0.0) for n in self.nodes.values()),
                "done": done, "total": len(self.nodes), "error": self.error}


def _pending(kind: str) -> dict[str, Any]:
    return {"state": "pending", "kind": kind, "iteration": 0, "duration_ms": 0.0, "tokens": 0,
            "cost": 0.0, "model": "", "error": "", "reason": "", "attempt": 0, "text": "", "active": 0}


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json(value: Any) -> str:
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)[:DETAIL_CHARS]
    except (TypeError, ValueError):
        return repr(value)[:DETAIL_CHARS]
