"""Memory scopes and namespaces (``{agent}:{workflow|*}:{node|*}``); nothing heavy imported."""

from __future__ import annotations

from ..config._schema import MEMORY_SCOPE_ALIASES, MEMORY_SCOPES
from ..errors import AgentsMagicError

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
