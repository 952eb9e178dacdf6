"""Statistics over seeds: bootstrap confidence intervals of a mean and of a paired difference.

Percentile bootstrap (resample seeds with replacement), as rliable and HELM report results with
seeds. With one seed there is no interval: the bounds are NaN, never a fake zero-width interval.
"""
from __future__ import annotations

import numpy as np


def bootstrap_ci(values, level: float = 0.95, n_boot: int = 10_000, seed: int = 0) -> tuple[float, float, float]:
    """(mean, lower, upper) of the mean of ``values`` with a percentile bootstrap interval."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    mean = float(x.mean())
    if x.size == 1:
        return mean, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    alpha = (1 - level) / 2
    return mean, float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def paired_difference(a: dict, b: dict, **kw) -> tuple[float, float, float, int]:
    """Mean and CI of a[s] - b[s] over the seeds s both have; returns (mean, lower, upper, n_pairs)."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return float("nan"), float("nan"), float("nan"), 0
    return (*bootstrap_ci([a[s] - b[s] for s in seeds], **kw), len(seeds))
