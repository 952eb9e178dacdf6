import math

import numpy as np
import pytest

from deft.stats import bootstrap_ci, paired_difference


def test_mean_and_interval_contain_the_mean_and_shrink_with_more_seeds():
    m, lo, hi = bootstrap_ci([0.6, 0.7, 0.8])
    assert m == pytest.approx(0.7) and 0.6 - 1e-12 <= lo < m < hi <= 0.8 + 1e-12
    rng = np.random.default_rng(1)
    few = bootstrap_ci(rng.normal(0.5, 0.1, 4))
    many = bootstrap_ci(rng.normal(0.5, 0.1, 400))
    assert many[2] - many[1] < few[2] - few[1]
    # 400 draws: the 95% interval of the mean is about +-1.96 * 0.1 / 20
    assert many[2] - many[1] == pytest.approx(2 * 1.96 * 0.1 / 20, rel=0.25)


def test_identical_values_give_a_zero_width_interval_and_one_value_none():
    assert bootstrap_ci([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)
    m, lo, hi = bootstrap_ci([0.3])
    assert m == 0.3 and math.isnan(lo) and math.isnan(hi)
    with pytest.raises(ValueError):
        bootstrap_ci([])


def test_paired_difference_uses_common_seeds_only():
    deft = {0: 0.8, 1: 0.9, 2: 0.7, 3: 0.5}
    nll = {0: 0.7, 1: 0.8, 2: 0.6}
    m, lo, hi, n = paired_difference(deft, nll)
    assert n == 3 and m == pytest.approx(0.1) and lo == pytest.approx(0.1) and hi == pytest.approx(0.1)
    assert paired_difference({0: 1.0}, {1: 1.0})[3] == 0
