"""Memory namespaces and how a write combines with the stored value: pure functions shared by
the store (inside its locked transaction), the engine and the sandbox (so code reads its own
writes). Nothing heavy is imported here."""

from __future__ import annotations

from typing import Any

from ..config._schema import MEMORY_SCOPE_ALIASES, MEMORY_SCOPES
from ..errors import AgentsMagicError

MISSING: Any = object()
AGENT = "default"  # the ``{agent}`` part of every namespace
ANY = "*"


class MemoryStoreError(AgentsMagicError):
    """A memory call with a bad scope, key or value, or a write that cannot apply."""


def scope_name(scope: str) -> str:
    """``scope`` checked, with configurable-agents' ``agent`` read as ``global``."""
    scope = MEMORY_SCOPE_ALIASES.get(scope, scope)
    if scope not in MEMORY_SCOPES:
        raise MemoryStoreError(f"unknown memory scope `{scope}`; scopes: {', '.join(MEMORY_SCOPES)}")
    return scope


def namespace(scope: str, workflow: str | None = None, node: str | None = None,
              agent: str = AGENT) -> str:
    """The namespace of ``scope`` (``workflow`` needs a workflow name, ``node`` both)."""
    scope = scope_name(scope)
    if scope != "global" and not workflow:
        raise MemoryStoreError(f"the `{scope}` memory scope needs a workflow name")
    if scope == "node" and not node:
        raise MemoryStoreError("the `node` memory scope needs a node id")
    parts = [agent, workflow if scope != "global" else ANY, node if scope == "node" else ANY]
    return ":".join(str(p) for p in parts)


def describe(ns: str) -> dict[str, str | None]:
    """``{scope, workflow, node}`` of a namespace made by :func:`namespace`."""
    parts = ns.split(":")
    if len(parts) < 3:
        return {"scope": None, "workflow": None, "node": None}
    workflow, node = ":".join(parts[1:-1]), parts[-1]
    scope = "global" if workflow == ANY else "workflow" if node == ANY else "node"
    return {"scope": scope, "workflow": None if workflow == ANY else workflow,
            "node": None if node == ANY else node}


class MemoryValueError(TypeError):
    """A write that cannot apply to the stored value (adding a number to text)."""


def combine(mode: str, current: Any, value: Any, keep: int | None = None) -> Any:
    """The value after writing ``value`` with ``mode`` over ``current`` (``MISSING`` if none).

    ``set`` replaces; ``append`` adds an item to a list (a missing value starts one, a single
    value becomes the list's first item), keeping the last ``keep`` items; ``add`` adds a number.
    """
    if mode == "set":
        return value
    if mode == "append":
        items = [] if current is MISSING or current is None else (
            list(current) if isinstance(current, list) else [current])
        items.append(value)
        return items[-keep:] if keep else items
    if mode == "add":
        if not _number(value):
            raise MemoryValueError(f"`add` needs a number, got {type(value).__name__}")
        if current is MISSING or current is None:
            return value
        if not _number(current):
            raise MemoryValueError(f"cannot add to a stored {type(current).__name__}")
        return current + value
    raise MemoryValueError(f"unknown memory write mode `{mode}` (set, append or add)")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
