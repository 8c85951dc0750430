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
    """One node's outgoing edges as (targets always taken, edges that choose at run time); a
    map's target counts as always taken."""
    plain: list[str] = []
    routed: list[Edge] = []
    for edge in edges:
        if edge.routed:
            routed.append(edge)
        elif edge.parallel is not None:
            plain.append(edge.parallel.target_node)
        elif isinstance(edge.to, list):
            plain += edge.to
        elif edge.to is not None:
            plain.append(edge.to)
    return plain, routed


def meeting_points(succ: dict[str, set[str]], targets: list[str], end: str = "END"
                   ) -> dict[str, tuple[set[int], list[str]]]:
    """Where the branches of one fan-out (``to: targets``) meet.

    Each meeting node maps to the branches (indexes into ``targets``) that can reach it and
    its predecessors inside the branches, which it waits for. A node is a meeting point when
    its predecessors inside the branches come from different sets of branches (a node after a
    join, or inside one branch, is not).
    """
    pred = reverse(succ)
    branches: dict[str, set[int]] = {}
    for index, target in enumerate(targets):
        for node in reachable(succ, [target]):
            branches.setdefault(node, set()).add(index)
    out: dict[str, tuple[set[int], list[str]]] = {}
    for node, arriving in branches.items():
        if node == end or node in targets or len(arriving) < 2:
            continue
        # Only what comes before the node feeds it: a loop back into it is no branch arriving.
        before = reachable(succ, [targets[i] for i in arriving], stop=node)
        feeders = sorted(p for p in pred.get(node, ()) if p in before)
        if len(feeders) < 2 or len({frozenset(branches[p]) for p in feeders}) < 2:
            continue
        out[node] = (arriving, feeders)
    return out


def outside_feeders(succ: dict[str, set[str]], source: str, targets: list[str], join: str) -> list[str]:
    """Predecessors of ``join`` outside the fan-out ``source -> targets`` that ``source`` also
    reaches without the fan-out: they would start ``join`` a second time."""
    around = reachable({k: v - set(targets) if k == source else v for k, v in succ.items()},
                       [source], stop=join)
    inside = reachable(succ, targets)
    return sorted(p for p in reverse(succ).get(join, ()) if p in around and p not in inside)
