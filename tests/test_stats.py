"""deft.stats, checked by simulation: intervals must cover at their nominal rate, with seed and
item variance both present, for binary (exact match) and continuous (Jaro-Winkler-like) scores."""
import math

import numpy as np
import pytest
from scipy.special import expit

from deft.stats import cell_ci, mde, paired_ci, probability_of_improvement, variance_components

N_SIM = 2000  # coverage standard error ~0.005
ITEMS = 256


def _binary(rng, seeds, items, seed_sd, item_sd=1.5, shift=0.0):
    """Exact-match-like: item difficulty and a per-seed ability on the logit scale."""
    u = rng.normal(0, seed_sd, (seeds, 1))
    v = rng.normal(0, item_sd, (1, items))
    return (rng.random((seeds, items)) < expit(shift + u + v)).astype(float)


def _binary_truth(seed_sd, item_sd=1.5, shift=0.0):
    z = np.random.default_rng(99).normal(0, 1, 4_000_000)
    return float(expit(shift + math.hypot(seed_sd, item_sd) * z).mean())


def _continuous(rng, seeds, items, seed_sd, item_sd=0.3, resid_sd=0.2, mean=0.5):
    return mean + rng.normal(0, seed_sd, (seeds, 1)) + rng.normal(0, item_sd, (1, items)) \
        + rng.normal(0, resid_sd, (seeds, items))


def _coverage(make, truth, rng):
    hits = 0
    for _ in range(N_SIM):
        _, lo, hi = cell_ci(make(rng))
        hits += lo <= truth <= hi
    return hits / N_SIM


@pytest.mark.parametrize("seeds", [3, 5])
@pytest.mark.parametrize("seed_sd", [0.1, 0.3])
def test_cell_ci_covers_95_percent_for_binary_scores(seeds, seed_sd):
    rng = np.random.default_rng(seeds * 10 + int(seed_sd * 10))
    cov = _coverage(lambda r: _binary(r, seeds, ITEMS, seed_sd), _binary_truth(seed_sd), rng)
    assert 0.93 <= cov <= 0.97, cov


@pytest.mark.parametrize("seeds", [3, 5])
@pytest.mark.parametrize("seed_sd", [0.02, 0.05, 0.3])  # item part dominates / both alike / seeds dominate
def test_cell_ci_covers_95_percent_for_continuous_scores(seeds, seed_sd):
    rng = np.random.default_rng(seeds * 100 + int(seed_sd * 100))
    cov = _coverage(lambda r: _continuous(r, seeds, ITEMS, seed_sd), 0.5, rng)
    assert 0.93 <= cov <= 0.97, cov


def test_a_seed_percentile_bootstrap_would_have_failed_this_check():
    """The check has teeth: [min, max] of three seed means (what a percentile bootstrap over three
    seeds gives) covers about 75% in the same simulation."""
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(N_SIM):
        means = _continuous(rng, 3, ITEMS, 0.3).mean(1)
        hits += means.min() <= 0.5 <= means.max()
    assert hits / N_SIM < 0.8


@pytest.mark.parametrize("seeds", [3, 5])
def test_paired_ci_covers_the_true_difference(seeds):
    """Two objectives scored on the same items: a shared item difficulty, a true gap of 0.3 logits."""
    rng = np.random.default_rng(seeds)
    truth = _binary_truth(0.2, shift=0.3) - _binary_truth(0.2)
    hits = 0
    for _ in range(N_SIM):
        v = rng.normal(0, 1.5, (1, ITEMS))
        a = (rng.random((seeds, ITEMS)) < expit(0.3 + rng.normal(0, 0.2, (seeds, 1)) + v)).astype(float)
        b = (rng.random((seeds, ITEMS)) < expit(rng.normal(0, 0.2, (seeds, 1)) + v)).astype(float)
        _, lo, hi = paired_ci(a, b)
        hits += lo <= truth <= hi
    assert 0.93 <= hits / N_SIM <= 0.97


def test_pairing_by_item_narrows_the_interval():
    rng = np.random.default_rng(3)
    v = rng.normal(0, 0.3, (1, ITEMS))
    a = 0.6 + v + rng.normal(0, 0.05, (3, ITEMS))
    b = 0.5 + v + rng.normal(0, 0.05, (3, ITEMS))
    _, lo, hi = paired_ci(a, b)
    _, lo_a, hi_a = cell_ci(a)
    _, lo_b, hi_b = cell_ci(b)
    assert hi - lo < 0.5 * math.hypot(hi_a - lo_a, hi_b - lo_b)
    assert lo > 0  # the 0.1 gap is found


def test_mde_is_the_effect_found_with_the_stated_power():
    """At a true difference equal to the design's MDE, the paired interval excludes zero in about
    80% of repetitions, also when a 2-df seed part dominates."""
    rng = np.random.default_rng(11)

    def draw(delta, seeds=3):
        v = rng.normal(0, 0.3, (1, ITEMS))
        a = delta + v + rng.normal(0, 0.05, (seeds, 1)) + rng.normal(0, 0.2, (seeds, ITEMS))
        b = v + rng.normal(0, 0.05, (seeds, 1)) + rng.normal(0, 0.2, (seeds, ITEMS))
        return a, b

    # the MDE of a 3-seed design, from variance components known precisely (400 seeds)
    effect = mde(*draw(0.0, seeds=400), n_seeds=3)
    detected = 0
    for _ in range(1000):
        _, lo, hi = paired_ci(*draw(effect))
        detected += lo > 0 or hi < 0
    assert 0.7 <= detected / 1000 <= 0.9, detected / 1000


def test_mde_projection_shrinks_with_items_and_seeds():
    rng = np.random.default_rng(2)
    a, b = _continuous(rng, 3, 64, 0.05), _continuous(rng, 3, 64, 0.05)
    here = mde(a, b)
    assert mde(a, b, n_items=1024) < here and mde(a, b, n_seeds=10) < here
    assert mde(a, b, n_seeds=3, n_items=64) == pytest.approx(here)


def test_variance_components_recover_the_simulated_ones():
    rng = np.random.default_rng(4)
    comp = variance_components(_continuous(rng, 40, 400, 0.1, item_sd=0.3, resid_sd=0.2))
    assert comp["var_seed"] == pytest.approx(0.01, rel=0.5)
    assert comp["var_item"] == pytest.approx(0.09, rel=0.2)
    assert comp["var_resid"] == pytest.approx(0.04, rel=0.05)


def test_degenerate_designs():
    # one seed: the item-level t interval
    x = np.array([[1.0, 0.0, 1.0, 1.0]])
    m, lo, hi = cell_ci(x)
    assert m == 0.75 and hi - m == pytest.approx(3.182446 * 0.5 / 2, rel=1e-5)
    # one value per seed (a run-level metric): the t interval over seeds
    m, lo, hi = cell_ci([0.6, 0.7, 0.8])
    assert m == pytest.approx(0.7) and hi - m == pytest.approx(4.302653 * 0.1 / math.sqrt(3), rel=1e-5)
    # a single value has no interval, nor have identical values (no zero-width fake)
    assert all(math.isnan(v) for v in cell_ci([[0.3]])[1:])
    m, lo, hi = cell_ci(np.full((3, 5), 0.5))
    assert m == 0.5 and math.isnan(lo) and math.isnan(hi)
    assert math.isnan(mde(np.full((3, 5), 0.5), np.full((3, 5), 0.5)))  # nor a zero MDE
    for bad in ([], [[np.nan, 1.0]], np.zeros((2, 2, 2))):
        with pytest.raises(ValueError, match="scores"):
            cell_ci(bad)
    with pytest.raises(ValueError, match="level"):
        cell_ci([1.0, 2.0], level=95)


def test_paired_ci_needs_the_same_seeds_and_items_or_a_fixed_reference():
    a = np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    with pytest.raises(ValueError, match="same seeds and items"):
        paired_ci(a, np.ones((2, 4)))
    m, _, _ = paired_ci(a, np.array([[0.0, 0.0, 1.0]]))  # the base model, evaluated once
    assert m == pytest.approx(3 / 6)  # differences [[1, 0, 0], [1, 1, 0]]


def test_probability_of_improvement():
    rng = np.random.default_rng(0)
    better = [(_continuous(rng, 3, 64, 0.01, mean=0.7), _continuous(rng, 3, 64, 0.01, mean=0.5)) for _ in range(4)]
    p, lo, hi = probability_of_improvement(better)
    assert p == 1.0 and lo > 0.9
    same = [(_continuous(rng, 3, 64, 0.05), _continuous(rng, 3, 64, 0.05)) for _ in range(8)]
    p, lo, hi = probability_of_improvement(same)
    assert lo < 0.5 < hi
    # ties count one half: identical runs give exactly 0.5
    x = np.ones((3, 10))
    assert probability_of_improvement([(x, x)])[0] == 0.5
    # one run-level value a side: a point, no interval
    p, lo, hi = probability_of_improvement([(np.array([0.3]), np.array([0.2]))])
    assert p == 1.0 and math.isnan(lo) and math.isnan(hi)
    # hand-computed: x runs 0.2, 0.6; y runs 0.4 -> one win of two pairs
    assert probability_of_improvement([(np.array([0.2, 0.6]), np.array([0.4]))])[0] == 0.5
    with pytest.raises(ValueError, match="same items"):
        probability_of_improvement([(np.ones((3, 4)), np.ones((3, 5)))])


def test_every_metric_has_a_direction_including_a_second_tasks():
    from deft.eval.metrics import direction

    assert direction("acc_items") == direction("deft_medical/acc") == "higher"
    assert direction("x/token_forgetting_rate") == "lower"
    with pytest.raises(ValueError, match="metric 'deft_medical/bleu' has no declared direction"):
        direction("deft_medical/bleu")


def test_mde_refuses_a_projection_to_one_seed_or_item():
    import deft.stats as S

    a, b = np.random.default_rng(0).random((3, 20)), np.zeros((3, 20))
    with pytest.raises(ValueError, match="n_seeds=1 cannot be projected to.*allowed: an integer >= 2"):
        S.mde(a, b, n_seeds=1)
    with pytest.raises(ValueError, match="n_items=1 cannot be projected to"):
        S.mde(a, b, n_items=1)
