"""Noise robustness: metric vs noise rate, one line per objective, one panel per regime.

Reads results/tables/runs.csv only; the mean over seeds with a 95% bootstrap confidence interval
(seaborn's, 1000 resamples) where there are several seeds.
    python paper_figures/noise_robustness.py results/tables/runs.csv results/figures/noise_robustness
"""
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _style import finish, style  # noqa: E402

from deft.aggregate import ordered  # noqa: E402
from deft.data.domains import kind_of  # noqa: E402

# The headline metric of each domain kind (the paper's): Jaro-Winkler for figfont, avg@16 for math,
# accuracy otherwise.
HEADLINE = {"figfont": "jaro_winkler", "arithmetic": "exact_match", "math": "avg_at_k", "medical": "acc"}


def lines(ax, sub: pd.DataFrame, ylabel: str) -> None:
    """Metric vs noise rate, one line per objective (canonical order), 95% bootstrap CI over seeds."""
    sns.lineplot(data=sub, x="noise_rate", y="value", hue="objective", hue_order=ordered(sub.objective),
                 marker="o", errorbar=("ci", 95), n_boot=1000, seed=0, ax=ax)
    ax.set_title(f"{sub.regime.iloc[0]} ({sub.domain.iloc[0]})")
    ax.set_xlabel("label-noise rate")
    ax.set_ylabel(ylabel)


def plot(runs_csv, out_stem, metric=None, ylabel=None) -> None:
    """``metric``: one metric for every regime (default: each domain's headline metric)."""
    df = pd.read_csv(runs_csv)
    wanted = df.domain.map(lambda d: HEADLINE.get(kind_of(d), "exact_match")) if metric is None else metric
    df = df[(df.kind == "run") & (df.metric == wanted)]
    regimes = list(dict.fromkeys(df.regime))
    style()
    fig, axes = plt.subplots(1, len(regimes), figsize=(3.2 * len(regimes), 2.8), squeeze=False)
    for ax, regime in zip(axes[0], regimes):
        sub = df[df.regime == regime]
        lines(ax, sub, ylabel or sub.metric.iloc[0])
    finish(fig, axes[0], out_stem)


if "snakemake" in globals():
    plot(snakemake.input[0], Path(snakemake.output.png).with_suffix(""))  # noqa: F821
elif __name__ == "__main__":
    plot(sys.argv[1], sys.argv[2])
