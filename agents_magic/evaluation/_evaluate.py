"""``evaluate``: a workflow over a dataset — every variant on every row, each repeat — scored,
with everything checked before the first call and a partial result on an interrupt."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..errors import AgentsMagicError, AgentsMagicWarning, InputError
from . import _data, _gates, _judge, _metrics, _variants
from ._executor import Executor, LocalExecutor, RowTask
from ._result import EvalResult
from ._rows import RowRunner

if TYPE_CHECKING:
    from .._settings import Settings
    from .._workflow import Workflow


class GateFailed(AgentsMagicError):
    """A ``fail`` gate was missed; ``result`` is the evaluation."""

    def __init__(self, message: str, result: EvalResult) -> None:
        super().__init__(message)
        self.result = result


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def evaluate(workflow: Workflow | str | os.PathLike[str], data: Any, metrics: Iterable[Any] | None = None,
             *, variants: dict[str, dict[str, Any]] | None = None, repeats: int | None = None,
             concurrency: int | None = None, judge: dict[str, Any] | str | None = None,
             name: str | None = None, gates: Any = None, references: dict[str, str] | None = None,
             ignore: Iterable[str] = (), primary_metric: str | None = None,
             guardrails: dict[str, float] | None = None, cache: bool | None = None,
             persist: bool = True, progress: bool | None = None, executor: Executor | None = None,
             settings: Settings | None = None) -> EvalResult:
    """Run ``workflow`` over ``data`` and score it; safe inside Jupyter.

    Parameters
    ----------
    workflow
        A :class:`Workflow`, YAML text or a ``.yaml`` path.
    data
        A DataFrame, a list of dicts, or a CSV/JSONL/Parquet path. Columns named like state
        fields are inputs, ``expected_<field>`` columns references; anything else is reported
        before any call (unless listed in ``ignore``).
    metrics
        Names (``exact``, ``contains``, ``regex:PATTERN``, ``numeric:TOL``, ``json_field:PATH``,
        ``schema_valid``, ``llm_judge:RUBRIC``), dicts, or callables ``(row, outputs)``.
        Default: ``exact`` on every reference. Latency, cost and tokens are always recorded.
    variants
        ``{"A": {}, "B": {"nodes.summarize.prompt": "..."}}``; default: ``config.ab_test``.
    repeats
        Runs per variant and row, each repeat with its own cache namespace (default:
        ``config.ab_test.run_count``, else 1).
    concurrency
        Rows in flight at once (default: the ``max_concurrency`` setting, else the workflow's).
        Every call still passes the process-wide per-endpoint limiter.
    judge
        The LLM of ``llm_judge`` metrics: ``"provider/model"`` or a dict (provider, model,
        api_base, ...); default: the workflow's ``config.llm`` (the summary names the judge).
    gates
        ``{"gates": [{"metric", "min", "max"}], "on_fail": "warn"|"fail"|"block_deploy"}``;
        default: ``config.gates``.
    primary_metric, guardrails
        The winner's quality metric (default: the first) and ``max_cost_per_run`` /
        ``max_p95_latency_ms``.
    progress
        Show live progress (default: in a notebook, when ``live_display`` is on).

    Raises
    ------
    InputError, ConfigError, ProviderError
        Before any call, for bad data, metrics, variants, gates or LLM settings.
    GateFailed
        Outside IPython, when the winner (or the only variant) misses a ``fail`` gate.
    """
    from .._api import _workflow
    from .._settings import resolve
    from ..engine import _loop
    from ._progress import EvalProgress, mode_for

    settings = resolve(settings)
    wf = _workflow(workflow)
    plan = _plan(wf, data, metrics, variants, repeats, judge, gates, references, tuple(ignore),
                 primary_metric, guardrails, settings)
    rows_in_flight = concurrency or settings.max_concurrency or wf.spec.config.execution.max_concurrency
    if rows_in_flight < 1:
        raise InputError(f"concurrency must be at least 1, got {rows_in_flight}")
    result = EvalResult(uuid.uuid4().hex, name or f"{wf.name}-eval", wf.name, wf.yaml, _now(), None,
                        "running", plan["config"],
                        source=wf.source if os.path.isfile(wf.source) else None)
    total = plan["config"]["rows_planned"]
    show = settings.live_display if progress is None else progress
    view = EvalProgress(result.name, total, list(plan["variants"]), plan["endpoints"],
                        mode_for(show))
    collected: list[dict[str, Any]] = []

    def done(row: dict[str, Any]) -> None:
        collected.append(row)
        view.row(row)

    status = "succeeded"
    try:
        _loop.wait(_run(plan, cache, persist, settings, rows_in_flight, executor, done),
                   view.refresh if view.mode != "off" else None)
    except (KeyboardInterrupt, asyncio.CancelledError):
        # An interrupt that lands after the last row finished leaves nothing undone.
        status = "cancelled" if len(collected) < total else "succeeded"
    order = {name: i for i, name in enumerate(plan["variants"])}
    result.rows = sorted(collected, key=lambda r: (order[r["variant"]], r["row"], r["repeat"]))
    result.finished_at = _now()
    if status == "succeeded" and all(r["status"] != "succeeded" for r in collected):
        status = "failed"  # not one row ran: the notes under the table say why
    result.status = status
    view.refresh(final=True, status=status)
    failed = _judge_gates(result)
    if persist:
        _record(result, wf, settings)
    if failed and not _interactive():
        raise GateFailed(failed, result)
    return result


def _plan(wf: Workflow, data: Any, metrics: Iterable[Any] | None, variants: Any, repeats: int | None,
          judge: dict[str, Any] | str | None, gates: Any, references: dict[str, str] | None,
          ignore: tuple[str, ...], primary_metric: str | None, guardrails: dict[str, float] | None,
          settings: Settings) -> dict[str, Any]:
    """Everything an evaluation needs, checked before any call."""
    from ..engine import _llm
    from ._winner import GUARDRAILS

    dataset = _data.split(wf, _data.read_records(data), references, ignore)
    config_variants, run_count = _variants.from_config(wf)
    built = _variants.build(wf, variants if variants is not None else config_variants)
    repeats = repeats or run_count or 1
    if repeats < 1:
        raise InputError(f"repeats must be at least 1, got {repeats}")
    fields = list(wf.spec.state.fields)
    seen = {k for refs in dataset.references for k in refs}
    reference_fields = [f for f in fields if f in seen]
    metric_list = _metrics.build(metrics, wf, reference_fields)
    names = [m.name for m in metric_list]
    if primary_metric is not None and primary_metric not in names:
        raise InputError(f"primary_metric `{primary_metric}` is not a metric; metrics: {', '.join(names)}")
    bad = set(guardrails or {}) - set(GUARDRAILS)
    if bad:
        raise InputError(f"unknown guardrail(s) {', '.join(sorted(bad))}; use {', '.join(GUARDRAILS)}")
    gate_list, on_fail = _gates.parse(gates if gates is not None else wf.spec.config.gates, names)
    judges = {m.name: _judge.target(wf, _judge_llm(judge, m.options), settings.llm_fallback, m.name)
              for m in metric_list if m.is_judge}
    endpoints = set()
    for v in built:
        for target in _llm.resolve_nodes(v.workflow.spec, {}, settings.llm_fallback).values():
            endpoints.add((target.provider, target.api_base or ""))
    for target in judges.values():
        endpoints.add((target.provider, target.api_base or ""))
    config = {"metrics": names, "repeats": repeats, "rows_planned": len(dataset) * len(built) * repeats,
              "variants": {v.name: v.overrides for v in built},
              "gates": [g.to_dict() for g in gate_list], "on_fail": on_fail,
              "primary_metric": primary_metric, "guardrails": dict(guardrails or {}),
              "judges": {name: _judge.label(t) for name, t in judges.items()}}
    return {"dataset": dataset, "variants": {v.name: v for v in built}, "repeats": repeats,
            "metrics": metric_list, "judges": judges, "config": config, "endpoints": endpoints}


def _judge_llm(judge: dict[str, Any] | str | None, options: dict[str, Any]) -> dict[str, Any] | str | None:
    """The ``judge`` argument, with a metric's own LLM settings (a dict metric's) over it."""
    own = {k: v for k, v in options.items() if k != "rubric"}
    if not own:
        return judge
    base = _judge.target_dict(judge) if isinstance(judge, str) else dict(judge or {})
    return {**base, **own}


async def _run(plan: dict[str, Any], cache: bool | None, persist: bool,
               settings: Settings, concurrency: int, executor: Executor | None,
               done: Callable[[dict[str, Any]], None]) -> None:
    from .._api import _run_options

    options = {name: await _run_options(v.workflow, (), cache, persist, None, settings)
               for name, v in plan["variants"].items()}
    runner = RowRunner(plan["variants"], plan["dataset"], plan["metrics"], plan["judges"], options)
    dataset = plan["dataset"]
    tasks = (RowTask(variant, row, repeat, dataset.inputs[row])
             for repeat in range(plan["repeats"]) for row in range(len(dataset))
             for variant in plan["variants"])
    await (executor or LocalExecutor(concurrency)).map(tasks, runner, done)


def _judge_gates(result: EvalResult) -> str | None:
    """Apply the gates' actions: warn, or mark the evaluation failed and return why."""
    if not result.config["gates"] or not result.rows:
        return None
    warned = [f"{v}: {line}" for v in result.variants for line in result.missed(v, "warn")]
    if warned:
        warnings.warn(f"evaluation `{result.name}` missed gate(s): " + "; ".join(warned),
                      AgentsMagicWarning, stacklevel=3)
    subject = result.gate_subject
    failed = result.missed(subject, "fail") if subject else []
    if not failed or result.status != "succeeded":
        return None
    result.status = "failed"
    return f"evaluation `{result.name}`: `{subject}` missed gate(s): " + "; ".join(failed)


def _record(result: EvalResult, wf: Workflow, settings: Settings) -> None:
    """Keep the evaluation in the run store and, when MLflow is on, as MLflow runs (a parent
    per evaluation, a nested run per variant with its summary metrics)."""
    from ..sinks import log_evaluation
    from ..store._evaluations import save_evaluation

    record = result.to_record()
    if settings.store:
        save_evaluation(record, storage_url=settings.resolved_storage_url)
    summary = result.summary.select_dtypes("number")
    log_evaluation(record, {str(variant): {k: float(v) for k, v in row.items() if v == v}
                            for variant, row in summary.iterrows()},
                   settings=settings, config=wf.spec.config)


def _interactive() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None
