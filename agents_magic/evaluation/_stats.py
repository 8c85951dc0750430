"""The statistics of an evaluation: intervals, paired tests, percentiles, rows needed.

Wilson score intervals for pass rates, percentile bootstrap (seeded, :data:`RESAMPLES`
resamples) for other means, paired bootstrap for differences with an exact McNemar test
(a sign test on the discordant pairs) for pass/fail metrics, nearest-rank percentiles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054  # two-sided 95 %
Z80_POWER = 0.8416212335729143  # one-sided 80 % power
RESAMPLES = 2000
SEED = 20240611
ALPHA = 0.05


def is_binary(values: Sequence[object]) -> bool:
    """Pass/fail values: every value a bool (None aside), at least one present."""
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, (bool, np.bool_)) for v in present)


def wilson(passed: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of ``passed`` successes out of ``n`` (``(nan, nan)`` when n = 0)."""
    if n == 0:
        return math.nan, math.nan
    p = passed / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # The bounds are exactly 0 and 1 at the extremes; rounding would leave a residue.
    return (0.0 if passed == 0 else centre - half), (1.0 if passed == n else centre + half)


def bootstrap_mean(values: Sequence[float], resamples: int = RESAMPLES,
                   seed: int = SEED) -> tuple[float, float]:
    """Percentile-bootstrap 95 % interval of the mean."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return math.nan, math.nan
    if data.size == 1 or np.all(data == data[0]):
        return float(data[0]), float(data[0])
    means = _resampled_means(data, resamples, seed)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def _resampled_means(data: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)


def nearest_rank(values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile: the smallest value with at least ``percent`` % at or below it."""
    return nearest_ranks(values, (percent,))[0]


def nearest_ranks(values: Sequence[float], percents: Sequence[float]) -> list[float]:
    """:func:`nearest_rank` at each of ``percents``, sorting ``values`` once."""
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return [math.nan] * len(percents)
    return [float(ordered[max(1, math.ceil(p / 100 * n)) - 1]) for p in percents]


def binomial_two_sided(k: int, n: int) -> float:
    """Exact two-sided p-value of ``k`` of ``n`` under p = 1/2 (the sign test)."""
    if n == 0:
        return 1.0
    low = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(low + 1)) / 2**n
    return min(1.0, 2 * tail)


def mcnemar(a: Sequence[bool], b: Sequence[bool]) -> float:
    """Exact McNemar p-value of paired pass/fail outcomes (sign test on discordant pairs)."""
    only_a = sum(1 for x, y in zip(a, b) if x and not y)
    only_b = sum(1 for x, y in zip(a, b) if y and not x)
    return binomial_two_sided(only_a, only_a + only_b)


@dataclass(frozen=True)
class Paired:
    """A paired comparison of ``a`` against ``b``: ``diff`` is mean(a − b)."""

    n: int
    mean_a: float
    mean_b: float
    diff: float
    low: float
    high: float
    p_value: float
    test: str
    rows_needed: float

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA


def paired(a: Sequence[float | bool], b: Sequence[float | bool], binary: bool,
           resamples: int = RESAMPLES, seed: int = SEED) -> Paired:
    """Compare paired samples: mean difference, paired-bootstrap 95 % interval and a p-value
    (McNemar for pass/fail, else a paired bootstrap test with the differences centred)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = x - y
    n = int(d.size)
    if n == 0:
        return Paired(0, math.nan, math.nan, math.nan, math.nan, math.nan, 1.0,
                      "mcnemar" if binary else "paired bootstrap", math.inf)
    # Rounding noise of float sums (7e-15 where the values balance out) is no difference.
    tiny = 1e-12 * float(max(np.abs(x).max(), np.abs(y).max()))
    diff = float(d.mean())
    diff = 0.0 if abs(diff) <= tiny else diff
    if n == 1 or np.all(d == d[0]):
        low = high = diff
        boot = np.full(1, diff)
    else:
        boot = _resampled_means(d, resamples, seed)
        low, high = (0.0 if abs(v) <= tiny else v
                     for v in (float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))))
    if binary:
        p = mcnemar([bool(v) for v in x], [bool(v) for v in y])
        test = "mcnemar"
    else:
        p = 1.0 if diff == 0 else bootstrap_p(d, boot)
        test = "paired bootstrap"
    return Paired(n, float(x.mean()), float(y.mean()), diff, low, high, p, test,
                  rows_needed(d))


def bootstrap_p(d: np.ndarray, boot: np.ndarray) -> float:
    """Two-sided p-value of mean(d) = 0: how often the centred resampled means lie at least as
    far from zero as the observed one (with the +1 correction)."""
    observed = float(d.mean())
    if observed == 0:
        return 1.0
    if boot.size == 1:  # every difference equal and non-zero: no variation to doubt it
        return 0.0
    extreme = int(np.count_nonzero(np.abs(boot - observed) >= abs(observed)))
    return (extreme + 1) / (boot.size + 1)


def rows_needed(d: Sequence[float], z_alpha: float = Z95, z_power: float = Z80_POWER) -> float:
    """Pairs needed to detect the observed mean difference at 5 % with 80 % power
    (normal approximation with the observed spread of the differences); inf if none observed."""
    data = np.asarray(d, dtype=float)
    mean = float(data.mean()) if data.size else 0.0
    if data.size < 2 or mean == 0:
        return math.inf
    sd = float(data.std(ddof=1))
    if sd == 0:
        return float(data.size)
    return float(math.ceil(((z_alpha + z_power) * sd / mean) ** 2))
