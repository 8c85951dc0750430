"""Reachability over a workflow's edges, shared by validation, compilation and estimates."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from ._schema import Edge


def reachable(succ: dict[str, set[str]], starts: Iterable[str], stop: str | None = None) -> set[str]:
    """Nodes reachable from ``starts`` (included) without passing through ``stop``."""
    seen: set[str] = set()
    queue = deque(starts)
    while queue:
        node = queue.popleft()
        if node in seen or node == stop:
            continue
        seen.add(node)
        queue.extend(succ.get(node, ()))
    return seen


def reverse(succ: dict[str, set[str]]) -> dict[str, set[str]]:
    """Predecessors of every node."""
    pred: dict[str, set[str]] = {}
    for source, targets in succ.items():
        for target in targets:
            pred.setdefault(target, set()).add(source)
    return pred


def split_edges(edges: Iterable[Edge]) -> tuple[list[str], list[Edge]]:
    """One node's outgoing edges as (targets always taken, edges that choose at run time)."""
    plain: list[str] = []
    routed: list[Edge] = []
    for edge in edges:
        if edge.routed:
            routed.append(edge)
        elif isinstance(edge.to, list):
            plain += edge.to
        elif edge.to is not None:
            plain.append(edge.to)
    return plain, routed
