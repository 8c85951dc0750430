"""Quality gates: thresholds on the summary, each with what to do when it is missed.

The seed's form ``{gates: [{metric, min, max}], on_fail: warn|fail|block_deploy}`` (in
``config.gates`` or ``evaluate(..., gates=...)``; a plain list works too, and a gate may carry
its own ``action``). Gates are judged for every variant. ``fail`` marks the evaluation failed
when its subject — the winner, or the first variant when there is none — misses the gate;
``block_deploy`` makes ``apply`` refuse a variant that missed it unless ``force=True``;
``warn`` only warns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config._validate import did_you_mean
from ..errors import InputError

if TYPE_CHECKING:
    import pandas as pd

ACTIONS = ("warn", "fail", "block_deploy")
FIXED = ("rows", "errors", "error_rate", "latency_ms_avg", "latency_ms_p50", "latency_ms_p95",
         "latency_ms_p99", "cost_usd_avg", "cost_usd_p50", "cost_usd_p95", "cost_usd_p99",
         "cost_usd_total", "tokens_avg", "judge_cost_usd")
ALIASES = {"cost_usd": "cost_usd_avg", "duration_ms_avg": "latency_ms_avg",
           "duration_ms_p50": "latency_ms_p50", "duration_ms_p95": "latency_ms_p95",
           "duration_ms_p99": "latency_ms_p99", "total_tokens_avg": "tokens_avg",
           "latency_ms": "latency_ms_avg", "duration_ms": "latency_ms_avg"}


@dataclass(frozen=True)
class Gate:
    metric: str
    min: float | None
    max: float | None
    action: str

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "min": self.min, "max": self.max, "action": self.action}


def column(metric: str, metric_names: list[str]) -> str | None:
    """The summary column a gate's metric names (``accuracy_avg`` is ``accuracy``)."""
    if metric in FIXED or metric in metric_names:
        return metric
    if metric in ALIASES:
        return ALIASES[metric]
    if metric.endswith("_avg") and metric[:-4] in metric_names:
        return metric[:-4]
    return None


def parse(spec: Any, metric_names: list[str]) -> tuple[list[Gate], str | None]:
    """Gates and the default action from either form; every mistake in one InputError."""
    if spec is None:
        return [], None
    if hasattr(spec, "model_dump"):
        spec = spec.model_dump()
    on_fail = None
    if isinstance(spec, dict):
        on_fail = spec.get("on_fail")
        entries = spec.get("gates") or []
    else:
        entries = list(spec)
    problems = []
    if on_fail is not None and on_fail not in ACTIONS:
        problems.append(f"on_fail must be one of {', '.join(ACTIONS)}, got `{on_fail}`")
    gates = []
    known = [*metric_names, *(f"{m}_avg" for m in metric_names), *FIXED, *ALIASES]
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "metric" not in entry:
            problems.append(f"gates[{i}] needs a `metric` and a `min` or `max`")
            continue
        name = str(entry["metric"])
        if column(name, metric_names) is None:
            hint = did_you_mean(name, known)
            problems.append(f"gates[{i}]: no metric `{name}` in the summary"
                            + (f" ({hint})" if hint else "")
                            + f"; gate on {', '.join(metric_names + list(FIXED))}")
        if entry.get("min") is None and entry.get("max") is None:
            problems.append(f"gates[{i}] (`{name}`) needs a `min` or a `max`")
        action = entry.get("action") or on_fail or "warn"
        if action not in ACTIONS:
            problems.append(f"gates[{i}]: action must be one of {', '.join(ACTIONS)}, got `{action}`")
        try:
            low = None if entry.get("min") is None else float(entry["min"])
            high = None if entry.get("max") is None else float(entry["max"])
        except (TypeError, ValueError):
            problems.append(f"gates[{i}] (`{name}`): min and max must be numbers")
            continue
        gates.append(Gate(name, low, high, str(action)))
    if problems:
        raise InputError(f"{len(problems)} gate problem{'s' if len(problems) > 1 else ''}: "
                         + "; ".join(problems))
    return gates, on_fail


def judge(gates: list[Gate], summary: pd.DataFrame, metric_names: list[str]) -> pd.DataFrame:
    """One row per variant × gate: metric, threshold, value, passed, action."""
    import pandas as pd

    rows = []
    for variant, values in summary.iterrows():
        for gate in gates:
            value = values.get(column(gate.metric, metric_names))
            value = None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
            passed = value is not None and (gate.min is None or value >= gate.min) and \
                (gate.max is None or value <= gate.max)
            threshold = " and ".join(t for t in (
                f">= {gate.min:g}" if gate.min is not None else "",
                f"<= {gate.max:g}" if gate.max is not None else "") if t)
            rows.append({"variant": variant, "metric": gate.metric, "threshold": threshold,
                         "value": value, "passed": passed, "action": gate.action})
    return pd.DataFrame(rows, columns=["variant", "metric", "threshold", "value", "passed", "action"])
