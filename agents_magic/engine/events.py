"""Run events: the engine emits them, sinks (live view, store, MLflow, reports) consume them.

Every event is a frozen dataclass carrying ``run_id``; ``at`` is a Unix timestamp. Events about
one node execution carry ``item``: the 0-based index of the item when the node runs once per item
of a map (``parallel:`` edge), else None; :func:`execution_label` names the execution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Union


@dataclass(frozen=True)
class RunStarted:
    """A run began; ``resumed`` when it continues an earlier failed or cancelled run of the
    same ``run_id`` from its checkpoint (the totals of :class:`RunFinished` then include what
    the earlier attempts spent)."""

    run_id: str
    workflow: str
    inputs: dict[str, Any]
    at: float
    nodes: tuple[str, ...] = ()
    yaml: str = ""
    resumed: bool = False


@dataclass(frozen=True)
class NodeStarted:
    """A node execution began. Exactly one closing event follows it: :class:`NodeFinished` or
    :class:`NodeFailed` (whose ``status`` is ``failed``, ``cancelled`` or ``interrupted``)."""

    run_id: str
    node_id: str
    iteration: int
    at: float
    provider: str = ""
    model: str = ""
    kind: str = "llm"
    item: int | None = None


@dataclass(frozen=True)
class TokenDelta:
    run_id: str
    node_id: str
    text: str
    item: int | None = None


@dataclass(frozen=True)
class ToolStarted:
    """The model asked for a tool call and it is about to run; :class:`ToolCalled` follows
    with the same ``call_id`` when it ends."""

    run_id: str
    node_id: str
    tool: str
    arguments: dict[str, Any]
    step: int = 1
    iteration: int = 1
    call_id: str = ""
    at: float = 0.0
    item: int | None = None


@dataclass(frozen=True)
class ToolCalled:
    """A tool call the model asked for has ended: ``result`` is a summary of what went back to
    the model (at most :data:`TOOL_SUMMARY_CHARS` characters), ``error`` is set when the call
    failed. ``step`` counts the node's rounds of tool calls from 1; calls of one round ran
    concurrently."""

    run_id: str
    node_id: str
    tool: str
    arguments: dict[str, Any]
    result: Any = None
    error: str | None = None
    duration_ms: float = 0.0
    step: int = 1
    iteration: int = 1
    call_id: str = ""
    at: float = 0.0
    item: int | None = None

    def record(self) -> dict[str, Any]:
        """The call as stored with its node execution."""
        return {"tool": self.tool, "arguments": self.arguments, "result": self.result,
                "error": self.error, "duration_ms": self.duration_ms, "step": self.step,
                "call_id": self.call_id}


TOOL_SUMMARY_CHARS = 500


@dataclass(frozen=True)
class NodeRetrying:
    """A call failed in a way worth retrying; the next attempt starts after ``delay_s``.

    Text streamed by the failed attempt is void: a view showing ``TokenDelta`` text clears the
    node's text here, since the next attempt streams its reply from the start.
    """

    run_id: str
    node_id: str
    attempt: int
    delay_s: float
    cause: str
    kind: str
    item: int | None = None


@dataclass(frozen=True)
class NodeFinished:
    run_id: str
    node_id: str
    iteration: int
    at: float
    started_at: float
    duration_ms: float
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    cached: bool
    outputs: dict[str, Any] = field(default_factory=dict)
    prompt: str = ""
    response: str = ""
    attempts: int = 1
    memory: tuple[dict[str, Any], ...] = ()  # memory read: {namespace, key, found, field}
    tool_calls: tuple[dict[str, Any], ...] = ()  # ToolCalled.record() of each call, in order
    item: int | None = None


@dataclass(frozen=True)
class NodeFailed:
    """A node execution ended without a result: it ``failed``, was ``cancelled`` (by the
    user, a budget stop or a failing sibling branch) or ``interrupted`` (it asked for an answer
    and runs again when the run is resumed with one). Usage counts every call it paid for,
    including, for a cancelled call in flight, the prompt tokens a provider bills anyway."""

    run_id: str
    node_id: str
    iteration: int
    at: float
    started_at: float
    duration_ms: float
    provider: str
    model: str
    error: str
    kind: str
    attempts: int = 1
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    status: str = "failed"  # failed | cancelled | interrupted
    prompt: str = ""  # the rendered prompt, when it got that far
    memory: tuple[dict[str, Any], ...] = ()  # memory read before it failed
    tool_calls: tuple[dict[str, Any], ...] = ()
    item: int | None = None
    response: str = ""  # the reply so far: streamed text, or the reply that did not parse


@dataclass(frozen=True)
class RunFinished:
    run_id: str
    status: str  # succeeded | failed | cancelled | budget_exceeded | interrupted
    outputs: dict[str, Any]
    at: float
    duration_ms: float
    cost_usd: float
    total_tokens: int
    error: str | None = None
    warnings: tuple[str, ...] = ()


def execution_label(node_id: str, item: int | None = None, iteration: int | None = 1) -> str:
    """How events, rows, reports and views name one node execution: ``summarize[3]`` for the
    item at index 3 of a map, ``review #2`` for the second run of a node on a loop, else the
    node id.

    Examples
    --------
    >>> execution_label("summarize", item=3)
    'summarize[3]'
    >>> execution_label("review", iteration=2)
    'review #2'
    """
    if item is not None:
        return f"{node_id}[{item}]"
    return node_id if (iteration or 1) == 1 else f"{node_id} #{iteration}"


RunEvent = Union[RunStarted, NodeStarted, TokenDelta, ToolStarted, ToolCalled, NodeRetrying,
                 NodeFinished, NodeFailed, RunFinished]
Sink = Callable[[RunEvent], Any]
