"""Probability of improvement over nll (rliable): for each objective, the probability that it
beats nll in a random cell of the study, with its 95% interval; one panel per metric. 0.5 (dashed)
is "no better, no worse". Reads results/tables/improvement_probability.csv only.
    python paper_figures/improvement_probability.py results/tables/improvement_probability.csv \
        results/figures/improvement_probability
"""
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _style import placeholder, save, style  # noqa: E402


def main(table_csv, out_stem) -> None:
    df = pd.read_csv(table_csv)
    if df.empty:  # e.g. a study of one objective (paper-smoke): nothing is compared with nll
        placeholder(out_stem, "no cell has both nll and another objective:\nnothing to compare")
        return
    metrics = list(dict.fromkeys(df.metric))
    style()
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.0 * len(metrics), 0.5 + 0.45 * df.objective.nunique()),
                             squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        sub = df[df.metric == metric].iloc[::-1]
        ax.errorbar(sub.probability, sub.objective, capsize=3, fmt="o",
                    xerr=[sub.probability - sub.ci_low, sub.ci_high - sub.probability])
        ax.axvline(0.5, ls="--", c="grey")
        ax.set_xlim(0, 1)
        ax.set_title(f"{metric} ({int(sub.n_cells.max())} cells)")
        ax.set_xlabel(f"P(objective beats {sub.baseline.iloc[0]})")
    fig.tight_layout()
    save(fig, out_stem)


if "snakemake" in globals():
    main(snakemake.input[0], Path(snakemake.output.png).with_suffix(""))  # noqa: F821
elif __name__ == "__main__":
    main(*sys.argv[1:3])
