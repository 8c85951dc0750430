"""The winner rule.

1. Variants outside the guardrails (``max_cost_per_run`` in USD on the mean cost of a run,
   ``max_p95_latency_ms`` on the p95 latency) are out.
2. On the primary metric (higher is better), the best remaining variant is the reference; a
   variant significantly worse than it (paired test, p < 0.05) is out — however cheap.
3. Of those left, the cheapest wins. If only the best is left, it wins for its quality. If
   several are left at the same cost, there is no winner: "no significant difference" is the
   stated outcome, with the rows needed to detect the difference observed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from ._stats import Paired

GUARDRAILS = {"max_cost_per_run": ("cost_usd_avg", "USD per run"),
              "max_p95_latency_ms": ("latency_ms_p95", "ms p95 latency")}
COST_TIE = 1e-12


@dataclass(frozen=True)
class Winner:
    """``name`` is the winning variant, or None; ``explanation`` says why."""

    name: str | None
    outcome: str  # better | cheapest | no_difference | single | none_eligible | no_metric
    explanation: str
    rows_needed: float | None = None

    def __str__(self) -> str:
        return self.explanation

    def __repr__(self) -> str:
        return f"Winner({self.name!r}: {self.explanation})"


def _fmt(p: Paired) -> str:
    return f"difference {p.diff:+.3g}, 95% CI [{p.low:+.3g}, {p.high:+.3g}], p = {p.p_value:.3g}"


def _needed(p: Paired) -> str:
    if math.isinf(p.rows_needed):
        return "no difference was observed, so no number of rows would show one"
    return f"about {int(p.rows_needed)} paired rows would be needed to detect a difference this size"


def decide(summary: pd.DataFrame, primary: str | None, guardrails: dict[str, Any],
           compare: Callable[[str, str, str], Paired]) -> Winner:
    """Apply the rule to ``summary`` (one row per variant); ``compare(a, b, metric)``."""
    names = list(summary.index)
    if len(names) < 2:
        return Winner(names[0] if names else None, "single", "only one variant: nothing to compare")
    if primary is None:
        return Winner(None, "no_metric", "no quality metric to compare the variants on")
    unknown = set(guardrails) - set(GUARDRAILS)
    if unknown:
        raise ValueError(f"unknown guardrail(s) {sorted(unknown)}; use {', '.join(GUARDRAILS)}")
    notes: list[str] = []
    eligible = []
    for name in names:
        broken = [f"{summary.at[name, col]:.4g} {unit} over {limit:g}"
                  for key, limit in guardrails.items() if limit is not None
                  for col, unit in [GUARDRAILS[key]]
                  if not summary.at[name, col] <= limit]
        if broken:
            notes.append(f"`{name}` is out ({'; '.join(broken)})")
        else:
            eligible.append(name)
    if not eligible:
        return Winner(None, "none_eligible", "no variant meets the guardrails: " + "; ".join(notes))
    means = {n: summary.at[n, primary] for n in eligible}
    scored = [n for n in eligible if not math.isnan(means[n])]
    if not scored:
        return Winner(None, "no_metric", f"no variant has a score on `{primary}`")
    best = max(scored, key=lambda n: means[n])
    contenders, beaten = [best], []
    for name in scored:
        if name == best:
            continue
        p = compare(name, best, primary)
        if p.significant and p.diff < 0:
            beaten.append(f"`{name}` is significantly worse on `{primary}` ({_fmt(p)})")
        else:
            contenders.append(name)
    prefix = "; ".join(notes + beaten)
    prefix = prefix[0].upper() + prefix[1:] + ". " if prefix else ""
    if len(contenders) == 1:
        outcome = "better" if beaten else "single"
        return Winner(best, outcome, f"{prefix}`{best}` wins on `{primary}` "
                                     f"(mean {means[best]:.3g}).")
    costs = {n: float(summary.at[n, "cost_usd_avg"]) for n in contenders}
    cheapest = min(contenders, key=lambda n: (costs[n], -means[n]))
    runner_up = max((n for n in contenders if n != best), key=lambda n: means[n])
    p = compare(runner_up, best, primary)
    same = f"no significant difference on `{primary}` between {', '.join(f'`{n}`' for n in contenders)}"
    tied = [n for n in contenders if abs(costs[n] - costs[cheapest]) <= COST_TIE]
    if len(tied) > 1:
        return Winner(None, "no_difference",
                      f"{prefix}No winner: {same} (`{runner_up}` vs `{best}`: {_fmt(p)}) and "
                      f"they cost the same; {_needed(p)}.", p.rows_needed)
    others = ", ".join(f"`{n}` ${costs[n]:.6f}" for n in contenders if n != cheapest)
    return Winner(cheapest, "cheapest",
                  f"{prefix}`{cheapest}` wins as the cheapest (${costs[cheapest]:.6f} per run vs "
                  f"{others}): {same} (`{runner_up}` vs `{best}`: {_fmt(p)}); {_needed(p)}.",
                  p.rows_needed)
