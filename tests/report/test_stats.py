"""The claims' statistics against scipy's and against the direct formulas."""
import math
import statistics

import pytest
from scipy import stats as sps

from biggan.report import stats


def test_compare_is_welch_difference_and_standard_error():
    a, b = [10.0, 12.0, 11.0], [20.0, 25.0, 22.0]
    c = stats.compare(a, b)
    se = math.sqrt(statistics.variance(a) / 3 + statistics.variance(b) / 3)
    assert c.diff == pytest.approx(11.0 - 22.333333, rel=1e-6) and c.se == pytest.approx(se)
    assert c.direction(want_positive=False) == stats.REPRODUCED
    assert c.direction(want_positive=True) == stats.NOT_REPRODUCED


def test_difference_within_the_spread_is_inconclusive():
    c = stats.compare([10.0, 30.0, 20.0], [18.0, 24.0, 15.0])
    assert abs(c.diff) < 2 * c.se and c.direction(True) == c.direction(False) == stats.INCONCLUSIVE


def test_fewer_than_three_seeds_give_no_verdict():
    assert stats.compare([1.0, 1.1], [9.0, 9.1]).direction(False) == stats.INCONCLUSIVE


def test_non_finite_values_are_dropped():
    c = stats.compare([1.0, float("nan"), None, 2.0, 3.0], [5.0, 6.0, 7.0])
    assert c.n == (3, 3)


def test_paired_is_the_mean_difference_over_its_standard_error():
    d = [1.0, 2.0, 1.5, 0.5]
    c = stats.paired(d)
    assert c.diff == pytest.approx(1.25) and c.se == pytest.approx(statistics.stdev(d) / 2)


@pytest.mark.parametrize("ka,na,kb,nb", [(5, 6, 1, 6), (2, 5, 2, 5), (0, 4, 3, 4), (7, 10, 1, 12)])
def test_fisher_matches_scipy(ka, na, kb, nb):
    ref = sps.fisher_exact([[ka, na - ka], [kb, nb - kb]], alternative="greater").pvalue
    assert stats.fisher_greater(ka, na, kb, nb) == pytest.approx(ref)


def test_spearman_matches_scipy_with_ties():
    x, y = [0, 1, 2, 3, 4, 5], [1.0, 2.0, 2.0, 5.0, 4.0, 9.0]
    assert stats.spearman(x, y) == pytest.approx(sps.spearmanr(x, y).statistic)
    assert stats.spearman([1, 2], [1, 2]) is None
