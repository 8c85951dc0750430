"""Run a workflow: inputs checked, graph compiled once, nodes run by their runners, events emitted.

The compiled graph is cached on the workflow. What drives a run's behaviour (the runs and calls of
nodes on cycles, loop passes) lives in the graph state, so a LangGraph checkpointer can save a run and
:func:`execute` with ``resume=True`` can continue it from the node that failed. What only
observes a run (events, totals, result rows) lives in a :class:`RunContext` passed through
LangGraph's ``config``; runs share nothing mutable.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
import uuid
import warnings
from collections import ChainMap
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphBubbleUp

from .._result import RunResult
from ..config._schema import LOOP_PREFIX, Edge, Node
from ..errors import AgentsMagicError, BudgetExceeded, ProviderError
from . import _llm, _memory
from ._compile import (CALLS, INTERNAL, LOOP_PASSES, MAP_ITEM, MAP_RESULTS, RoutingError, build,
                       compile_conditions, cyclic_nodes, gather_name)
from ._mapitem import ItemFailed, invoke
from ._runners import NodeOutcome, NodeRunner, Step, runner_for
from .events import NodeFailed, NodeFinished, NodeStarted, RunEvent, RunFinished, RunStarted, Sink

if TYPE_CHECKING:
    from ..tools._registry import NodeTool


class LoopLimitError(AgentsMagicError):
    """A node ran more often than ``config.execution.max_iterations`` allows."""


class RunContext:
    """What observes one run: sinks, totals, result rows, budget reservations."""

    def __init__(self, workflow: Any, sinks: Iterable[Sink], targets: dict[str, _llm.Target],
                 stream: bool, run_id: str | None, cache: _llm.Cache | None = None,
                 budget_usd: float | None = None, result_holder: list[RunResult] | None = None,
                 max_concurrency: int | None = None, memory_url: str | None = None,
                 tools: dict[str, list[NodeTool]] | None = None) -> None:
        self.workflow = workflow
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.sinks = list(sinks)
        self.targets = targets
        self.tools = tools or {}  # node id -> the tools it may call
        self.stream = stream
        self.cache = cache
        self.budget_usd = budget_usd
        # Receives the result even when the caller's await is cancelled.
        self.result_holder = result_holder if result_holder is not None else []
        self.execution = workflow.spec.config.execution
        self.max_concurrency = max_concurrency or self.execution.max_concurrency
        self.state: dict[str, Any] = {}
        self.rows: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self.cost_usd = 0.0
        self.tokens = 0
        self.reserved_usd = 0.0  # budget held by calls in flight
        self.started = time.time()
        self._broken_sinks: set[int] = set()
        self.memory_url = memory_url  # the run store holding memory (None: the session's)
        self._memory: Any = None

    async def memory(self) -> Any:
        """The run store's memory, opened (in a thread) on first use."""
        if self._memory is None:
            from ..store._memory import open_memory

            self._memory = await asyncio.to_thread(open_memory, self.memory_url)
        return self._memory

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

    def add_spend(self, cost_usd: float, tokens: int) -> None:
        self.cost_usd += cost_usd
        self.tokens += tokens

    def reserve(self, node_id: str, amount: float) -> float:
        """Hold ``amount`` of the budget for a call about to be sent, or raise BudgetExceeded.

        Calls in flight hold their worst case (prompt plus the largest reply), so parallel
        branches cannot all pass the check before anything is spent: total spend stays within
        the budget plus the estimation error of one call.
        """
        if self.budget_usd is None:
            return 0.0
        committed = self.cost_usd + self.reserved_usd
        if committed + amount > self.budget_usd:
            target = self.targets.get(node_id)
            hint = ("" if target is None or target.max_tokens else
                    "; set llm.max_tokens on the node to reserve less than the model's output limit")
            raise BudgetExceeded(
                f"node `{node_id}` not called: ${committed:.6f} spent or reserved + up to "
                f"${amount:.6f} for this call would exceed the budget of ${self.budget_usd:g}{hint}")
        self.reserved_usd += amount
        return amount

    def release(self, amount: float) -> None:
        self.reserved_usd -= amount

    def _row(self, step: Step, status: str, ended: float, error: str | None, cached: bool) -> dict[str, Any]:
        usage = step.usage
        step.closed = True  # its one closing event is on its way
        row = {"node_id": step.node.id, "iteration": step.iteration, "item": step.item, "status": status,
               "model": step.model, "provider": step.provider,
               "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
               "cost_usd": usage.cost_usd, "duration_ms": (ended - step.started) * 1000,
               "started_at": step.started, "cached": cached, "attempts": usage.attempts,
               "error": error, "tool_calls": len(step.tool_calls)}
        self.rows.append(row)
        return row

    def finished(self, step: Step, outcome: NodeOutcome, updates: dict[str, Any]) -> None:
        ended = time.time()
        self.state.update(public_state(updates))
        row = self._row(step, "succeeded", ended, None, outcome.cached)
        self.emit(NodeFinished(self.run_id, step.node.id, step.iteration, ended, step.started,
                               row["duration_ms"], row["provider"], row["model"],
                               row["prompt_tokens"], row["completion_tokens"], row["cost_usd"],
                               outcome.cached, outcome.updates, outcome.prompt, outcome.response,
                               row["attempts"], _memory_reads(step), tuple(step.tool_calls),
                               item=step.item))

    def failed(self, step: Step, status: str, kind: str, message: str, attempts: int) -> None:
        ended = time.time()
        step.usage.attempts = max(step.usage.attempts, attempts)
        row = self._row(step, status, ended, message, False)
        self.emit(NodeFailed(self.run_id, step.node.id, step.iteration, ended, step.started,
                             row["duration_ms"], row["provider"], row["model"], message, kind,
                             row["attempts"], row["prompt_tokens"], row["completion_tokens"],
                             row["cost_usd"], status, memory=_memory_reads(step),
                             tool_calls=tuple(step.tool_calls), item=step.item,
                             prompt=step.prompt, response=step.response))


def _went_on(node_id: str, exc: Exception) -> str:
    """The warning of a node that failed under ``on_error: continue``, naming it once."""
    if isinstance(exc, ProviderError):
        tried = f" after {exc.attempts} attempts" if exc.attempts > 1 else ""
        return (f"node `{node_id}` failed{tried} and the run went on (on_error: continue): "
                f"{exc.kind}: {exc.cause}")
    return f"node `{node_id}` failed and the run went on (on_error: continue): {exc}"


def _memory_reads(step: Step) -> tuple[dict[str, Any], ...]:
    return tuple(step.memory.reads) if step.memory is not None else ()


def _ctx(config: RunnableConfig) -> RunContext:
    return config["configurable"]["am_ctx"]


class _Facts:
    """What the wrapper needs to know of the graph, computed once per workflow."""

    def __init__(self, workflow: Any) -> None:
        spec = workflow.spec
        self.cyclic = cyclic_nodes(spec)
        self.loop_sources = {e.from_ for e in spec.edges if e.loop is not None}
        self.loop_exits: dict[str, list[str]] = {}
        for edge in spec.edges:
            if edge.loop is not None:
                self.loop_exits.setdefault(edge.loop.exit_to, []).append(edge.from_)
        self.memory = _memory.plans(workflow)


class _NodeFunction:
    """The one wrapper around every runner: visits, limits, events, timing, usage, rows, errors.

    A callable object rather than a closure: LangGraph disassembles node functions to look for
    subgraphs, which costs milliseconds per node of a large graph.
    """

    def __init__(self, node: Node, runner: NodeRunner, facts: _Facts) -> None:
        self.node, self.runner = node, runner
        self.passes_reset = {source: 0 for source in facts.loop_exits.get(node.id, ())}
        self.counts_loop = node.id in facts.loop_sources
        self.cyclic = node.id in facts.cyclic
        self.memory = facts.memory.get(node.id)  # None: no memory, nothing to do

    def _start(self, run: RunContext, iteration: int, prior_calls: int,
               item: int | None = None) -> Step:
        step = Step(run, self.node, iteration, prior_calls, item)
        run.emit(NodeStarted(run.run_id, self.node.id, iteration, step.started, step.provider,
                             step.model, self.node.kind, item))
        return step

    async def _attempt(self, state: dict[str, Any], step: Step) -> NodeOutcome:
        """Run the runner; a failure is recorded (row and event) and raised."""
        run = step.run
        try:
            if step.iteration > run.execution.max_iterations and MAP_ITEM not in state:
                raise LoopLimitError(
                    f"node `{self.node.id}` would run a {step.iteration}th time, over "
                    f"config.execution.max_iterations={run.execution.max_iterations}")
            if self.memory is None:
                return await self.runner.run(state, step)
            return await self._with_memory(self.memory, state, step)
        except asyncio.CancelledError:
            step.bill_cancelled_call()
            run.failed(step, "cancelled", "cancelled", "cancelled while running", 0)
            raise
        except GraphBubbleUp:  # `interrupt()`: the run pauses here and resumes with an answer
            run.failed(step, "interrupted", "interrupted", "waiting for an answer", 0)
            raise
        except Exception as exc:
            run.failed(step, "failed", getattr(exc, "kind", type(exc).__name__), str(exc),
                       getattr(exc, "attempts", 1))
            raise

    async def _with_memory(self, plan: _memory.MemoryPlan, state: dict[str, Any],
                           step: Step) -> NodeOutcome:
        """Load the node's memory into state, run it, store what it writes once it succeeded."""
        loaded, step.memory = await _memory.recall(plan, step.run, self.node.id)
        outcome = await self.runner.run({**state, **loaded} if loaded else state, step)
        updates = {**loaded, **outcome.updates}
        await _memory.store(plan, step.run, self.node.id, {**state, **updates}, step.memory)
        return dataclasses.replace(outcome, updates=updates) if loaded else outcome

    async def _item(self, state: dict[str, Any], run: RunContext, item: dict[str, Any]) -> dict[str, Any]:
        """One item of a map: its own execution (``item`` = index, iteration = index + 1); the
        result goes to the map's results, never straight into state fields that other items
        also write. A failure lets the other items finish first (see :class:`ItemFailed`)."""
        index = item["index"]
        step = self._start(run, index + 1, index, index)
        try:
            outcome = await self._attempt({**state, "item": item["value"], "index": index}, step)
        except (GraphBubbleUp, BudgetExceeded):
            raise
        except Exception as exc:
            if self.node.on_error != "continue":
                raise ItemFailed(exc) from exc
            value: Any = {"error": str(exc)}
        else:
            run.finished(step, outcome, {})
            outputs = outcome.updates
            value = outputs.get(self.node.outputs[0]) if len(self.node.outputs) == 1 else dict(outputs)
        return {MAP_RESULTS: {self.node.id: {"id": item["id"], "results": {index: value}}}}

    async def __call__(self, state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        node, run = self.node, _ctx(config)
        if MAP_ITEM in state:
            return await self._item(state, run, state[MAP_ITEM])
        # Only a node on a cycle runs more than once; its count and calls are in the state.
        iteration = state.get(LOOP_PREFIX + node.id, 0) + 1 if self.cyclic else 1
        step = self._start(run, iteration, (state.get(CALLS) or {}).get(node.id, 0) if self.cyclic else 0)
        try:
            outcome = await self._attempt(state, step)
        except (GraphBubbleUp, BudgetExceeded):
            raise
        except Exception as exc:
            if node.on_error != "continue":
                raise
            # Recorded as failed; the run goes on with the node's outputs as they were.
            run.warnings.append(_went_on(node.id, exc))
            outcome = NodeOutcome({})
        updates = dict(outcome.updates)
        if self.cyclic:
            updates[LOOP_PREFIX + node.id] = iteration
            if step.usage.calls:
                updates[CALLS] = {node.id: step.prior_calls + step.usage.calls}
        if self.counts_loop or self.passes_reset:
            passes = dict(self.passes_reset)
            if self.counts_loop:
                passes[node.id] = (state.get(LOOP_PASSES) or {}).get(node.id, 0) + 1
            updates[LOOP_PASSES] = passes
        if step.closed:
            run.state.update(public_state(updates))
        else:
            run.finished(step, outcome, updates)
        return updates


def _make_router(source: str, edges: list[Edge], fallback: list[str]) -> Any:
    conditions = compile_conditions(source, edges)

    def route(state: dict[str, Any], config: RunnableConfig) -> Any:
        for edge in edges:
            if edge.loop is not None:
                # Passes are counted per entry into the loop (the exit node resets them), so an
                # outer loop that comes back gets a fresh `max_iterations`.
                loop = edge.loop
                passes = (state.get(LOOP_PASSES) or {}).get(source, 0)
                if state.get(loop.condition_field) or passes >= loop.max_iterations:
                    if not state.get(loop.condition_field):
                        _ctx(config).warnings.append(
                            f"loop at `{source}` stopped after max_iterations={loop.max_iterations} "
                            f"without `{loop.condition_field}`")
                    return loop.exit_to
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


def _make_map(edge: Edge) -> tuple[Any, Any]:
    """A map's dispatch router (one ``Send`` per item) and its gather step."""
    from langgraph.types import Send

    spec = edge.parallel
    assert spec is not None
    target, gather = spec.target_node, gather_name(spec.target_node)

    def dispatch(state: dict[str, Any]) -> list[Any]:
        items = list(state.get(spec.items_field) or [])
        pass_id = uuid.uuid4().hex
        if not items:  # nothing to run: straight to the gather step, which collects []
            return [Send(gather, {**state, MAP_ITEM: {"id": pass_id}})]
        return [Send(target, {**state, MAP_ITEM: {"id": pass_id, "index": i, "value": value}})
                for i, value in enumerate(items)]

    async def collect(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        entry = None if MAP_ITEM in state else (state.get(MAP_RESULTS) or {}).get(target)
        results = entry["results"] if entry else {}
        values = [results[i] for i in sorted(results)]
        _ctx(config).state[spec.collect_field] = values
        return {spec.collect_field: values}

    dispatch.__name__ = f"map_{edge.from_}"
    return dispatch, collect


def compiled(workflow: Any) -> Any:
    """The workflow's LangGraph graph, compiled once and kept on the workflow."""
    graph = workflow._compiled.get("graph")
    if graph is None:
        facts = _Facts(workflow)
        graph = workflow._compiled["graph"] = build(
            workflow.spec, lambda node: _NodeFunction(node, runner_for(node), facts), _make_router,
            _make_map)
    return graph


def _targets(workflow: Any, overrides: dict[str, Any],
             fallback: dict[str, Any] | None) -> dict[str, _llm.Target]:
    """The nodes' LLM targets, resolved once per workflow, overrides, fallback and value of
    every API key variable they may read (a changed key is picked up by the next run)."""
    names = workflow._compiled.get("key_env")
    if names is None:
        spec = workflow.spec.config.llm
        layers = [spec, *((spec.providers or {}).values() if spec else ()),
                  *(node.llm for node in workflow.spec.nodes)]
        names = workflow._compiled["key_env"] = tuple(sorted(
            {*_llm.KEY_ENV.values(), *(layer.api_key_env for layer in layers
                                       if layer is not None and layer.api_key_env)}))
    key = (tuple(overrides.items()), tuple((fallback or {}).items()),
           tuple(map(os.environ.get, names)))
    last = workflow._compiled.get("targets")
    if last is not None and last[0] == key:
        return last[1]
    targets = _llm.resolve_nodes(workflow.spec, overrides, fallback)
    workflow._compiled["targets"] = (key, targets)
    return targets


def public_state(state: dict[str, Any]) -> dict[str, Any]:
    """The state without the channels that only drive the engine."""
    return {k: v for k, v in state.items() if k not in INTERNAL}


async def execute(workflow: Any, inputs: dict[str, Any] | None = None, *, sinks: Iterable[Sink] = (),
                  model: str | None = None, provider: str | None = None,
                  api_base: str | None = None, stream: bool = False,
                  run_id: str | None = None, result_holder: list[RunResult] | None = None,
                  cache: _llm.Cache | None = None, budget_usd: float | None = None,
                  fallback_llm: dict[str, Any] | None = None,
                  max_concurrency: int | None = None, checkpointer: Any = None,
                  resume: bool = False, answer: Any = None,
                  spent_before: tuple[float, int] = (0.0, 0),
                  memory_url: str | None = None,
                  tools: Mapping[str, Any] | None = None) -> RunResult:
    """Run ``workflow`` in the running event loop. Raises on bad inputs or settings (before any
    call); a run that starts always ends with a RunFinished event and a RunResult.

    With a ``checkpointer`` (a LangGraph saver), the run's state is saved when it ends, keyed
    by ``run_id``. ``resume=True`` continues that saved run instead of starting one: nodes that
    finished are not run again, the node that failed or was cancelled runs anew; ``inputs``
    are then the original inputs (for events) and ``spent_before`` what earlier attempts cost.

    ``tools`` maps the names in the nodes' ``tools:`` to functions (over those the workflow was
    loaded with); every node's tools are bound before the run starts, or ConfigError is raised.

    A node may pause the run with LangGraph's ``interrupt(question)``: the run ends with status
    ``interrupted`` (the question in ``RunResult.error``) and its checkpoint is kept; resuming
    with ``answer`` hands the answer to ``interrupt`` and goes on from that node.
    """
    state = dict(inputs or {}) if resume else workflow.initial_state(inputs)
    overrides = {k: v for k, v in {"model": model, "provider": provider, "api_base": api_base}.items() if v}
    targets = _targets(workflow, overrides, fallback_llm)
    bound = None
    if any(node.tools for node in workflow.spec.nodes):
        from ..tools._registry import node_tools

        layers = [m for m in (tools, workflow.functions) if m]  # this run's first; never copied
        bound = node_tools(workflow, ChainMap(*layers))  # type: ignore[arg-type]
    graph = compiled(workflow)
    ctx = RunContext(workflow, sinks, targets, stream, run_id, cache, budget_usd, result_holder,
                     max_concurrency, memory_url, bound)
    ctx.cost_usd, ctx.tokens = spent_before
    configurable: dict[str, Any] = {"am_ctx": ctx, "thread_id": ctx.run_id}
    options: dict[str, Any] = {}
    run_checkpoint = None
    if checkpointer is not None:
        from langgraph.constants import CONFIG_KEY_CHECKPOINTER

        from ._checkpoint import RunCheckpoint

        run_checkpoint = RunCheckpoint(checkpointer, fresh=not resume)
        configurable[CONFIG_KEY_CHECKPOINTER] = run_checkpoint
        options["durability"] = "exit"  # one checkpoint, when the run ends: no cost per step
    limit = ctx.execution.max_iterations * (len(workflow.spec.nodes) + 2) + 10
    config: RunnableConfig = {"configurable": configurable, "recursion_limit": limit}
    if resume:
        saved = await graph.aget_state(config)
        if not saved.values:
            raise AgentsMagicError(f"run `{ctx.run_id}` has no checkpoint to resume from")
        ctx.state = public_state(saved.values)
    else:
        ctx.state = dict(state)
    ctx.emit(RunStarted(ctx.run_id, workflow.name, dict(state), ctx.started,
                        tuple(workflow.node_ids), workflow.yaml, resume))
    t0 = time.perf_counter()
    status, error = "succeeded", None
    try:
        start: Any = state
        if resume:
            from langgraph.types import Command

            start = None if answer is None else Command(resume=answer)
        final = await invoke(graph, start, config, options)
        final = dict(final or {})
        paused = final.pop("__interrupt__", None)
        ctx.state.update(public_state(final))
        if paused:
            status, error = "interrupted", "; ".join(str(i.value) for i in paused)
    except asyncio.CancelledError:
        if run_checkpoint is not None:
            await _keep(run_checkpoint)
        _finish(ctx, "cancelled", "the run was cancelled", t0)
        raise
    except BudgetExceeded as exc:
        status, error = "budget_exceeded", str(exc)
    except (AgentsMagicError, RoutingError) as exc:
        status, error = "failed", str(exc)
    except Exception as exc:
        from langgraph.errors import GraphRecursionError

        from ..config._conditions import ConditionRuntimeError

        status, error = "failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if not isinstance(exc, (ConditionRuntimeError, GraphRecursionError)):
            _finish(ctx, status, f"{type(exc).__name__}: {error}", t0)  # sinks see the run end
            raise  # a bug: keep its traceback
    if run_checkpoint is not None and status != "succeeded":
        await _keep(run_checkpoint)
    return _finish(ctx, status, error, t0)


async def _keep(run_checkpoint: Any) -> None:
    """Write the checkpoint of a run that may be resumed; a failure to do so is a warning."""
    try:
        await asyncio.shield(run_checkpoint.persist())
    except asyncio.CancelledError:
        pass  # cancelled again while unwinding: the shielded write goes on
    except Exception as exc:
        warnings.warn(f"agents_magic: the run's checkpoint could not be saved, so it cannot be "
                      f"resumed: {exc!r}", RuntimeWarning, stacklevel=2)


def _finish(ctx: RunContext, status: str, error: str | None, t0: float) -> RunResult:
    duration = (time.perf_counter() - t0) * 1000
    outputs = dict(ctx.state)
    ctx.emit(RunFinished(ctx.run_id, status, outputs, time.time(), duration, ctx.cost_usd,
                         ctx.tokens, error, tuple(ctx.warnings)))
    result = RunResult(ctx.run_id, ctx.workflow.name, status, outputs, error, ctx.cost_usd,
                       ctx.tokens, duration, ctx.rows, ctx.warnings)
    ctx.result_holder.append(result)
    return result
