"""Differences between cells over seeds: t-based 95% intervals (Welch for two cells,
paired for the CRF's gain on the same checkpoints), a verdict against a published effect,
and the seeds per cell it would take to detect that effect at 80% power."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from scipy import stats as scipy_stats

LEVEL = 0.95  # the intervals' coverage
POWER = 0.80  # the power the seeds-needed figure asks for
MAX_SEEDS = 1000  # beyond this the answer is "more than 1000"


@dataclass
class Difference:
    """mean(a) - mean(b) over seeds, its standard error, degrees of freedom and spread.

    ``spread`` is what power depends on: the pooled per-seed standard deviation for two
    cells, the standard deviation of the per-seed differences when paired. ``n`` is the
    seeds per cell (the smaller cell's for two cells)."""

    value: float
    stderr: float | None
    df: float | None
    spread: float | None
    n: int
    paired: bool

    @property
    def interval(self) -> tuple[float, float] | None:
        if self.stderr is None or self.df is None:
            return None
        if self.stderr == 0:
            return self.value, self.value
        half = float(scipy_stats.t.ppf(0.5 + LEVEL / 2, self.df)) * self.stderr
        return self.value - half, self.value + half


def welch(a: list[float], b: list[float]) -> Difference:
    """Two cells trained on their own: Welch's standard error and degrees of freedom."""
    value = statistics.fmean(a) - statistics.fmean(b)
    n = min(len(a), len(b))
    if len(a) < 2 or len(b) < 2:
        return Difference(value, None, None, None, n, paired=False)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    stderr = math.sqrt(va + vb)
    denominator = va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)
    df = (va + vb) ** 2 / denominator if denominator > 0 else len(a) + len(b) - 2
    spread = math.sqrt((statistics.variance(a) + statistics.variance(b)) / 2)
    return Difference(value, stderr, df, spread, n, paired=False)


def paired(a: list[float], b: list[float]) -> Difference:
    """Pairs from the same job (the CRF on and off one checkpoint): the pairs share each
    seed's noise, so the spread is that of the per-seed differences."""
    diffs = [x - y for x, y in zip(a, b)]
    value = statistics.fmean(diffs)
    if len(diffs) < 2:
        return Difference(value, None, None, None, len(diffs), paired=True)
    spread = statistics.stdev(diffs)
    return Difference(value, spread / math.sqrt(len(diffs)), len(diffs) - 1, spread,
                      len(diffs), paired=True)  # fmt: skip


def power(effect: float, spread: float, n: int, is_paired: bool) -> float:
    """The chance that a two-sided t-test at 1 - LEVEL detects ``effect`` with ``n``
    seeds per cell when seeds scatter by ``spread`` (non-central t)."""
    if spread == 0:
        return 1.0
    if is_paired:
        df, noncentrality = n - 1, effect * math.sqrt(n) / spread
    else:
        df, noncentrality = 2 * n - 2, effect / (spread * math.sqrt(2 / n))
    critical = scipy_stats.t.ppf(0.5 + LEVEL / 2, df)
    nct = scipy_stats.nct(df, noncentrality)
    return float(nct.sf(critical) + nct.cdf(-critical))


def seeds_needed(effect: float, spread: float | None, is_paired: bool) -> int | None:
    """The fewest seeds per cell (at least 2) that detect ``effect`` at POWER given our
    spread; None when there is no spread yet or more than MAX_SEEDS would be needed."""
    if spread is None or effect == 0:
        return None
    for n in range(2, MAX_SEEDS + 1):
        if power(abs(effect), spread, n, is_paired) >= POWER:
            return n
    return None


AGREES, CONTRADICTS, UNDERPOWERED = "agrees", "contradicts", "underpowered"


def verdict(published: float, interval: tuple[float, float] | None) -> str:
    """Our interval against a published effect.

    agrees: the interval holds the published effect and excludes the opposite sign;
    contradicts: it lies wholly on the other side of zero; underpowered: it holds both
    zero and the published effect (too wide to tell); "same sign, larger/smaller": it
    excludes zero and the published effect; "smaller, holds 0": it holds zero but
    excludes the published effect."""
    if interval is None:
        return "n/a (one seed)"
    low, high = interval
    sign = 1 if published >= 0 else -1
    low, high, effect = sorted((sign * low, sign * high)) + [abs(published)]
    if high < 0:
        return CONTRADICTS
    holds_effect = low <= effect <= high
    if low > 0 or effect == 0:
        if holds_effect:
            return AGREES
        return "same sign, larger" if low > effect else "same sign, smaller"
    return UNDERPOWERED if holds_effect else "smaller, holds 0"
