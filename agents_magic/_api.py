"""The public functions: ``load``, ``run`` (sync, works inside Jupyter) and ``arun`` (async)."""

from __future__ import annotations

import asyncio
import os
from typing import Any, Callable, Iterable

from ._result import RunResult
from ._workflow import Workflow
from .config._loader import load
from .engine.events import Sink


def _workflow(workflow: Workflow | str | os.PathLike[str]) -> Workflow:
    return workflow if isinstance(workflow, Workflow) else load(workflow)


async def arun(workflow: Workflow | str | os.PathLike[str], inputs: dict[str, Any] | None = None, *,
               sinks: Iterable[Sink] = (), model: str | None = None, provider: str | None = None,
               api_base: str | None = None, stream: bool = False, run_id: str | None = None,
               cache: bool | None = None, persist: bool = True, budget_usd: float | None = None,
               _box: list[RunResult] | None = None) -> RunResult:
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

    Raises
    ------
    ConfigError, InputError, ProviderError
        Before any LLM call, when the workflow, inputs or LLM settings are unusable.
    """
    from . import _settings
    from .engine._run import execute

    settings = _settings.settings
    wf = _workflow(workflow)
    if persist:
        from .sinks import default_sinks

        sinks = list(sinks)
        sinks += [d for d in default_sinks(settings) if all(d is not s for s in sinks)]
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
    return await execute(wf, inputs, sinks=sinks, model=model, provider=provider, api_base=api_base,
                         stream=stream, run_id=run_id, box=_box, cache=llm_cache,
                         budget_usd=budget_usd, fallback_llm=settings.llm_fallback,
                         max_concurrency=concurrency)


def run(workflow: Workflow | str | os.PathLike[str], inputs: dict[str, Any] | None = None, *,
        refresh: Callable[..., None] | None = None, **options: Any) -> RunResult:
    """Run a workflow synchronously; safe where an event loop is already running (Jupyter).

    Takes the same options as :func:`arun`. On KeyboardInterrupt the run is cancelled and a
    result with status ``cancelled`` is returned. ``refresh`` is called on this thread while the
    run goes on (about 20 times a second) and once more, with ``final=True``, at the end.
    """
    from .engine import _loop

    box: list[RunResult] = []
    try:
        return _loop.wait(arun(_workflow(workflow), inputs, _box=box, **options), refresh)
    except (KeyboardInterrupt, asyncio.CancelledError):
        if box:
            return box[0]
        raise
    finally:
        if refresh is not None:
            refresh(final=True)
