"""A stored run drawn again: the run store's rows turned back into the events they record, fed
to the same view as a live run, so a replay and the live final picture are one code path."""

from __future__ import annotations

from typing import Any

from ..engine.events import NodeFailed, NodeFinished, NodeStarted, RunEvent, RunFinished, RunStarted


def events_of(record: dict[str, Any], nodes: tuple[str, ...] = ()) -> list[RunEvent]:
    """The events a stored run stands for (``record`` as ``_reports.show_run`` gives it)."""
    run = str(record["run_id"])
    events: list[RunEvent] = [RunStarted(run_id=run, workflow=record["workflow"],
                                         inputs=record.get("inputs") or {}, at=0.0, nodes=nodes)]
    closing: list[RunEvent] = []
    for row in record.get("nodes") or []:
        common = {"run_id": run, "node_id": row["node_id"], "iteration": row.get("iteration") or 1,
                  "at": 0.0, "item": row.get("item")}
        done = {**common, "started_at": 0.0, "duration_ms": row.get("duration_ms") or 0.0,
                "provider": row.get("provider") or "", "model": row.get("model") or "",
                "prompt_tokens": row.get("prompt_tokens") or 0,
                "completion_tokens": row.get("completion_tokens") or 0,
                "cost_usd": row.get("cost_usd") or 0.0, "attempts": row.get("attempts") or 1,
                "prompt": row.get("prompt") or "", "response": row.get("response") or "",
                "tool_calls": tuple(row.get("tool_calls") or ()),
                "memory": tuple(row.get("memory_reads") or ())}
        events.append(NodeStarted(provider=done["provider"], model=done["model"], **common))
        if row["status"] == "succeeded":
            end: RunEvent = NodeFinished(cached=bool(row.get("cached")),
                                         outputs=row.get("outputs") or {}, **done)
        else:
            end = NodeFailed(error=row.get("error") or "", kind=row.get("error_kind") or "",
                             status=row["status"], **done)
        # A map's items all start before any ends, as they did live, so its node's box ends on
        # the worst of them.
        (closing if common["item"] is not None else events).append(end)
    events += closing
    events.append(RunFinished(run_id=run, status=record["status"], outputs=record.get("outputs") or {},
                              at=0.0, duration_ms=record.get("duration_ms") or 0.0,
                              cost_usd=record.get("cost_usd") or 0.0,
                              total_tokens=record.get("total_tokens") or 0, error=record.get("error")))
    return events


def replay(run_id: str | None = None, *, url: str | None = None) -> Any:
    """The :class:`~.run_view.RunView` of a stored run (default: the latest), as it ended."""
    from .._reports import show_run
    from .._workflow import load
    from .run_view import LiveView

    record = show_run(run_id, url=url)
    workflow = load(record["yaml"], name=record["workflow"])
    live = LiveView(workflow)
    for event in events_of(record, tuple(n.id for n in workflow.spec.nodes)):
        live(event)
    live.settle()
    return live.view
