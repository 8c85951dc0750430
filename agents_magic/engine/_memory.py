"""A node's memory in a run: what it loads into state before it runs, what it stores after it
succeeds, and what a code node's ``memory`` object sees.

Plans are worked out once per workflow; a node without memory has no plan and costs nothing.
Store calls run in a thread, so the event loop never waits on the database.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config import _types
from ..errors import AgentsMagicError
from ..store._memory_names import MemoryStoreError, namespace

if TYPE_CHECKING:
    from ..config._schema import NodeMemory
    from ._run import RunContext

DEFAULT_SCOPE = "workflow"
# configurable-agents' default scope (`agent`) for a section written in its form (`enabled`).
CONFIGURABLE_AGENTS_SCOPE = "global"


@dataclass(frozen=True)
class MemoryPlan:
    """What one node reads and writes, in which namespace, for how long."""

    namespace: str
    scope: str
    ttl: float | None
    reads: tuple[tuple[str, str], ...]  # (state field, memory key)
    writes: tuple[tuple[str, str, str, int | None], ...]  # (memory key, state field, mode, keep)
    sandbox: bool  # a code node: its code gets a `memory` object over the namespace
    types: dict[str, Any]  # state field -> (type, schema), to check what is read


@dataclass
class NodeMemoryIO:
    """One execution's memory traffic: what was read (recorded with the run), what the
    node's code saw and asked to write."""

    namespace: str
    reads: list[dict[str, Any]] = field(default_factory=list)
    entries: dict[str, Any] | None = None  # for a code node's `memory` object
    ops: list[tuple[str, str, Any, int | None]] = field(default_factory=list)


def _defaults(spec: Any) -> dict[str, Any]:
    """The workflow's memory defaults: top-level ``memory:``, then ``config.memory:``."""
    merged: dict[str, Any] = {}
    for section in (spec.memory, spec.config.memory):
        if section is not None:
            merged.update(section.model_dump(exclude_none=True, exclude_unset=True))
    return merged


def plans(workflow: Any) -> dict[str, MemoryPlan]:
    """Each node's memory plan (nodes without memory, or with memory disabled, have none)."""
    spec = workflow.spec
    defaults = _defaults(spec)
    out: dict[str, MemoryPlan] = {}
    for node in spec.nodes:
        section: NodeMemory | None = node.memory
        if section is None:
            continue
        enabled = section.enabled if section.enabled is not None else defaults.get("enabled", True)
        if not enabled:
            continue
        scope = (section.scope or section.default_scope or defaults.get("default_scope")
                 or (CONFIGURABLE_AGENTS_SCOPE if section.enabled is not None else DEFAULT_SCOPE))
        reads = section.read or []
        read_pairs = tuple((f, f) for f in reads) if isinstance(reads, list) else tuple(reads.items())
        writes = section.write or []
        write_specs: list[tuple[str, str, str, int | None]] = []
        for key, target in ((f, f) for f in writes) if isinstance(writes, list) else writes.items():
            if isinstance(target, str):
                write_specs.append((key, target, "set", None))
            else:
                write_specs.append((key, target.field, target.mode, target.keep))
        fields = spec.state.fields
        out[node.id] = MemoryPlan(
            namespace(scope, workflow.name, node.id), scope,
            section.ttl if section.ttl is not None else defaults.get("default_ttl"),
            read_pairs, tuple(write_specs), node.kind == "code",
            {f: (fields[f].type, fields[f].schema_) for f, _ in read_pairs})
    return out


def _failure(node_id: str, action: str, exc: Exception) -> Exception:
    if isinstance(exc, AgentsMagicError):
        return exc
    first = str(exc).splitlines()[0] if str(exc) else ""
    return MemoryStoreError(f"node `{node_id}`: memory could not be {action}: "
                            f"{type(exc).__name__}: {first}")


async def recall(plan: MemoryPlan, run: RunContext, node_id: str
                 ) -> tuple[dict[str, Any], NodeMemoryIO]:
    """Load the node's ``read`` entries (state updates) and, for a code node, its namespace."""
    io = NodeMemoryIO(plan.namespace)
    keys = [key for _, key in plan.reads]
    if not keys and not plan.sandbox:
        return {}, io
    memory = await run.memory()

    def read() -> tuple[dict[str, Any], dict[str, Any] | None]:
        entries = ({row["key"]: row["value"] for row in memory.entries([plan.namespace])}
                   if plan.sandbox else None)
        values = ({k: entries[k] for k in keys if k in entries} if entries is not None
                  else memory.get_many(plan.namespace, keys))
        return values, entries

    try:
        values, io.entries = await asyncio.to_thread(read)
    except Exception as exc:
        raise _failure(node_id, "read", exc) from exc
    updates: dict[str, Any] = {}
    for state_field, key in plan.reads:
        found = key in values
        io.reads.append({"namespace": plan.namespace, "key": key, "found": found,
                         "field": state_field})
        if not found:
            continue  # the field keeps its value
        kind, schema = plan.types[state_field]
        try:
            updates[state_field] = _types.to_plain(
                _types.adapter(kind, schema).validate_python(values[key]))
        except Exception:
            raise MemoryStoreError(
                f"node `{node_id}`: memory `{key}` ({plan.scope} scope) holds "
                f"{_short(values[key])}, which is not a `{kind}` for state field "
                f"`{state_field}`") from None
    return updates, io


async def store(plan: MemoryPlan, run: RunContext, node_id: str, state: dict[str, Any],
                io: NodeMemoryIO) -> None:
    """Write the node's ``write`` entries from ``state`` and its code's writes, atomically."""
    ops = [(mode, key, state.get(state_field), keep)
           for key, state_field, mode, keep in plan.writes] + io.ops
    if not ops:
        return
    memory = await run.memory()
    try:
        await asyncio.to_thread(memory.apply, plan.namespace, ops, ttl=plan.ttl)
    except Exception as exc:
        raise _failure(node_id, "written", exc) from exc


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
