"""The statistics against answers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents_magic.evaluation import _stats


def test_wilson_matches_hand_computed_intervals():
    # 8/10: centre (0.8 + 1.96²/20) / (1 + 1.96²/10) = 0.71674, half-width 0.22658
    low, high = _stats.wilson(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    # 0/10: upper bound z²/n / (1 + z²/n) = 0.38415 / 1.38415
    low, high = _stats.wilson(0, 10)
    assert low == 0.0 and high == pytest.approx(0.27753, abs=1e-5)
    assert all(math.isnan(v) for v in _stats.wilson(0, 0))


def test_nearest_rank_percentiles():
    values = [15, 20, 35, 40, 50]  # the textbook example
    assert [_stats.nearest_rank(values, p) for p in (5, 30, 40, 50, 100)] == [15, 20, 20, 35, 50]
    hundred = list(range(100, 0, -1))
    assert (_stats.nearest_rank(hundred, 50), _stats.nearest_rank(hundred, 95),
            _stats.nearest_rank(hundred, 99)) == (50, 95, 99)
    assert math.isnan(_stats.nearest_rank([], 50))


def test_sign_test_and_mcnemar_exact():
    assert _stats.binomial_two_sided(0, 5) == pytest.approx(2 / 32)
    assert _stats.binomial_two_sided(1, 6) == pytest.approx(2 * 7 / 64)
    assert _stats.binomial_two_sided(3, 6) == 1.0
    # 10 pairs only A passes, 2 only B passes, 8 agree: p = 2·P(X ≤ 2 | n=12, ½) = 2·79/4096
    a = [True] * 10 + [False] * 2 + [True] * 4 + [False] * 4
    b = [False] * 10 + [True] * 2 + [True] * 4 + [False] * 4
    assert _stats.mcnemar(a, b) == pytest.approx(2 * 79 / 4096)


def test_bootstrap_is_seeded_and_brackets_the_mean():
    rng = np.random.default_rng(1)
    values = list(rng.normal(10, 2, 200))
    first = _stats.bootstrap_mean(values)
    assert first == _stats.bootstrap_mean(values)  # seeded: the same interval every time
    mean = sum(values) / len(values)
    assert first[0] < mean < first[1]
    assert first[1] - first[0] == pytest.approx(2 * 1.96 * np.std(values) / np.sqrt(200), rel=0.2)
    assert _stats.bootstrap_mean([3.0, 3.0]) == (3.0, 3.0)


def test_paired_comparison_finds_a_planted_difference():
    rng = np.random.default_rng(7)
    base = rng.normal(0.5, 0.2, 120)
    better = base + 0.1 + rng.normal(0, 0.05, 120)
    p = _stats.paired(better, base, binary=False)
    assert p.diff == pytest.approx(0.1, abs=0.02)
    assert p.low > 0 and p.p_value < 0.01 and p.significant
    assert p.test == "paired bootstrap"


def test_paired_comparison_without_a_difference():
    rng = np.random.default_rng(11)
    a, b = rng.normal(0.5, 0.2, 120), rng.normal(0.5, 0.2, 120)
    p = _stats.paired(a, b, binary=False)
    assert p.low < 0 < p.high and p.p_value > 0.05 and not p.significant


def test_values_that_balance_out_differ_by_nothing_not_by_rounding_noise():
    p = _stats.paired([0.1, 0.2, 0.7], [0.7, 0.1, 0.2], binary=False)  # float mean: -1.9e-17
    assert (p.diff, p.p_value, p.significant) == (0.0, 1.0, False)


def test_paired_binary_uses_mcnemar():
    a = [True] * 12 + [False] * 8
    b = [False] * 12 + [False] * 8
    p = _stats.paired(a, b, binary=True)
    assert p.test == "mcnemar" and p.p_value == pytest.approx(2 / 2**12)
    assert p.diff == pytest.approx(0.6)


def test_rows_needed_from_the_observed_spread():
    d = [3.0, -1.0] * 10  # mean 1, sd 2.0520 (ddof 1)
    sd = float(np.std(d, ddof=1))
    assert _stats.rows_needed(d) == math.ceil(((1.959964 + 0.841621) * sd / 1.0) ** 2)
    assert math.isinf(_stats.rows_needed([1.0, -1.0]))
