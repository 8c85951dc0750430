"""Run one evaluation row: the variant's workflow through the engine's one ``execute`` path,
then its metrics and judges; the outcome is a plain dict in the record's row shape.

A failing row (provider error, invalid output, timeout, a metric that raised) is recorded with
its error; it never stops the evaluation.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING, Any

from ..errors import AgentsMagicError
from . import _judge
from ._executor import RowTask

if TYPE_CHECKING:
    from ..engine._llm import Cache, Target
    from ._data import Dataset
    from ._metrics import Metric
    from ._variants import Variant


class RepeatCache:
    """The LLM cache seen through one repeat's namespace, so each repeat makes its own calls
    (repeat 0 shares the plain cache with ordinary runs)."""

    def __init__(self, cache: Cache, repeat: int) -> None:
        self.cache, self.prefix = cache, f"repeat{repeat}:"

    def _key(self, key: str) -> str:
        return hashlib.sha256((self.prefix + key).encode()).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        return self.cache.get(self._key(key))

    def set(self, key: str, value: dict[str, Any]) -> None:
        self.cache.set(self._key(key), value)


def namespaced(cache: Cache | None, repeat: int) -> Cache | None:
    if cache is None or repeat == 0:
        return cache
    return RepeatCache(cache, repeat)


class RowRunner:
    """Callable on a :class:`RowTask`; holds what every row of an evaluation shares."""

    def __init__(self, variants: dict[str, Variant], dataset: Dataset, metrics: list[Metric],
                 judges: dict[str, Target], options: dict[str, dict[str, Any]]) -> None:
        self.variants, self.dataset, self.metrics = variants, dataset, metrics
        self.judges = judges
        self.options = options  # per variant: what `_api._run_options` gave
        self.written = {v.name: {f for n in v.workflow.spec.nodes for f in n.outputs}
                        for v in variants.values()}

    async def __call__(self, task: RowTask) -> dict[str, Any]:
        from ..engine._run import execute

        variant = self.variants[task.variant]
        options = dict(self.options[task.variant])
        cache = options["cache"] = namespaced(options.get("cache"), task.repeat)
        row: dict[str, Any] = {
            "variant": task.variant, "row": task.row, "repeat": task.repeat, "run_id": None,
            "status": "failed", "error": None, "inputs": task.inputs, "outputs": None,
            "references": self.dataset.references[task.row],
            "metrics": {m.name: None for m in self.metrics}, "latency_ms": 0.0, "cost_usd": 0.0,
            "tokens": 0, "judge_cost_usd": 0.0, "nodes": []}
        try:
            result = await execute(variant.workflow, task.inputs, **options)
        except AgentsMagicError as exc:
            row["error"] = f"{type(exc).__name__}: {exc}"
            return row
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in the engine still must not stop the evaluation
            row["error"] = f"{type(exc).__name__}: {exc}"
            return row
        written = self.written[task.variant]
        outputs = {k: v for k, v in result.outputs.items() if k in written}
        row.update(run_id=result.run_id, status=result.status, error=result.error, outputs=outputs,
                   latency_ms=result.duration_ms, cost_usd=result.cost_usd,
                   tokens=result.total_tokens,
                   nodes=[{"node_id": n["node_id"], "latency_ms": n["duration_ms"],
                           "cost_usd": n["cost_usd"],
                           "tokens": (n["prompt_tokens"] or 0) + (n["completion_tokens"] or 0),
                           "status": n["status"]} for n in result.node_rows])
        if result.status == "succeeded":
            await self._score(row, task, variant, cache, options.get("max_concurrency"))
        return row

    async def _score(self, row: dict[str, Any], task: RowTask, variant: Variant, cache: Cache | None,
                     max_concurrency: int | None) -> None:
        record = {**self.dataset.records[task.row]}
        problems = []
        outputs = row["outputs"]
        for metric in self.metrics:
            try:
                if metric.is_judge:
                    verdict = await _judge.judge(
                        self.judges[metric.name], metric.options["rubric"], task.inputs,
                        outputs.get(metric.field) if metric.field else outputs,
                        row["references"].get(metric.field or ""), cache, max_concurrency)
                    row["judge_cost_usd"] += verdict.cost_usd
                    row["metrics"][metric.name] = verdict.passed
                    if verdict.passed is None:
                        problems.append(f"metric `{metric.name}`: {verdict.reason}")
                else:
                    row["metrics"][metric.name] = metric.score(record, outputs, row["references"],
                                                               variant.workflow)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                problems.append(f"metric `{metric.name}`: {type(exc).__name__}: {exc}")
        if problems:
            row["error"] = "; ".join(problems)
