"""The winner rule on results rebuilt from records (no calls): the cheaper-but-worse variant
never wins; no significant difference is a stated outcome."""

from __future__ import annotations

import json

import pytest
from eval_helpers import qa_yaml

from agents_magic import EvalResult


def record(variants: dict[str, tuple[list[bool | float], float, float]], **config) -> dict:
    """``variants``: name -> (metric per row, cost per run, latency per run)."""
    rows = []
    for name, (scores, cost, latency) in variants.items():
        for i, score in enumerate(scores):
            rows.append({"variant": name, "row": i, "repeat": 0, "run_id": f"{name}{i}",
                         "status": "succeeded", "error": None, "inputs": {"question": f"q{i}"},
                         "outputs": {"answer": "x"}, "references": {"answer": "x"},
                         "metrics": {"quality": score}, "latency_ms": latency + i % 3,
                         "cost_usd": cost, "tokens": 10, "judge_cost_usd": 0.0,
                         "nodes": [{"node_id": "answer", "latency_ms": latency, "cost_usd": cost,
                                    "tokens": 10, "status": "succeeded"}]})
    return {"id": "e1", "name": "ab", "workflow": "qa", "workflow_yaml": qa_yaml(),
            "started_at": "2026-01-01T00:00:00+00:00", "finished_at": "2026-01-01T00:01:00+00:00",
            "status": "succeeded",
            "config": {"metrics": ["quality"], "repeats": 1, "variants": {n: {} for n in variants},
                       "gates": [], "on_fail": None, "primary_metric": None, "guardrails": {},
                       **config},
            "rows": rows}


def test_cheaper_but_worse_never_wins():
    good = [True] * 45 + [False] * 5
    worse = [True] * 25 + [False] * 25
    for cost_b in (0.0, 1e-9, 0.001):  # however cheap B is
        result = EvalResult.from_record(record({"A": (good, 0.01, 100), "B": (worse, cost_b, 50)}))
        assert result.winner.name == "A", result.winner
        assert "`B` is significantly worse" in result.winner.explanation


def test_cheapest_wins_when_quality_is_not_significantly_different():
    a = [True, False] * 20
    b = [True, False] * 19 + [False, True]  # same pass rate, two rows differ
    result = EvalResult.from_record(record({"A": (a, 0.01, 100), "B": (b, 0.002, 100)}))
    assert result.winner.name == "B" and result.winner.outcome == "cheapest"
    assert "no significant difference" in result.winner.explanation


def test_no_significant_difference_at_equal_cost_is_a_stated_outcome():
    a = [1.0, 0.8, 0.6, 0.9, 0.7] * 8
    b = [0.9, 0.8, 0.7, 0.8, 0.7] * 8  # slightly lower on average, well within noise
    result = EvalResult.from_record(record({"A": (a, 0.0, 100), "B": (b, 0.0, 100)}))
    win = result.winner
    assert win.name is None and win.outcome == "no_difference"
    assert "No winner" in win.explanation and "paired rows would be needed" in win.explanation
    assert win.rows_needed is not None and win.rows_needed > 40


def test_a_significantly_better_expensive_variant_wins_over_cheaper_ones():
    good = [0.9] * 30
    bad = [0.5] * 30
    result = EvalResult.from_record(record({"cheap": (bad, 0.0, 10), "pricey": (good, 1.0, 900)}))
    assert result.winner.name == "pricey" and result.winner.outcome == "better"


def test_guardrails_exclude_variants_before_quality_is_weighed():
    good = [True] * 45 + [False] * 5
    ok = [True] * 44 + [False] * 6
    rec = record({"A": (good, 0.05, 100), "B": (ok, 0.01, 100)},
                 guardrails={"max_cost_per_run": 0.02})
    result = EvalResult.from_record(rec)
    assert result.winner.name == "B" and "`A` is out" in result.winner.explanation
    rec = record({"A": (good, 0.05, 3000), "B": (ok, 0.01, 3000)},
                 guardrails={"max_p95_latency_ms": 1000})
    win = EvalResult.from_record(rec).winner
    assert win.name is None and win.outcome == "none_eligible"


def test_record_round_trip_rebuilds_everything():
    rec = record({"A": ([True] * 20 + [False] * 5, 0.01, 100), "B": ([True] * 10 + [False] * 15, 0.0, 80)},
                 gates=[{"metric": "quality", "min": 0.6, "max": None}], on_fail="block_deploy")
    first = EvalResult.from_record(rec)
    again = EvalResult.from_record(json.loads(json.dumps(first.to_record())))
    assert again.to_record() == first.to_record()
    assert again.summary.equals(first.summary)
    assert again.compare("A", "B").equals(first.compare("A", "B"))
    assert again.winner == first.winner
    assert again.gates.equals(first.gates)
    assert list(again.gates["passed"]) == [True, False]
    assert len(again.plot().data) > 0


def test_compare_reports_mean_difference_interval_and_test():
    result = EvalResult.from_record(record({"A": ([True] * 20, 0.0, 100), "B": ([False] * 20, 0.0, 100)}))
    table = result.compare("A", "B")
    row = table.loc["quality"]
    assert row["diff"] == pytest.approx(1.0) and row["test"] == "mcnemar"
    assert row["p_value"] == pytest.approx(2 / 2**20) and row["significant"]
    assert {"latency_ms", "cost_usd"} <= set(table.index)
    with pytest.raises(KeyError, match="did you mean `B`"):
        result.compare("A", "Bb")
