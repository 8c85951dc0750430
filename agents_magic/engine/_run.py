"""Run a workflow: inputs checked, graph compiled once, nodes called, events emitted to sinks.

The compiled graph is cached on the workflow; everything that belongs to one run lives in a
:class:`RunContext` passed through LangGraph's ``config``, so runs share nothing mutable.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import warnings
from collections import Counter
from typing import Any, Iterable

from langchain_core.runnables import RunnableConfig

from ..config._schema import Edge, Node
from ..config._template import reference, render
from ..errors import AgentsMagicError, BudgetExceeded
from . import _llm
from ._compile import LOOP_PREFIX, RoutingError, build, compile_conditions, cyclic_nodes
from ._structured import OutputMismatch, OutputSpec
from .events import (NodeFailed, NodeFinished, NodeRetrying, NodeStarted, RunEvent, RunFinished,
                     RunStarted, Sink, TokenDelta)
from .._result import RunResult


class LoopLimitError(AgentsMagicError):
    """A node ran more often than ``config.execution.max_iterations`` allows."""


class RunContext:
    """Mutable bookkeeping of one run."""

    def __init__(self, workflow: Any, sinks: Iterable[Sink], targets: dict[str, _llm.Target],
                 stream: bool, run_id: str | None, cache: _llm.Cache | None = None,
                 budget_usd: float | None = None, box: list[RunResult] | None = None,
                 max_concurrency: int | None = None) -> None:
        spec = workflow.spec
        self.workflow = workflow
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.sinks = list(sinks)
        self.targets = targets
        self.stream = stream
        self.cache = cache
        self.budget_usd = budget_usd
        self.box = box if box is not None else []  # receives the result even when cancelled
        self.execution = spec.config.execution
        self.semaphore = asyncio.Semaphore(max_concurrency or self.execution.max_concurrency)
        self.state: dict[str, Any] = {}
        self.visits: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.loop_passes: Counter[str] = Counter()  # per `loop:` edge, since the loop was entered
        self.cyclic = cyclic_nodes(spec)
        self.result: RunResult | None = None
        self.rows: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self.cost_usd = 0.0
        self.reserved_usd = 0.0  # estimates of budgeted calls in flight
        self.spent: dict[tuple[str, int], _llm.Completion] = {}  # calls made by a node still running
        self.tokens = 0
        self.started = time.time()
        self._broken_sinks: set[int] = set()

    def calls_for(self, node_id: str) -> int:
        """Index of this call among the node's calls in the run (for scripted mock replies)."""
        self.calls[node_id] += 1
        return self.calls[node_id] - 1

    def emit(self, event: RunEvent) -> None:
        for sink in self.sinks:
            if id(sink) in self._broken_sinks:
                continue
            try:
                sink(event)
            except Exception as exc:  # a sink must never break a run
                self._broken_sinks.add(id(sink))
                warnings.warn(f"agents_magic: sink {sink!r} failed and was detached: {exc!r}",
                              RuntimeWarning, stacklevel=2)


def _ctx(config: RunnableConfig) -> RunContext:
    return config["configurable"]["am_ctx"]


def _make_node(node: Node) -> Any:
    output = OutputSpec.of(node)
    renames = {local: reference(ref) for local, ref in (node.inputs or {}).items()}
    instructions = output.instructions()

    async def run_node(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        ctx = _ctx(config)
        ctx.visits[node.id] += 1
        iteration = ctx.visits[node.id]
        target = ctx.targets[node.id]
        started = time.time()
        ctx.emit(NodeStarted(ctx.run_id, node.id, iteration, started, target.provider, target.model))
        prompt = ""
        try:
            if iteration > ctx.execution.max_iterations:
                raise LoopLimitError(
                    f"node `{node.id}` would run a {iteration}th time, over "
                    f"config.execution.max_iterations={ctx.execution.max_iterations}")
            prompt = render(node.prompt or "", state, renames)
            messages = ([{"role": "system", "content": instructions}] if instructions else []) + [
                {"role": "user", "content": prompt}]
            completion, updates, attempts = await _call(ctx, node, target, output, messages, iteration)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            kind = getattr(exc, "kind", type(exc).__name__)
            attempts = getattr(exc, "attempts", 1)
            _record_failure(ctx, node.id, iteration, started, target, exc, kind, attempts)
            raise
        if node.id in ctx.cyclic:
            updates[LOOP_PREFIX + node.id] = iteration
        ended = time.time()
        duration = (ended - started) * 1000
        ctx.state.update(updates)
        ctx.spent.pop((node.id, iteration), None)
        ctx.cost_usd += completion.cost_usd
        ctx.tokens += completion.prompt_tokens + completion.completion_tokens
        ctx.rows.append({
            "node_id": node.id, "iteration": iteration, "status": "succeeded",
            "model": target.model, "provider": target.provider,
            "prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.completion_tokens,
            "cost_usd": completion.cost_usd, "duration_ms": duration, "started_at": started,
            "cached": completion.cached, "attempts": attempts, "error": None})
        ctx.emit(NodeFinished(ctx.run_id, node.id, iteration, ended, started, duration,
                              target.provider, target.model, completion.prompt_tokens,
                              completion.completion_tokens, completion.cost_usd, completion.cached,
                              updates, prompt, completion.text, attempts))
        return updates

    return run_node


async def _call(ctx: RunContext, node: Node, target: _llm.Target, output: OutputSpec,
                messages: list[dict[str, str]], iteration: int) -> tuple[Any, dict[str, Any], int]:
    """One model call plus, when the reply does not fit the schema, one repair round-trip."""
    on_token = (lambda text: ctx.emit(TokenDelta(ctx.run_id, node.id, text))) if ctx.stream else None

    def on_retry(attempt: int, delay: float, error: Any) -> None:
        ctx.emit(NodeRetrying(ctx.run_id, node.id, attempt, delay, str(error), error.kind))

    async def once(msgs: list[dict[str, str]], index: int) -> _llm.Completion:
        guess = 0.0
        if ctx.budget_usd is not None:
            # Calls in flight reserve their estimate, so parallel branches cannot all pass the
            # check while nothing has been spent yet.
            guess = _llm.estimate_cost(target, msgs)
            committed = ctx.cost_usd + ctx.reserved_usd
            if committed + guess > ctx.budget_usd:
                raise BudgetExceeded(
                    f"node `{node.id}` not called: ${committed:.6f} spent or reserved + about "
                    f"${guess:.6f} for this call would exceed the budget of ${ctx.budget_usd:g}")
            ctx.reserved_usd += guess
        try:
            async with ctx.semaphore:
                return await _llm.complete(target, msgs, response_format=output.response_format(),
                                           on_token=on_token, on_retry=on_retry, node_id=node.id,
                                           call_index=index, backoff_s=ctx.execution.retry_backoff,
                                           cache=ctx.cache)
        finally:
            ctx.reserved_usd -= guess

    first = await once(messages, ctx.calls_for(node.id))
    try:
        return first, output.parse(first.text), first.attempts
    except OutputMismatch as exc:
        problem = str(exc)
    ctx.spent[(node.id, iteration)] = first  # paid for even if the node fails from here
    repair = messages + [
        {"role": "assistant", "content": first.text},
        {"role": "user", "content": f"That reply was invalid: {problem}. Reply again with only "
                                    "the JSON object the schema asks for."}]
    second = await once(repair, ctx.calls_for(node.id))
    merged = _llm.Completion(second.text, first.prompt_tokens + second.prompt_tokens,
                             first.completion_tokens + second.completion_tokens,
                             first.cost_usd + second.cost_usd, first.attempts + second.attempts)
    ctx.spent[(node.id, iteration)] = merged
    try:
        return merged, output.parse(second.text), merged.attempts
    except OutputMismatch as exc:
        from ..errors import NodeOutputError

        raise NodeOutputError(f"{exc} (also after one repair request)", node=node.id,
                              provider=target.provider, model=target.model,
                              attempts=merged.attempts, kind="invalid_output") from None


def _record_failure(ctx: RunContext, node_id: str, iteration: int, started: float,
                    target: _llm.Target, exc: BaseException, kind: str, attempts: int) -> None:
    ended = time.time()
    duration = (ended - started) * 1000
    message = str(exc)
    spent = ctx.spent.pop((node_id, iteration), None) or _llm.Completion("", 0, 0, 0.0)
    ctx.cost_usd += spent.cost_usd
    ctx.tokens += spent.prompt_tokens + spent.completion_tokens
    ctx.rows.append({
        "node_id": node_id, "iteration": iteration, "status": "failed", "model": target.model,
        "provider": target.provider, "prompt_tokens": spent.prompt_tokens,
        "completion_tokens": spent.completion_tokens, "cost_usd": spent.cost_usd,
        "duration_ms": duration, "started_at": started, "cached": False, "attempts": attempts,
        "error": message})
    ctx.emit(NodeFailed(ctx.run_id, node_id, iteration, ended, started, duration, target.provider,
                        target.model, message, kind, attempts))


def _make_router(source: str, edges: list[Edge], fallback: list[str]) -> Any:
    conditions = compile_conditions(edges)

    def route(state: dict[str, Any], config: RunnableConfig) -> Any:
        ctx = _ctx(config)
        for edge in edges:
            if edge.loop is not None:
                # Passes are counted per entry into the loop, so an outer loop that comes back
                # gets a fresh `max_iterations`.
                loop = edge.loop
                passes = ctx.loop_passes[source] + 1
                if state.get(loop.condition_field) or passes >= loop.max_iterations:
                    ctx.loop_passes[source] = 0
                    if not state.get(loop.condition_field):
                        ctx.warnings.append(f"loop at `{source}` stopped after max_iterations="
                                            f"{loop.max_iterations} without `{loop.condition_field}`")
                    return loop.exit_to
                ctx.loop_passes[source] = passes
                return edge.to if isinstance(edge.to, str) else source
            if edge.condition is not None and conditions[edge.condition](state):
                return edge.to
            for r in edge.routes or []:
                if r.logic.strip() == "default" or conditions[r.logic](state):
                    return r.to
        if fallback:
            return fallback if len(fallback) > 1 else fallback[0]
        raise RoutingError(f"no condition matched after `{source}`; add a default route "
                           f"or a plain edge from `{source}`")

    route.__name__ = f"route_{source}"
    return route


def _compiled(workflow: Any) -> Any:
    graph = workflow._compiled.get("graph")
    if graph is None:
        graph = workflow._compiled["graph"] = build(workflow.spec, _make_node, _make_router)
    return graph


async def execute(workflow: Any, inputs: dict[str, Any] | None = None, *, sinks: Iterable[Sink] = (),
                  model: str | None = None, provider: str | None = None,
                  api_base: str | None = None, stream: bool = False,
                  run_id: str | None = None, box: list[RunResult] | None = None,
                  cache: _llm.Cache | None = None, budget_usd: float | None = None,
                  fallback_llm: dict[str, Any] | None = None,
                  max_concurrency: int | None = None) -> RunResult:
    """Run ``workflow`` in the running event loop. Raises on bad inputs or settings (before any
    call); a run that starts always ends with a RunFinished event and a RunResult."""
    state = workflow.initial_state(inputs)
    overrides = {k: v for k, v in {"model": model, "provider": provider, "api_base": api_base}.items() if v}
    targets = _llm.resolve_nodes(workflow.spec, overrides, fallback_llm)
    graph = _compiled(workflow)
    ctx = RunContext(workflow, sinks, targets, stream, run_id, cache, budget_usd, box, max_concurrency)
    ctx.state = dict(state)
    ctx.emit(RunStarted(ctx.run_id, workflow.name, dict(state), ctx.started,
                        tuple(workflow.node_ids), workflow.yaml))
    t0 = time.perf_counter()
    status, error = "succeeded", None
    limit = ctx.execution.max_iterations * (len(workflow.spec.nodes) + 2) + 10
    try:
        final = await graph.ainvoke(state, config={"configurable": {"am_ctx": ctx},
                                                   "recursion_limit": limit})
        ctx.state.update(final or {})
    except asyncio.CancelledError:
        status, error = "cancelled", "the run was cancelled"
        _finish(ctx, status, error, t0)
        raise
    except BudgetExceeded as exc:
        status, error = "budget_exceeded", str(exc)
    except (AgentsMagicError, RoutingError) as exc:
        status, error = "failed", str(exc)
    except Exception as exc:
        from ..config._conditions import ConditionRuntimeError

        status, error = "failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if not isinstance(exc, ConditionRuntimeError) and "Recursion limit" not in str(exc):
            _finish(ctx, status, f"{type(exc).__name__}: {error}", t0)  # sinks see the run end
            raise  # a bug: keep its traceback
    return _finish(ctx, status, error, t0)


def _finish(ctx: RunContext, status: str, error: str | None, t0: float) -> RunResult:
    duration = (time.perf_counter() - t0) * 1000
    outputs = dict(ctx.state)
    ctx.emit(RunFinished(ctx.run_id, status, outputs, time.time(), duration, ctx.cost_usd,
                         ctx.tokens, error, tuple(ctx.warnings)))
    ctx.result = RunResult(ctx.run_id, ctx.workflow.name, status, outputs, error, ctx.cost_usd,
                           ctx.tokens, duration, ctx.rows, ctx.warnings)
    ctx.box.append(ctx.result)
    return ctx.result

