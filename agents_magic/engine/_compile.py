"""Compile a validated workflow into a LangGraph ``StateGraph``.

Nodes become async runners, ``condition``/``routes``/``loop`` edges become routers, and the
targets of a fan-out (``to: [a, b]``) are joined by one waiting edge into their common successor,
so the join runs once after every branch has finished.
"""

from __future__ import annotations

import typing
from collections import deque
from typing import Annotated, Any, Awaitable, Callable

from ..config._conditions import compile_condition
from ..config._graph import reachable
from ..config._schema import END, START, Edge, WorkflowSpec

LOOP_PREFIX = "_loop_iteration_"


class RoutingError(RuntimeError):
    """No outgoing edge of a node matched the state."""


def _last(_old: Any, new: Any) -> Any:
    # Parallel branches may write the same field in one step; the last write wins.
    return new


def cyclic_nodes(spec: WorkflowSpec) -> set[str]:
    """Nodes that can run more than once (they lie on a cycle)."""
    succ = successors(spec)
    return {n.id for n in spec.nodes if n.id in reachable(succ, succ.get(n.id, set()))}


def successors(spec: WorkflowSpec) -> dict[str, set[str]]:
    succ: dict[str, set[str]] = {}
    for edge in spec.edges:
        succ.setdefault(edge.from_, set()).update(edge.targets)
    return succ


def _distances(succ: dict[str, set[str]], start: str) -> dict[str, int]:
    dist, queue = {start: 0}, deque([start])
    while queue:
        node = queue.popleft()
        for nxt in succ.get(node, ()):
            if nxt not in dist:
                dist[nxt] = dist[node] + 1
                queue.append(nxt)
    return dist


def joins(spec: WorkflowSpec) -> dict[str, list[str]]:
    """For each fan-out's common successor: the branch nodes that must all finish first."""
    succ = successors(spec)
    plain: dict[str, set[str]] = {}
    for edge in spec.edges:
        if isinstance(edge.to, str) and edge.condition is None and edge.loop is None:
            plain.setdefault(edge.from_, set()).add(edge.to)
    out: dict[str, list[str]] = {}
    for edge in spec.edges:
        if not isinstance(edge.to, list) or len(edge.to) < 2:
            continue
        dists = [_distances(succ, t) for t in edge.to]
        common = set.intersection(*(set(d) for d in dists)) - {END, *edge.to}
        if not common:
            continue
        join = min(common, key=lambda n: (max(d[n] for d in dists), sum(d[n] for d in dists), n))
        branch = set().union(*(reachable(succ, [t], stop=join) for t in edge.to))
        sources = sorted(n for n in branch if join in plain.get(n, ()))
        if len(sources) > 1:
            out[join] = sorted(set(out.get(join, [])) | set(sources))
    return out


NodeFn = Callable[..., Awaitable[dict[str, Any]]]
RouterFactory = Callable[[str, list[Edge], list[str]], Callable[..., Any]]


def state_schema(spec: WorkflowSpec) -> type:
    keys: dict[str, Any] = {name: Annotated[Any, _last] for name in spec.state.fields}
    for node_id in cyclic_nodes(spec):
        keys[LOOP_PREFIX + node_id] = Annotated[int, _last]
    return typing.TypedDict("WorkflowState", keys, total=False)  # type: ignore[operator]


def build(spec: WorkflowSpec, make_node: Callable[[Any], NodeFn], make_router: RouterFactory) -> Any:
    """The compiled LangGraph graph; node and router callables come from the run module."""
    from langgraph.graph import END as LG_END
    from langgraph.graph import START as LG_START
    from langgraph.graph import StateGraph

    names = {START: LG_START, END: LG_END}
    builder = StateGraph(state_schema(spec))
    for node in spec.nodes:
        builder.add_node(node.id, make_node(node))
    waiting = joins(spec)
    consumed = {(src, join) for join, sources in waiting.items() for src in sources}
    for join, sources in waiting.items():
        builder.add_edge(sources, join)
    by_source: dict[str, list[Edge]] = {}
    for edge in spec.edges:
        by_source.setdefault(edge.from_, []).append(edge)
    for source, edges in by_source.items():
        plain = [t for e in edges if e.condition is None and e.loop is None and not e.routes
                 for t in (e.to if isinstance(e.to, list) else [e.to])]
        routed = [e for e in edges if e.condition is not None or e.loop is not None or e.routes]
        if routed:
            targets = sorted({t for e in edges for t in e.targets})
            router = make_router(source, routed, plain)
            builder.add_conditional_edges(names.get(source, source), router,
                                          {t: names.get(t, t) for t in targets})
            continue
        for target in plain:
            if (source, target) not in consumed:
                builder.add_edge(names.get(source, source), names.get(target, target))
    return builder.compile()


def compile_conditions(edges: list[Edge]) -> dict[str, Any]:
    """Compiled condition per source text (checked at load, so this cannot fail)."""
    out = {}
    for edge in edges:
        if edge.condition is not None:
            out[edge.condition] = compile_condition(edge.condition)
        for route in edge.routes or []:
            if route.logic.strip() != "default":
                out[route.logic] = compile_condition(route.logic)
    return out
