"""The public functions: ``load``, ``run`` (sync, works inside Jupyter), ``arun`` (async) and
``resume``/``aresume`` (continue a failed or cancelled run from its checkpoint)."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ._result import NODE_COLUMNS, RunResult
from ._workflow import Workflow, load
from .engine.events import Sink

if TYPE_CHECKING:
    from ._settings import Settings

RESUMABLE = frozenset({"failed", "cancelled", "budget_exceeded", "interrupted"})


def _workflow(workflow: Workflow | str | os.PathLike[str]) -> Workflow:
    return workflow if isinstance(workflow, Workflow) else load(workflow)


async def arun(workflow: Workflow | str | os.PathLike[str], inputs: dict[str, Any] | None = None, *,
               sinks: Iterable[Sink] = (), model: str | None = None, provider: str | None = None,
               api_base: str | None = None, stream: bool = False, run_id: str | None = None,
               cache: bool | None = None, persist: bool = True, budget_usd: float | None = None,
               settings: Settings | None = None, tools: Any = None,
               _result_holder: list[RunResult] | None = None) -> RunResult:
    """Run a workflow in the current event loop.

    Parameters
    ----------
    workflow
        A :class:`Workflow`, YAML text or a ``.yaml`` path.
    inputs
        Initial state values; required fields must be present.
    sinks
        Callables that receive every :mod:`RunEvent <agents_magic.engine.events>`.
    model, provider, api_base
        Override every node's LLM for this run.
    stream
        Stream tokens (emitted as ``TokenDelta`` events).
    cache
        Replay identical LLM calls from the disk cache (default: the session setting).
    persist
        Record the run in the run store and MLflow, as the session settings ask.
    budget_usd
        Stop before the call that would exceed this (default: ``config.execution.budget_usd``,
        then the session setting).
    settings
        The session settings the run reads, once (default: the session's).
    tools
        Functions the nodes' ``tools:`` name, for this run: a mapping name → function, or a
        list of functions and :class:`~agents_magic.tools.Tool` objects (over those given to
        :func:`load`).

    Raises
    ------
    ConfigError, InputError, ProviderError
        Before any LLM call, when the workflow, inputs, tools or LLM settings are unusable.
    """
    from .engine._run import execute

    wf = _workflow(workflow)
    options = await _run_options(wf, sinks, cache, persist, budget_usd, settings)
    return await execute(wf, inputs, model=model, provider=provider, api_base=api_base,
                         stream=stream, run_id=run_id, result_holder=_result_holder,
                         tools=_functions(tools), **options)


def _functions(tools: Any) -> Any:
    if tools is None:
        return None
    from .tools._registry import functions_of

    return functions_of(tools)


async def _run_options(wf: Workflow, sinks: Iterable[Sink], cache: bool | None, persist: bool,
                       budget_usd: float | None, settings: Settings | None = None
                       ) -> dict[str, Any]:
    """What the session settings add to a run: sinks, cache, budget, concurrency, checkpoints."""
    from ._settings import resolve

    settings = resolve(settings)
    sinks = list(sinks)
    checkpointer = None
    if persist:
        from .sinks import default_sinks

        sinks += [d for d in default_sinks(settings, wf.spec.config)
                  if all(d is not s for s in sinks)]
        if settings.store:
            from .engine import _checkpoint

            checkpointer = await _checkpoint.saver(
                _checkpoint.checkpoint_url(settings.resolved_storage_url, settings.data_dir))
    use_cache = settings.cache if cache is None else cache
    llm_cache = None
    if use_cache:
        from .sinks import open_cache

        llm_cache = open_cache(settings, force=cache is True)
    if budget_usd is None:
        budget_usd = wf.spec.config.execution.budget_usd
    if budget_usd is None:
        budget_usd = settings.budget_usd
    execution = wf.spec.config.execution
    concurrency = None if "max_concurrency" in execution.model_fields_set else settings.max_concurrency
    return {"sinks": sinks, "cache": llm_cache, "budget_usd": budget_usd,
            "fallback_llm": settings.llm_fallback, "max_concurrency": concurrency,
            "checkpointer": checkpointer, "memory_url": settings.resolved_storage_url}


async def aresume(run_id: str, workflow: Workflow | str | os.PathLike[str] | None = None, *,
                  sinks: Iterable[Sink] = (), model: str | None = None, provider: str | None = None,
                  api_base: str | None = None, stream: bool = False, cache: bool | None = None,
                  budget_usd: float | None = None, settings: Settings | None = None,
                  answer: Any = None, tools: Any = None,
                  _result_holder: list[RunResult] | None = None) -> RunResult:
    """Continue a failed, cancelled, over-budget or interrupted run from the node where it
    stopped (``answer`` is what an interrupted node asked for).

    Nodes that finished are not run again (their outputs come from the run's checkpoint); the
    run keeps its id and record, marked resumed, and its totals add what this attempt spends to
    what the earlier ones did. ``workflow`` may be a fixed version of the run's workflow (same
    node ids); by default the workflow recorded with the run is used. ``model``, ``provider``
    and ``api_base`` override every node's LLM, and ``tools`` supplies functions, as in
    :func:`arun`.
    """
    from ._reports import show_run
    from ._settings import resolve
    from .engine._run import execute
    from .errors import AgentsMagicError
    from .sinks import flush_sinks

    settings = resolve(settings)
    if not settings.store:
        raise AgentsMagicError("resume needs the run store (the `store` setting is off)")
    flush_sinks(kind="store")  # the run's last rows may still be on their way
    record = show_run(run_id, url=settings.resolved_storage_url)
    if record["status"] not in RESUMABLE:
        raise AgentsMagicError(f"run `{record['run_id']}` is `{record['status']}`: only a failed, "
                               "cancelled, budget_exceeded or interrupted run can be resumed")
    if workflow is None:
        if not record["yaml"]:
            raise AgentsMagicError(f"run `{record['run_id']}` has no recorded workflow; pass it")
        wf = load(record["yaml"], name=record["workflow"])
    else:
        wf = _workflow(workflow)
    options = await _run_options(wf, sinks, cache, True, budget_usd, settings)
    result = await execute(wf, record["inputs"], model=model, provider=provider, api_base=api_base,
                           stream=stream, run_id=record["run_id"], result_holder=_result_holder,
                           resume=True, answer=answer, tools=_functions(tools), spent_before=(record["cost_usd"] or 0.0,
                                                      record["total_tokens"] or 0), **options)
    earlier = [{c: row.get(c) for c in NODE_COLUMNS} | {"tool_calls": len(row.get("tool_calls") or ())}
               for row in record["nodes"]]  # stored as the calls themselves, counted in results
    result.node_rows[:0] = earlier
    return result


def resume(run_id: str, workflow: Workflow | str | os.PathLike[str] | None = None, *,
           refresh: Callable[..., None] | None = None, **options: Any) -> RunResult:
    """Synchronous :func:`aresume`; safe inside Jupyter, interruptible like :func:`run`."""
    return _wait(lambda holder: aresume(run_id, workflow, _result_holder=holder, **options), refresh)


def run(workflow: Workflow | str | os.PathLike[str], inputs: dict[str, Any] | None = None, *,
        refresh: Callable[..., None] | None = None, **options: Any) -> RunResult:
    """Run a workflow synchronously; safe where an event loop is already running (Jupyter).

    Takes the same options as :func:`arun`. On KeyboardInterrupt the run is cancelled and a
    result with status ``cancelled`` is returned. ``refresh`` is called on this thread while the
    run goes on (about 20 times a second) and once more, with ``final=True``, at the end; raising
    KeyboardInterrupt from it (a view's Stop button) cancels the run as a kernel interrupt does.
    """
    return _wait(lambda holder: arun(_workflow(workflow), inputs, _result_holder=holder, **options),
                 refresh)


def _wait(start: Callable[[list[RunResult]], Any], refresh: Callable[..., None] | None) -> RunResult:
    from .engine import _loop

    holder: list[RunResult] = []
    try:
        return _loop.wait(start(holder), refresh)
    except (KeyboardInterrupt, asyncio.CancelledError):
        if holder:
            return holder[0]
        raise
    finally:
        if refresh is not None:
            refresh(final=True)
