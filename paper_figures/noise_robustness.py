"""Noise robustness: metric vs noise rate, one line per objective, one panel per regime.

Reads results/tables/cells.csv only: each point is a cell's mean over seeds and test items, its
error bar the 95% interval of deft.stats.cell_ci (seed and item variance; never a plotting
library's bootstrap over seeds).
    python paper_figures/noise_robustness.py results/tables/cells.csv results/figures/noise_robustness
"""
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _style import finish, style  # noqa: E402

from deft.data.domains import kind_of  # noqa: E402
from deft.report.tables import ordered  # noqa: E402

# The headline metric of each domain kind (the paper's): Jaro-Winkler for figfont, avg@16 for math,
# accuracy otherwise.
HEADLINE = {"figfont": "jaro_winkler", "arithmetic": "exact_match", "math": "avg_at_k", "medical": "acc"}


def lines(ax, sub: pd.DataFrame, ylabel: str, rates: pd.Series | None = None) -> None:
    """Metric vs noise rate, one line per objective (canonical order), 95% interval bars; ``rates``:
    every panel's noise rates, so that a regime run at fewer rates (the weak one: clean only) keeps
    the others' x axis."""
    objs = ordered(sub.objective)
    rates = sub.noise_rate if rates is None else rates
    span = (rates.max() - rates.min()) or 1.0
    for i, obj in enumerate(objs):
        o = sub[sub.objective == obj].sort_values("noise_rate")
        err = [(o["mean"] - o.ci_low).fillna(0), (o.ci_high - o["mean"]).fillna(0)]
        dodge = (i - (len(objs) - 1) / 2) * 0.015 * span  # side by side, so that the bars stay readable
        ax.errorbar(o.noise_rate + dodge, o["mean"], yerr=err, marker="o", capsize=2, label=obj)
    ax.set_xlim(rates.min() - 0.1 * span, rates.max() + 0.1 * span)
    ax.legend(title="objective")
    ax.set_title(f"{sub.regime.iloc[0]} ({sub.domain.iloc[0]})")
    ax.set_xlabel("label-noise rate")
    ax.set_ylabel(ylabel)


def plot(cells_csv, out_stem, metric=None, ylabel=None) -> None:
    """``metric``: one metric for every regime (default: each domain's headline metric)."""
    df = pd.read_csv(cells_csv)
    wanted = df.domain.map(lambda d: HEADLINE.get(kind_of(d), "exact_match")) if metric is None else metric
    df = df[df.metric == wanted]
    regimes = list(dict.fromkeys(df.regime))
    style()
    fig, axes = plt.subplots(1, len(regimes), figsize=(3.2 * len(regimes), 2.8), squeeze=False)
    for ax, regime in zip(axes[0], regimes):
        sub = df[df.regime == regime]
        lines(ax, sub, ylabel or sub.metric.iloc[0], df.noise_rate)
    finish(fig, axes[0], out_stem)


if "snakemake" in globals():
    plot(snakemake.input[0], Path(snakemake.output.png).with_suffix(""))  # noqa: F821
elif __name__ == "__main__":
    plot(sys.argv[1], sys.argv[2])
