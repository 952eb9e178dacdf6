"""Confidence intervals and power for scores of [seeds x test items].

Every run of a cell is scored on the same test items, so a cell's per-item scores form a crossed
design: ``y[s, i] = mu + u_s + v_i + e_si`` (seed effect u, item effect v, residual e). The cell
mean estimates ``mu`` (the expected score over training seeds and over the population the test
items are drawn from); its variance is

    var(mean) = s2_seed / S + s2_item / I + s2_resid / (S I),

each component estimated from the two-way ANOVA mean squares (truncated at zero). It has two
parts: the seed means, i.i.d. given the test items with variance s2_seed + s2_resid / I (exactly a
t(S - 1) problem for normal seed means: with 3 seeds and a dominant seed effect the quantile is
t(2) = 4.30, not 1.96), and the item sample, s2_item / I with I - 1 df. Two standard ways to join
such parts miss in opposite directions in simulation at 3 seeds: Welch-Satterthwaite's pooled df
covers 0.925-0.95 (liberal when the parts are of one size), the MOVER sum of each part's t-scaled
SE in quadrature 0.94-0.98 (conservative). The half-width is their mean, which covers 0.93-0.97
over the grid of seed, item and residual variances in tests/test_stats.py (binary and continuous
scores, paired differences, 3 and 5 seeds; benchmarks/interval_coverage.py sweeps wider: 0.9275
for binary scores whose seed means are skewed by a very large seed effect at 3 seeds). A percentile bootstrap over three seeds is
[min, max] of the seeds and covers about 75%.

Degenerate designs say what they can: one seed -> item variance only (seed variance is not
identifiable; the interval is conditional on that seed); one item (a run-level metric) -> the
t interval over seeds; one value, or every score identical (0 of 64 correct) -> no interval (NaN
bounds, never a zero-width fake). Near 0 or 1 these are Wald-type intervals: with a handful of
successes among the items they can reach below 0 (or above 1) and cover less.

Paired comparisons (``paired_ci``, ``mde``) work on the per-item differences ``a - b`` of the
same items and seeds, so item difficulty cancels.
"""
from __future__ import annotations

import numpy as np
from scipy import stats as _st
from scipy.optimize import brentq


def _as_matrix(scores) -> np.ndarray:
    x = np.asarray(scores, dtype=float)
    if x.ndim == 1:  # one value per seed (a run-level metric): seeds x 1 item
        x = x[:, None]
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"scores must be a non-empty [seeds x items] array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("scores contain NaN or infinite values; drop or fill them before computing intervals")
    return x


def variance_components(scores) -> dict:
    """ANOVA estimates of the seed, item and residual variances of a [seeds x items] array, with the
    mean squares and their degrees of freedom (None where a dimension has a single level)."""
    x = _as_matrix(scores)
    S, n_items = x.shape
    grand = x.mean()
    seed_means, item_means = x.mean(1), x.mean(0)
    out = {"n_seeds": S, "n_items": n_items, "mean": float(grand)}
    ms_seed = n_items * ((seed_means - grand) ** 2).sum() / (S - 1) if S > 1 else None
    ms_item = S * ((item_means - grand) ** 2).sum() / (n_items - 1) if n_items > 1 else None
    if S > 1 and n_items > 1:
        resid = x - seed_means[:, None] - item_means[None, :] + grand
        ms_resid = (resid ** 2).sum() / ((S - 1) * (n_items - 1))
    else:
        ms_resid = None  # confounded with the one effect there is
    out.update(ms_seed=ms_seed, ms_item=ms_item, ms_resid=ms_resid,
               df_seed=S - 1, df_item=n_items - 1, df_resid=(S - 1) * (n_items - 1))
    if ms_resid is not None:
        out["var_seed"] = max(0.0, (ms_seed - ms_resid) / n_items)
        out["var_item"] = max(0.0, (ms_item - ms_resid) / S)
        out["var_resid"] = float(ms_resid)
    return out


def _parts(comp: dict, n_seeds: int | None = None, n_items: int | None = None) -> list[tuple[float, float]]:
    """(variance of the mean, df) of the seed part and the item part, for the observed design or
    for one of ``n_seeds`` x ``n_items`` projected from the estimated components."""
    S, n_items_obs = comp["n_seeds"], comp["n_items"]
    if "var_resid" not in comp:  # one seed (item variance only) or one item (seed variance only)
        ms, df, n = (comp["ms_item"], comp["df_item"], n_items or n_items_obs) if S == 1 else \
            (comp["ms_seed"], comp["df_seed"], n_seeds or S)
        return [] if ms is None else [(ms / n, df)]
    S2, i2 = n_seeds or S, n_items or n_items_obs
    # Seed means are i.i.d. given the items, with variance s2_seed + s2_resid / I: a t(S - 1) part.
    # Observed: their sample variance (MS_seed / I, not truncated); projected: from the components.
    seed_part = comp["ms_seed"] / (S * i2) if (S2, i2) == (S, n_items_obs) else \
        (comp["var_seed"] + comp["var_resid"] / i2) / S2
    return [(seed_part, S2 - 1), (comp["var_item"] / i2, i2 - 1)]


def _half_width(parts, *quantiles: float) -> float:
    """Half-width of the interval (``quantiles``: 0.975 for a 95% interval; 0.975 and 0.8 for an
    MDE): the mean of the Welch-Satterthwaite width (slightly liberal when the seed part has 2-4 df)
    and the MOVER width, each part's SE times its own t quantile in quadrature (conservative)."""
    if not parts:
        return float("nan")
    var = sum(v for v, _ in parts)
    if var <= 0:
        return 0.0
    df = var ** 2 / sum(v ** 2 / df for v, df in parts if v > 0)
    welch = np.sqrt(var) * sum(_st.t.ppf(q, df) for q in quantiles)
    mover = np.sqrt(sum(v * sum(_st.t.ppf(q, df) for q in quantiles) ** 2 for v, df in parts))
    return float((welch + mover) / 2)


def cell_ci(scores, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, lower, upper) of a cell from its [seeds x items] per-item scores (a 1-d array is
    one run-level value per seed). Seed and item variance both count; see the module docstring."""
    _check_level(level)
    comp = variance_components(scores)
    half = _half_width(_parts(comp), 0.5 + level / 2)
    if half == 0:  # every score identical (0/64 correct, say): no variance to estimate, no interval
        half = float("nan")
    return comp["mean"], comp["mean"] - half, comp["mean"] + half


def _differences(a, b) -> np.ndarray:
    a, b = _as_matrix(a), _as_matrix(b)
    if b.shape[0] == 1 and a.shape[0] > 1:  # a fixed reference (e.g. the base model, evaluated once)
        b = np.broadcast_to(b, a.shape)
    if a.shape != b.shape:
        raise ValueError(f"paired scores must cover the same seeds and items: shapes {a.shape} and {b.shape} "
                         "(b may also be one row, a fixed reference scored once)")
    return a - b


def paired_ci(a, b, level: float = 0.95) -> tuple[float, float, float]:
    """(mean of a - b, lower, upper) from two [seeds x items] arrays whose rows are the same seeds
    and columns the same test items; ``b`` may be a single row (a reference scored once)."""
    return cell_ci(_differences(a, b), level)


def mde(a, b, level: float = 0.95, power: float = 0.8, n_seeds: int | None = None,
        n_items: int | None = None) -> float:
    """Minimum detectable effect of the paired comparison a - b: the true difference that a
    ``level`` interval excludes zero with probability ``power``: the non-central t with the
    interval's own critical value and Welch-Satterthwaite df, for this design or for ``n_seeds`` x
    ``n_items`` projected from its variance components. (The usual (t_alpha + t_power) x SE shortcut
    gives 0.62 power instead of 0.8 when a 2-df seed part dominates.)"""
    _check_level(level)
    if not 0 < power < 1:
        raise ValueError(f"power must lie in (0, 1), got {power!r}")
    if n_seeds is not None and n_seeds < 2:
        raise ValueError(f"mde: n_seeds={n_seeds!r} cannot be projected to (the seed variance needs 2 seeds or more); "
                         "allowed: an integer >= 2, or None for the observed design")
    if n_items is not None and n_items < 2:
        raise ValueError(f"mde: n_items={n_items!r} cannot be projected to; allowed: an integer >= 2, or None")
    parts = _parts(variance_components(_differences(a, b)), n_seeds, n_items)
    var = sum(v for v, _ in parts)
    if not parts or var <= 0:  # no variance to estimate (every difference identical): no size, not a zero one
        return float("nan")
    se = np.sqrt(var)
    df = var ** 2 / sum(v ** 2 / d for v, d in parts if v > 0)
    crit = _half_width(parts, 0.5 + level / 2) / se  # the interval's own critical value

    def shortfall(ncp):  # power of "the interval excludes 0" at a true difference of ncp SEs
        p = _st.nct.sf(crit, df, ncp) + _st.nct.cdf(-crit, df, ncp)
        return (1.0 if np.isnan(p) else p) - power  # scipy's nct is NaN far in the tail (power ~1)

    return float(se * brentq(shortfall, 0.0, 4.0 * crit + 10.0))


def probability_of_improvement(cells, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """rliable's probability of improvement of X over Y across cells: in each cell the share of
    (run of X, run of Y) pairs where X's score is higher (ties count 1/2), averaged over cells.

    ``cells``: a list of (x, y) pairs, each a [seeds x items] array of per-item scores (oriented so
    that higher is better) over the same items; a run's score is its mean over items. Interval: a
    stratified percentile bootstrap that resamples, within each cell, the test items (shared by
    X and Y) and each side's seeds. With few seeds it is approximate (seed resampling narrows).
    """
    _check_level(level)
    if not cells:
        raise ValueError("probability_of_improvement needs at least one cell")
    rng = np.random.default_rng(seed)
    point, boots = [], []
    for x, y in cells:
        x, y = _as_matrix(x), _as_matrix(y)
        if x.shape[1] != y.shape[1]:
            raise ValueError(f"X and Y must be scored on the same items: {x.shape[1]} vs {y.shape[1]}")
        point.append(_poi(x.mean(1), y.mean(1)))
        items = rng.integers(0, x.shape[1], size=(n_boot, x.shape[1]))
        xm = x[:, items].mean(-1).T  # n_boot x seeds: run means on resampled items
        ym = y[:, items].mean(-1).T
        xs = np.take_along_axis(xm, rng.integers(0, x.shape[0], size=xm.shape), 1)
        ys = np.take_along_axis(ym, rng.integers(0, y.shape[0], size=ym.shape), 1)
        boots.append(_poi(xs, ys))
    dist = np.mean(boots, axis=0)
    if all(_as_matrix(x).shape == (1, 1) and _as_matrix(y).shape == (1, 1) for x, y in cells):
        return float(np.mean(point)), float("nan"), float("nan")  # one value a side: nothing to resample
    alpha = (1 - level) / 2
    return float(np.mean(point)), float(np.quantile(dist, alpha)), float(np.quantile(dist, 1 - alpha))


def _poi(x, y):
    """P(X > Y) + P(X == Y) / 2 over all pairs of runs; x, y are [..., runs] arrays."""
    x, y = np.asarray(x)[..., :, None], np.asarray(y)[..., None, :]
    return ((x > y) + 0.5 * (x == y)).mean(axis=(-1, -2))


def _check_level(level):
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
