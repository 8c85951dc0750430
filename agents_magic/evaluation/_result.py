"""EvalResult: what an evaluation returns — plain DataFrames and the statistics over them.

Everything is computed from the rows on first use, so a result rebuilt from its record
(:meth:`EvalResult.from_record`) is the same object with no call made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from . import _stats
from ._gates import Gate
from ._winner import Winner, decide

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from ._apply import Applied

PERCENTILES = (50, 95, 99)
RECORD_KEYS = ("id", "name", "workflow", "workflow_yaml", "started_at", "finished_at", "status",
               "config", "rows")


class UnknownVariant(InputError, KeyError):
    """A variant name the evaluation does not have (a KeyError too, as for a dict)."""

    __str__ = Exception.__str__  # KeyError's would quote the message


@dataclass(eq=False)
class EvalResult:
    """An evaluation: one row per variant × dataset row × repeat, and what follows from them.

    ``table`` holds every row (inputs, ``output_<field>``, ``expected_<field>``, each metric,
    status, error, latency_ms, cost_usd, tokens, run_id); ``summary`` one row per variant;
    ``compare(a, b)`` the paired differences; ``winner``; ``gates``; ``plot()``;
    ``apply(variant)`` writes a variant back.
    """

    __module__ = "agents_magic"

    id: str
    name: str
    workflow: str
    workflow_yaml: str
    started_at: str
    finished_at: str | None
    status: str
    config: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    source: str | None = None  # the workflow's file, when it came from one (for apply)

    # -- record ----------------------------------------------------------------------------
    def to_record(self) -> dict[str, Any]:
        """The JSON-serialisable record (the run store keeps exactly this)."""
        return {k: getattr(self, k) for k in RECORD_KEYS}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> EvalResult:
        """Rebuild a result from :meth:`to_record`'s dict; no call is made."""
        return cls(**{k: record[k] for k in RECORD_KEYS})

    # -- shape -----------------------------------------------------------------------------
    @property
    def metric_names(self) -> list[str]:
        return list(self.config.get("metrics") or [])

    @property
    def variants(self) -> list[str]:
        names = list(self.config.get("variants") or {})
        seen = {r["variant"] for r in self.rows}
        return [n for n in names if n in seen] + sorted(seen - set(names))

    @cached_property
    def _by_variant(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {v: [] for v in self.variants}
        for r in self.rows:
            out[r["variant"]].append(r)
        return out

    @cached_property
    def binary(self) -> dict[str, bool]:
        """Which metrics are pass/fail."""
        return {m: _stats.is_binary([r["metrics"].get(m) for r in self.rows]) for m in self.metric_names}

    @cached_property
    def table(self) -> pd.DataFrame:
        """One row per variant × row × repeat."""
        import pandas as pd

        records = []
        for r in self.rows:
            flat = {"variant": r["variant"], "row": r["row"], "repeat": r["repeat"],
                    "status": r["status"], "error": r["error"]}
            flat.update(r["inputs"])
            flat.update({f"output_{k}": v for k, v in (r["outputs"] or {}).items()})
            flat.update({f"expected_{k}": v for k, v in r["references"].items()})
            flat.update(r["metrics"])
            flat.update({k: r[k] for k in ("latency_ms", "cost_usd", "tokens", "judge_cost_usd",
                                           "run_id")})
            records.append(flat)
        return pd.DataFrame(records)

    # -- statistics ------------------------------------------------------------------------
    @cached_property
    def summary(self) -> pd.DataFrame:
        """Per variant: each metric's mean with its 95 % interval (Wilson for pass rates,
        bootstrap otherwise), error rate, cost, and nearest-rank latency/cost percentiles."""
        import pandas as pd

        out = []
        for variant, rows in self._by_variant.items():
            errors = sum(1 for r in rows if r["status"] != "succeeded")
            entry: dict[str, Any] = {"variant": variant, "rows": len(rows), "errors": errors,
                                     "error_rate": errors / len(rows) if rows else math.nan}
            for m in self.metric_names:
                values = [r["metrics"].get(m) for r in rows]
                present = [v for v in values if v is not None]
                if self.binary[m]:
                    passed = sum(1 for v in present if v)
                    mean = passed / len(present) if present else math.nan
                    low, high = _stats.wilson(passed, len(present))
                else:
                    mean = sum(present) / len(present) if present else math.nan
                    low, high = _stats.bootstrap_mean(present)
                entry.update({m: mean, f"{m}_low": low, f"{m}_high": high, f"{m}_n": len(present)})
            latency = [r["latency_ms"] for r in rows]
            cost = [r["cost_usd"] for r in rows]
            entry["latency_ms_avg"] = sum(latency) / len(latency) if latency else math.nan
            entry.update(_percentiles("latency_ms", latency))
            entry["cost_usd_avg"] = sum(cost) / len(cost) if cost else math.nan
            entry.update(_percentiles("cost_usd", cost))
            entry["cost_usd_total"] = sum(cost)
            entry["tokens_avg"] = sum(r["tokens"] for r in rows) / len(rows) if rows else math.nan
            entry["judge_cost_usd"] = sum(r["judge_cost_usd"] for r in rows)
            out.append(entry)
        return pd.DataFrame(out).set_index("variant") if out else pd.DataFrame()

    @cached_property
    def nodes(self) -> pd.DataFrame:
        """Per variant and node: executions and nearest-rank p50/p95/p99 of latency and cost."""
        import pandas as pd

        out = []
        for variant, rows in self._by_variant.items():
            per_node: dict[str, list[dict[str, Any]]] = {}
            for r in rows:
                for n in r["nodes"]:
                    per_node.setdefault(n["node_id"], []).append(n)
            for node_id, execs in per_node.items():
                entry: dict[str, Any] = {"variant": variant, "node_id": node_id, "executions": len(execs),
                                         "failed": sum(1 for n in execs if n["status"] != "succeeded")}
                for key in ("latency_ms", "cost_usd"):
                    entry.update(_percentiles(key, [n[key] for n in execs]))
                entry["tokens_avg"] = sum(n["tokens"] for n in execs) / len(execs)
                out.append(entry)
        return pd.DataFrame(out)

    def _paired_values(self, a: str, b: str, metric: str) -> tuple[list[Any], list[Any]]:
        def values(rows: list[dict[str, Any]]) -> dict[tuple[int, int], Any]:
            if metric in ("latency_ms", "cost_usd"):
                return {(r["row"], r["repeat"]): r[metric] for r in rows}
            return {(r["row"], r["repeat"]): r["metrics"].get(metric) for r in rows}

        va, vb = values(self._by_variant[a]), values(self._by_variant[b])
        keys = [k for k in va if k in vb and va[k] is not None and vb[k] is not None]
        return [va[k] for k in keys], [vb[k] for k in keys]

    def paired(self, a: str, b: str, metric: str) -> _stats.Paired:
        """The paired comparison of variant ``a`` against ``b`` on one metric (cached)."""
        cache = self.__dict__.setdefault("_paired_cache", {})
        key = (a, b, metric)
        if key not in cache:
            xs, ys = self._paired_values(a, b, metric)
            cache[key] = _stats.paired(xs, ys, self.binary.get(metric, False))
        return cache[key]  # type: ignore[no-any-return]

    def compare(self, a: str | None = None, b: str | None = None) -> pd.DataFrame:
        """Per metric (and latency, cost): mean of ``a`` − ``b`` over the same rows and repeats,
        its paired-bootstrap 95 % interval and p-value (McNemar for pass/fail metrics), and the
        paired rows needed to detect a difference of that size (5 %, 80 % power)."""
        import pandas as pd

        names = self.variants
        if len(names) < 2:
            raise InputError(f"compare needs two variants; `{self.name}` has "
                             f"{', '.join(f'`{n}`' for n in names) or 'none'}: evaluate(..., "
                             "variants={'A': {}, 'B': {...}}) or --variants VAR")
        a = self._variant(a or names[0])
        b = self._variant(b or names[1])
        for v in (a, b):
            if v not in self._by_variant:
                raise InputError(f"variant `{v}` has no finished rows in `{self.name}`")
        out = []
        for metric in [*self.metric_names, "latency_ms", "cost_usd"]:
            p = self.paired(a, b, metric)  # type: ignore[arg-type]
            out.append({"metric": metric, "test": p.test, "n": p.n, f"mean_{a}": p.mean_a,
                        f"mean_{b}": p.mean_b, "diff": p.diff, "ci_low": p.low, "ci_high": p.high,
                        "p_value": p.p_value, "significant": p.significant,
                        "rows_needed": p.rows_needed})
        return pd.DataFrame(out).set_index("metric")

    def _variant(self, name: str) -> str:
        """``name`` if it is a variant; else an InputError with a did-you-mean."""
        names = list(self.config.get("variants") or {}) or self.variants
        if name in names:
            return name
        from ..config._validate import did_you_mean

        folded = [n for n in names if n.lower() == str(name).lower()]
        hint = f"did you mean `{folded[0]}`?" if folded else did_you_mean(name, names)
        raise UnknownVariant(f"no variant `{name}` in `{self.name}`" + (f" ({hint})" if hint else "")
                         + f"; variants: {', '.join(names)}")

    @cached_property
    def winner(self) -> Winner:
        """The winning variant and why (see :mod:`._winner` for the rule)."""
        primary = self.config.get("primary_metric") or next(iter(self.metric_names), None)
        return decide(self.summary, primary, dict(self.config.get("guardrails") or {}),
                      self.paired)

    # -- gates -----------------------------------------------------------------------------
    @property
    def _gates(self) -> list[Gate]:
        on_fail = self.config.get("on_fail") or "warn"
        return [Gate(g["metric"], g.get("min"), g.get("max"), g.get("action") or on_fail)
                for g in self.config.get("gates") or []]

    @cached_property
    def gates(self) -> pd.DataFrame:
        """Every gate judged for every variant: metric, threshold, value, passed, action."""
        from ._gates import judge

        return judge(self._gates, self.summary, self.metric_names)

    def missed(self, variant: str, action: str | None = None) -> list[str]:
        """The gates ``variant`` missed (of one ``action``), as readable lines."""
        from ._report import _num

        g = self.gates
        if g.empty:
            return []
        hit = g[(g["variant"] == variant) & (~g["passed"])]
        if action is not None:
            hit = hit[hit["action"] == action]
        return [f"{r.metric} = {_num(r.value)}, needs {r.threshold} ({r.action})"
                for r in hit.itertuples()]

    @property
    def gate_subject(self) -> str | None:
        """The variant the gates' ``fail`` action judges: the winner, else the first variant."""
        if not self.variants:
            return None
        return self.winner.name or self.variants[0]

    # -- output ----------------------------------------------------------------------------
    def plot(self) -> go.Figure:
        """Latency and cost percentiles per variant and per node, metric means with their
        intervals, and cost against quality with the non-dominated variants marked."""
        from ._plots import figure

        return figure(self)

    def apply(self, variant: str | None = None, *, force: bool = False,
              path: str | None = None) -> Applied:
        """Write ``variant`` (default: the winner) back: a new ``%%workflow`` cell below (the
        original untouched, a diff shown) or, for a workflow from a file (or ``path``), the
        file itself after a timestamped backup beside it."""
        from ._apply import apply

        return apply(self, variant, force=force, path=path)

    def variant_yaml(self, variant: str) -> str:
        """The YAML of ``variant``: the workflow with the variant's overrides applied."""
        from .._workflow import load
        from ._variants import apply

        overrides = (self.config.get("variants") or {}).get(self._variant(variant))
        return apply(load(self.workflow_yaml, name=self.workflow), overrides, variant).yaml

    def headline(self) -> str:
        from ._report import headline

        return headline(self)

    def __repr__(self) -> str:
        from ._report import text

        return text(self)

    def _repr_html_(self) -> str:
        from ._report import html

        return html(self)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display({"text/plain": repr(self), "text/html": self._repr_html_()}, raw=True)
        if self.rows and _has_plotly():
            display(self.plot())


def _has_plotly() -> bool:
    import importlib.util

    return importlib.util.find_spec("plotly") is not None


def _percentiles(key: str, values: list[float]) -> dict[str, float]:
    """``{key}_p50``, ``_p95``, ``_p99``: nearest-rank, ``values`` sorted once."""
    return dict(zip((f"{key}_p{p}" for p in PERCENTILES), _stats.nearest_ranks(values, PERCENTILES)))
