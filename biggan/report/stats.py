"""The small statistics the claims rest on, each stated in words next to its verdict.

    compare     two groups of per-seed values: the mean difference and its standard error (Welch,
                sqrt(s_a^2/n_a + s_b^2/n_b)), reported beside the rank test.
    ranks       two groups of per-seed values: exact one-sided Mann-Whitney U test, the verdict of
                a group comparison (>= 3 seeds per group, 5 %). With 3 seeds each, p <= 0.05 only when
                every seed of one group lies beyond every seed of the other: one failed seed widens
                the Welch error enough to hide a gap that the seeds' order still shows.
    paired      per-seed differences of one group: their mean against twice its standard error.
    fisher      one-sided Fisher exact test of two proportions (k_a of n_a vs k_b of n_b).
    spearman    rank correlation (average ranks for ties).
"""
from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass

MIN_SEEDS = 3
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"


@dataclass(frozen=True)
class Comparison:
    diff: float | None        # mean(a) - mean(b)
    se: float | None          # standard error of that difference
    n: tuple[int, int]

    @property
    def z(self) -> float | None:
        if self.diff is None or not self.se:
            return None
        return self.diff / self.se

    def direction(self, want_positive: bool) -> str:
        """REPRODUCED if the difference has the wanted sign and exceeds 2 SE; NOT_REPRODUCED if it has
        the other sign and exceeds 2 SE; else INCONCLUSIVE (also with fewer than MIN_SEEDS per group)."""
        if self.diff is None or min(self.n) < MIN_SEEDS:
            return INCONCLUSIVE
        if self.se == 0:
            big = self.diff != 0
        else:
            big = abs(self.diff) > 2 * self.se
        if not big:
            return INCONCLUSIVE
        return REPRODUCED if (self.diff > 0) == want_positive else NOT_REPRODUCED

    def text(self, unit: str = "") -> str:
        if self.diff is None:
            return "no data"
        se = "n/a" if self.se is None else f"{self.se:.3g}"
        return f"difference {self.diff:+.3g}{unit}, 2 SE = {2 * self.se:.3g}" if self.se is not None \
            else f"difference {self.diff:+.3g}{unit}, SE {se}"


def finite(values) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def mean(values) -> float | None:
    v = finite(values)
    return statistics.fmean(v) if v else None


def compare(a, b) -> Comparison:
    a, b = finite(a), finite(b)
    if not a or not b:
        return Comparison(None, None, (len(a), len(b)))
    var = (statistics.variance(a) / len(a) if len(a) > 1 else 0.0) + \
          (statistics.variance(b) / len(b) if len(b) > 1 else 0.0)
    return Comparison(statistics.fmean(a) - statistics.fmean(b), math.sqrt(var), (len(a), len(b)))


@dataclass(frozen=True)
class RankTest:
    u: float | None           # pairs (x in a, y in b) with x > y, ties counting 1/2
    p_greater: float | None   # P(U >= u) over all equally likely splits: a tends to exceed b
    p_less: float | None      # P(U <= u): a tends to fall below b
    n: tuple[int, int]

    def direction(self, want_greater: bool, alpha: float = 0.05) -> str:
        """REPRODUCED if the wanted order is significant at alpha, NOT_REPRODUCED if the opposite one
        is, else INCONCLUSIVE (also with fewer than MIN_SEEDS per group)."""
        if self.u is None or min(self.n) < MIN_SEEDS:
            return INCONCLUSIVE
        want, other = (self.p_greater, self.p_less) if want_greater else (self.p_less, self.p_greater)
        return REPRODUCED if want <= alpha + 1e-12 else NOT_REPRODUCED if other <= alpha + 1e-12 else INCONCLUSIVE

    def text(self) -> str:
        if self.u is None:
            return "no data"
        return f"U = {self.u:g} of {self.n[0] * self.n[1]}, one-sided p = {min(self.p_greater, self.p_less):.3g}"


def _u(a: list[float], b: list[float]) -> float:
    return sum(1.0 if x > y else 0.5 if x == y else 0.0 for x in a for y in b)


def ranks(a, b) -> RankTest:
    """Exact Mann-Whitney: U of the observed split against U of every split of the pooled values
    into groups of the same sizes (enumerated; the default's groups have 2-3 seeds)."""
    a, b = finite(a), finite(b)
    if not a or not b:
        return RankTest(None, None, None, (len(a), len(b)))
    pooled, u = a + b, _u(a, b)
    us = []
    for idx in itertools.combinations(range(len(pooled)), len(a)):
        chosen = set(idx)
        us.append(_u([pooled[i] for i in idx], [pooled[i] for i in range(len(pooled)) if i not in chosen]))
    return RankTest(u, sum(x >= u for x in us) / len(us), sum(x <= u for x in us) / len(us), (len(a), len(b)))


def paired(diffs) -> Comparison:
    d = finite(diffs)
    if not d:
        return Comparison(None, None, (0, 0))
    se = math.sqrt(statistics.variance(d) / len(d)) if len(d) > 1 else 0.0
    return Comparison(statistics.fmean(d), se, (len(d), len(d)))


def fisher_greater(k_a: int, n_a: int, k_b: int, n_b: int) -> float:
    """P(X >= k_a) for X hypergeometric: a has at least this many successes by chance alone."""
    k, n = k_a + k_b, n_a + n_b
    total = math.comb(n, k)
    return sum(math.comb(n_a, x) * math.comb(n_b, k - x) for x in range(k_a, min(k, n_a) + 1)) / total


def _ranks(xs: list[float]) -> list[float]:
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    return ranks


def spearman(x: list[float], y: list[float]) -> float | None:
    if len(x) < 3 or len(x) != len(y):
        return None
    rx, ry = _ranks(x), _ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    num = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    den = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    return num / den if den else None
