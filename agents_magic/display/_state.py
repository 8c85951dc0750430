"""A run's picture for the views, folded from RunEvents: one entry per node, the totals, and
what a node's detail panel shows. Pure data; no IPython, no widgets."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from ._fallback import failure_text, kind_text
from ._html import one_line
from ..engine.events import (NodeFailed, NodeFinished, NodeRetrying, NodeStarted, RunFinished,
                             RunStarted, TokenDelta, ToolCalled, ToolStarted, execution_label)

TEXT_CHARS = 4000  # streamed text kept per running node (the tail)
DETAIL_CHARS = 20000
ITEM_CHARS = 2000  # prompt, response, … kept per map item in its node's detail panel
ERROR_CHARS = 300
SEVERITY = {"succeeded": 0, "cached": 0, "interrupted": 1, "cancelled": 2, "failed": 3}
ACTIVE = ("running", "retrying")
Key = tuple[str, int, int | None]  # (node, iteration, map item) of one node execution


class RunState:
    """What a view draws; ``apply`` takes events (any thread, callers lock), ``snapshot`` and
    ``details`` copy.

    A node is one box however often it runs (a map runs it once per item, at once): the box
    shows the worst ending among its overlapping executions, a map's item counts, the tool call
    in flight and the text of one running execution; each execution keeps its own detail."""

    def __init__(self, nodes: dict[str, str] | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.status = "starting"
        self.nodes: dict[str, dict[str, Any]] = {n: _pending(k) for n, k in (nodes or {}).items()}
        self.runs: dict[Key, dict[str, Any]] = {}  # each execution: state, label, detail texts
        self.latest: dict[str, Key] = {}  # a node's latest execution (for a node that is no map)
        self.calls: dict[str, dict[str, str]] = {}  # node -> {call_id: tool} of calls in flight
        self.started: dict[str, float] = {}
        self.worst: dict[str, str] = {}  # the worst ending among a node's overlapping executions
        self.retrying: dict[str, int] = {}  # node -> its executions waiting to try again
        self.run_started: float | None = None
        self.finished: RunFinished | None = None
        self.error = ""
        self.changes = 0  # events that can change details() (every kind but streamed tokens)

    def apply(self, event: Any) -> None:
        now = self._clock()
        if not isinstance(event, TokenDelta):
            self.changes += 1
        if isinstance(event, RunStarted):
            self.status, self.run_started = "running", now
            for n in event.nodes:
                self.nodes.setdefault(n, _pending("llm"))
        elif isinstance(event, NodeStarted):
            self._started(event, now)
        elif isinstance(event, TokenDelta):
            self._token(event)
        elif isinstance(event, NodeRetrying):
            self._retrying(event)
        elif isinstance(event, ToolStarted):
            self.calls.setdefault(event.node_id, {})[event.call_id] = event.tool
            self._tool_caption(event.node_id)
        elif isinstance(event, ToolCalled):
            self.calls.get(event.node_id, {}).pop(event.call_id, None)
            run = self.runs.get((event.node_id, event.iteration, event.item))
            if run is not None:
                run["tool_calls"].append(event.record())
            node = self.nodes.get(event.node_id)
            if node is not None:
                node["tool_calls"] = node.get("tool_calls", 0) + 1
            self._tool_caption(event.node_id)
        elif isinstance(event, NodeFinished):
            node = self._close(event, "cached" if event.cached else "succeeded", "")
            node.update(model=f"{event.provider}/{event.model}" if event.provider else event.model,
                        attempt=event.attempts)
            self._record(event, event.response, _json(event.outputs), "")
        elif isinstance(event, NodeFailed):
            self._close(event, event.status,
                        failure_text(event, ERROR_CHARS) if event.status == "failed" else "")
            self._record(event, event.response, "", event.error)
        elif isinstance(event, RunFinished):
            self.finished, self.status = event, event.status
            stated = any(n["error"] for n in self.nodes.values())  # a node's error is said once
            self.error = "" if stated else one_line(event.error or "", ERROR_CHARS)
            for node in self.nodes.values():
                if node["state"] == "pending":
                    node["state"] = "skipped"

    def _started(self, event: NodeStarted, now: float) -> None:
        node = self.nodes.setdefault(event.node_id, _pending(event.kind))
        if not node["active"]:  # a map runs one node many times at once: one box for all
            node.update(error="", reason="", retry="", text="", stream="", attempt=1)
            self.started[event.node_id], self.worst[event.node_id] = now, "succeeded"
            self.retrying[event.node_id] = 0
            if event.item is not None:
                node["items"] = _no_items()
        model = f"{event.provider}/{event.model}" if event.provider else event.model
        node.update(state=self._active_state(event.node_id), kind=event.kind,
                    iteration=event.iteration, model=model, active=node["active"] + 1)
        key = (event.node_id, event.iteration, event.item)
        self.runs[key] = {"label": execution_label(*key[::2], event.iteration), "state": "running",
                          "item": event.item, "text": "", "tool_calls": [], "prompt": "",
                          "response": "", "outputs": "", "error": ""}
        self.latest[event.node_id] = key
        if event.item is not None:
            counts = node.setdefault("items", _no_items())
            counts["total"] += 1
            counts["running"] += 1

    def _retrying(self, event: NodeRetrying) -> None:
        """An execution waits to try again: counted (a map's item among its items) and said on
        the box in short (``rate limit, waiting 1 s``), in full in the detail panel."""
        node, run = self.nodes.get(event.node_id), self._running(event.node_id, event.item)
        if run is not None:
            if run["state"] != "retrying":
                self.retrying[event.node_id] = self.retrying.get(event.node_id, 0) + 1
                counts = node.get("items") if node is not None else None
                if counts is not None and event.item is not None:
                    counts["running"] = max(0, counts["running"] - 1)
                    counts["retrying"] = counts.get("retrying", 0) + 1
            run.update(state="retrying", text="")
        if node is not None:
            wait = f", waiting {round(event.delay_s, 1):g} s" if event.delay_s > 0 else ""
            which = f"{run['label']}: " if run is not None and event.item is not None else ""
            node.update(state="retrying", attempt=event.attempt + 1, text="",
                        retry=f"{kind_text(event.kind)}{wait}",
                        reason=f"{which}{kind_text(event.kind)}: {one_line(event.cause, 120)}")

    def _active_state(self, node_id: str) -> str:
        return "retrying" if self.retrying.get(node_id) else "running"

    def _running(self, node_id: str, item: int | None) -> dict[str, Any] | None:
        """The running execution of a node (of its map item ``item``) that events without an
        iteration (tokens, retries) belong to."""
        key = self.latest.get(node_id)
        if key is not None and key[2] == item:
            return self.runs[key]
        found = [r for (n, _, i), r in self.runs.items() if n == node_id and i == item
                 and r["state"] in ACTIVE]
        return found[-1] if found else None

    def _token(self, event: TokenDelta) -> None:
        node, run = self.nodes.get(event.node_id), self._running(event.node_id, event.item)
        if node is None or run is None:
            return
        run["text"] = (run["text"] + event.text)[-TEXT_CHARS:]
        followed = next((r for r in self.runs.values() if r["label"] == node["stream"]), None)
        if followed is None or followed["state"] not in ACTIVE:
            node["stream"] = run["label"]  # a map streams many replies at once: follow one
        if node["stream"] == run["label"]:
            node["text"] = run["text"]

    def _tool_caption(self, node_id: str) -> None:
        node = self.nodes.get(node_id)
        if node is not None:
            node["tool"] = ", ".join(dict.fromkeys(self.calls.get(node_id, {}).values()))

    def _close(self, event: NodeFinished | NodeFailed, state: str, error: str) -> dict[str, Any]:
        """One execution of a node ended; the node shows its ending once none is left running."""
        node = self.nodes.setdefault(event.node_id, _pending("llm"))
        node["active"] = max(0, node["active"] - 1)
        run = self.runs.get((event.node_id, event.iteration, event.item))
        was = "retrying" if run is not None and run["state"] == "retrying" else "running"
        if was == "retrying":
            self.retrying[event.node_id] = max(0, self.retrying.get(event.node_id, 0) - 1)
        worst = max(self.worst.get(event.node_id, state), state, key=lambda s: SEVERITY.get(s, 0))
        self.worst[event.node_id] = worst
        tokens = event.prompt_tokens + event.completion_tokens
        node.update(state=self._active_state(event.node_id) if node["active"] else worst,
                    iteration=event.iteration,
                    duration_ms=round(event.duration_ms, 1), cost=event.cost_usd, tokens=tokens,
                    runs=node.get("runs", 0) + 1, total_cost=node.get("total_cost", 0.0) + event.cost_usd,
                    total_tokens=node.get("total_tokens", 0) + tokens)
        counts = node.get("items")
        if counts is not None and event.item is not None:
            counts[was] = max(0, counts.get(was, 0) - 1)
            counts[{"succeeded": "done", "cached": "done", "failed": "failed"}.get(
                state, "cancelled")] += 1
        if not node["active"]:
            node.update(text="", reason="", retry="", stream="", tool="")
            self.calls.pop(event.node_id, None)
        elif node["state"] != "retrying":
            node.update(reason="", retry="")  # the items left running are past their retries
        if error:
            node["error"] = error
        return node

    def _record(self, event: NodeFinished | NodeFailed, response: str, outputs: str,
                error: str) -> None:
        """What the execution's detail shows: prompt, reply, outputs, error, tool calls."""
        key = (event.node_id, event.iteration, event.item)
        run = self.runs.setdefault(key, {"label": execution_label(*key[::2], event.iteration),
                                         "item": event.item, "text": "", "tool_calls": []})
        state = "cached" if getattr(event, "cached", False) else getattr(event, "status", "succeeded")
        node = self.nodes[event.node_id]  # calls seen live are counted; a replay has only these
        node["tool_calls"] = node.get("tool_calls", 0) + max(0, len(event.tool_calls) - len(run["tool_calls"]))
        run.update(state=state, text="", prompt=event.prompt[:DETAIL_CHARS],
                   response=response[:DETAIL_CHARS], outputs=outputs, error=error[:DETAIL_CHARS],
                   tool_calls=list(event.tool_calls) or run["tool_calls"])
        self.latest[event.node_id] = key

    def details(self) -> dict[str, dict[str, Any]]:
        """Per node, what its detail panel shows: the latest execution's prompt, response,
        outputs, error and tool calls; a map node lists each item's under its label."""
        out: dict[str, dict[str, Any]] = {}
        for node, key in self.latest.items():
            if key[2] is None:
                run = self.runs[key]
                if run["state"] in ACTIVE and not run["tool_calls"]:
                    continue  # nothing to show before it ends (its text streams on the node)
                out[node] = {**{k: run[k] for k in PARTS}, "tool_calls": _calls(run["tool_calls"])}
                continue
            items = sorted((r for (n, _, i), r in self.runs.items() if n == node and i is not None),
                           key=lambda r: r["item"])
            out[node] = {**dict.fromkeys(PARTS, ""), "tool_calls": [], "items": [
                {"label": r["label"], "state": r["state"],
                 **{k: r[k][:ITEM_CHARS] for k in PARTS}, "tool_calls": _calls(r["tool_calls"])}
                for r in items]}
        return out

    def snapshot(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(nodes, totals)`` as plain JSON-able copies; running nodes carry their elapsed time."""
        now = self._clock()
        nodes = {}
        for name, node in self.nodes.items():
            copy = dict(node)
            if "items" in copy:
                copy["items"] = dict(copy["items"])
            if copy["state"] in ACTIVE:
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


PARTS = ("prompt", "response", "outputs", "error")


def _calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool calls as the detail panel lists them: arguments and result as short text."""
    return [{"tool": c.get("tool", ""), "arguments": one_line(_json_line(c.get("arguments")), 300),
             "result": one_line(_json_line(c.get("result")), 300) if c.get("result") is not None else "",
             "error": c.get("error") or "", "duration_ms": round(float(c.get("duration_ms") or 0), 1),
             "step": c.get("step", 1)} for c in calls]


def _pending(kind: str) -> dict[str, Any]:
    return {"state": "pending", "kind": kind, "iteration": 0, "duration_ms": 0.0, "tokens": 0,
            "cost": 0.0, "model": "", "error": "", "reason": "", "retry": "", "attempt": 0, "text": "",
            "stream": "", "tool": "", "active": 0}


def _no_items() -> dict[str, int]:
    """A map node's item counts before its first item starts."""
    return {"total": 0, "done": 0, "running": 0, "retrying": 0, "failed": 0, "cancelled": 0}


def _json(value: Any) -> str:
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)[:DETAIL_CHARS]
    except (TypeError, ValueError):
        return repr(value)[:DETAIL_CHARS]


def _json_line(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)
