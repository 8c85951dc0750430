"""Compile a validated workflow into a LangGraph ``StateGraph``.

Nodes become async runners, ``condition``/``routes``/``loop`` edges become routers, and the
targets of a fan-out (``to: [a, b]``) meet at their common successor, which runs once after every
branch has finished (see :func:`joins`). A map (``parallel:``) sends its target one LangGraph
``Send`` per item; each item's result lands in :data:`MAP_RESULTS`, and a gather step after the
target puts them, in item order, into the collect field before the target's own edges go on.
"""

from __future__ import annotations

import typing
from typing import Annotated, Any, Awaitable, Callable

from ..config._conditions import compile_condition
from ..config._graph import meeting_points, reachable, split_edges
from ..config._schema import END, LOOP_PREFIX, START, Edge, WorkflowSpec

# Channels of the graph state that drive a run (so a checkpoint holds everything a resumed run
# needs), besides `_loop_iteration_<id>`: the calls made by each node on a cycle (mock scripts
# cycle through them) and the passes of each `loop:` edge.
CALLS, LOOP_PASSES = "_am_calls", "_am_loop_passes"
# A map's results so far: target → {"id": one pass of the map, "results": {index: value}}.
MAP_RESULTS = "_am_map_results"
# Key of a `Send` payload that makes the target run for one item (or the gather step for none).
MAP_ITEM = "_am_map_item"
INTERNAL = (CALLS, LOOP_PASSES, MAP_RESULTS)


class RoutingError(RuntimeError):
    """No outgoing edge of a node matched the state."""


def _last(_old: Any, new: Any) -> Any:
    # Parallel branches may write the same field in one step; the last write wins.
    return new


def _merge(old: dict[str, int] | None, new: dict[str, int]) -> dict[str, int]:
    return {**(old or {}), **new}


def _merge_maps(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    # Items of one pass add up; a new pass (another id) starts afresh.
    out = dict(old or {})
    for target, entry in new.items():
        before = out.get(target)
        if before is not None and before["id"] == entry["id"]:
            entry = {**entry, "results": {**before["results"], **entry["results"]}}
        out[target] = entry
    return out


def gather_name(target: str) -> str:
    """The graph node that collects a map's results (not an identifier, so never a node id)."""
    return f"{target}[collect]"


def cyclic_nodes(spec: WorkflowSpec) -> set[str]:
    """Nodes that can run more than once: those on a cycle (Tarjan's strongly connected
    components, iteratively, so it is linear in the size of the graph)."""
    succ = successors(spec)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cyclic: set[str] = set()
    for root in list(succ):
        if root in index:
            continue
        work = [(root, iter(succ.get(root, ())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(succ.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in succ.get(node, ()):
                    cyclic.update(component)
    return cyclic - {START, END}


def successors(spec: WorkflowSpec) -> dict[str, set[str]]:
    succ: dict[str, set[str]] = {}
    for edge in spec.edges:
        succ.setdefault(edge.from_, set()).update(edge.targets)
    return succ


def joins(spec: WorkflowSpec) -> dict[str, list[str] | None]:
    """Where the branches of each fan-out meet, and how the meeting node waits.

    The rule: a node reached from several branches of one fan-out (``to: [a, b, ...]``) runs
    once, after every one of those branches that can still reach it has got there; branches
    that cannot reach it (``c -> END``) are not waited for. When the branches feeding a join
    are plain chains, the join waits on one edge from their last nodes (``[sources]``; this
    nests). When one of them routes or loops, which branches arrive is known only at run time:
    the join is then deferred (``None``) and runs once, when nothing else is left to run.
    """
    succ = successors(spec)
    routed = {e.from_ for e in spec.edges if e.routed}
    cyclic = cyclic_nodes(spec)
    out: dict[str, list[str] | None] = {}
    for edge in spec.edges:
        if not isinstance(edge.to, list) or len(edge.to) < 2:
            continue
        for join, (arriving, feeders) in meeting_points(succ, edge.to).items():
            region = reachable(succ, [edge.to[i] for i in arriving], stop=join)
            plain = not (region & (routed | cyclic)) and out.get(join, []) is not None
            out[join] = sorted(set(out.get(join) or []) | set(feeders)) if plain else None
    return out


NodeFn = Callable[..., Awaitable[dict[str, Any]]]
RouterFactory = Callable[[str, list[Edge], list[str]], Callable[..., Any]]
MapFactory = Callable[[Edge], tuple[Callable[..., Any], NodeFn]]  # (dispatch router, gather step)


def state_schema(spec: WorkflowSpec) -> type:
    keys: dict[str, Any] = {name: Annotated[Any, _last] for name in spec.state.fields}
    for node_id in cyclic_nodes(spec):
        keys[LOOP_PREFIX + node_id] = Annotated[int, _last]
    for channel in (CALLS, LOOP_PASSES):
        keys[channel] = Annotated[dict, _merge]
    keys[MAP_RESULTS] = Annotated[dict, _merge_maps]
    return typing.TypedDict("WorkflowState", keys, total=False)  # type: ignore[operator]


def build(spec: WorkflowSpec, make_node: Callable[[Any], NodeFn], make_router: RouterFactory,
          make_map: MapFactory) -> Any:
    """The compiled LangGraph graph; node, router and map callables come from the run module."""
    from langgraph.graph import END as LG_END
    from langgraph.graph import START as LG_START
    from langgraph.graph import StateGraph

    names = {START: LG_START, END: LG_END}
    builder = StateGraph(state_schema(spec))
    waiting = joins(spec)
    for node in spec.nodes:
        deferred = node.id in waiting and waiting[node.id] is None
        builder.add_node(node.id, make_node(node), defer=deferred)
    # A map target's own edges leave from its gather step, which runs once all items are done.
    after: dict[str, str] = {}
    for edge in spec.edges:
        if edge.parallel is not None:
            target, gather = edge.parallel.target_node, gather_name(edge.parallel.target_node)
            dispatch, collect = make_map(edge)
            builder.add_node(gather, collect)
            builder.add_edge(target, gather)
            builder.add_conditional_edges(names.get(edge.from_, edge.from_), dispatch, [target, gather])
            after[target] = gather
    consumed = set()
    for join, sources in waiting.items():
        if sources:
            builder.add_edge([after.get(s, s) for s in sources], join)
            consumed |= {(source, join) for source in sources}
    by_source: dict[str, list[Edge]] = {}
    for edge in spec.edges:
        if edge.parallel is None:
            by_source.setdefault(edge.from_, []).append(edge)
    for source, edges in by_source.items():
        plain, routed = split_edges(edges)
        if routed:
            targets = sorted({t for e in edges for t in e.targets})
            router = make_router(source, routed, plain)
            builder.add_conditional_edges(after.get(source, names.get(source, source)), router,
                                          {t: names.get(t, t) for t in targets})
            continue
        for target in plain:
            if (source, target) not in consumed:
                builder.add_edge(after.get(source, names.get(source, source)), names.get(target, target))
    return builder.compile()


def compile_conditions(source: str, edges: list[Edge]) -> dict[str, Any]:
    """Compiled condition per source text (checked at load, so this cannot fail); run-time
    errors name the edge."""
    out = {}
    for edge in edges:
        if edge.condition is not None:
            out[edge.condition] = compile_condition(edge.condition, where=f"edge {source} → {edge.to}")
        for route in edge.routes or []:
            if route.logic.strip() != "default":
                out[route.logic] = compile_condition(route.logic, where=f"edge {source} → {route.to}")
    return out
