"""Compile a validated workflow into a LangGraph ``StateGraph``.

Nodes become async runners, ``condition``/``routes``/``loop`` edges become routers, and the
targets of a fan-out (``to: [a, b]``) meet at their common successor, which runs once after every
branch has finished (see :func:`joins`).
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


def joins(spec: WorkflowSpec) -> dict[str, list[str] | None]:
    """Each fan-out's join (the branches' common successor) and how it waits.

    When every branch is a plain chain, the join waits on one edge from the branches' last
    nodes (``[sources]``), which also nests. When a branch routes or loops, which nodes will
    reach the join is only known at run time: the join is then deferred (``None``) and LangGraph
    runs it once every running branch has finished.
    """
    succ = successors(spec)
    routed = {e.from_ for e in spec.edges if e.condition is not None or e.loop is not None or e.routes}
    cyclic = cyclic_nodes(spec)
    out: dict[str, list[str] | None] = {}
    for edge in spec.edges:
        if not isinstance(edge.to, list) or len(edge.to) < 2:
            continue
        dists = [_distances(succ, t) for t in edge.to]
        common = set.intersection(*(set(d) for d in dists)) - {END, *edge.to}
        if not common:
            continue
        join = min(common, key=lambda n: (max(d[n] for d in dists), sum(d[n] for d in dists), n))
        branch = reachable(succ, edge.to, stop=join)
        sources = sorted(n for n in branch if join in succ.get(n, ()))
        plain = not (branch & (routed | cyclic)) and out.get(join, []) is not None
        out[join] = sorted(set(out.get(join) or []) | set(sources)) if plain else None
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
    waiting = joins(spec)
    for node in spec.nodes:
        deferred = node.id in waiting and waiting[node.id] is None
        builder.add_node(node.id, make_node(node), defer=deferred)
    consumed = set()
    for join, sources in waiting.items():
        if sources:
            builder.add_edge(sources, join)
            consumed |= {(source, join) for source in sources}
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
