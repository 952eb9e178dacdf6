"""Forgetting, per objective and noise rate, one column per regime (results/tables/cells.csv only):
(i) task level - greedy exact-match accuracy on the clean prior task (the reference set, by default
the arithmetic test split) after fine-tuning minus before (``prior_task_delta``; below 0 = forgot);
(ii) token level - the share of the reference set's tokens that were the model's top-1 prediction
before fine-tuning and are not after (``token_forgetting_rate``). Mean with the 95% interval of
deft.stats.cell_ci (items and seeds for the task level; seeds for the token rate, a ratio per run).
    python paper_figures/forgetting.py results/tables/cells.csv results/figures/forgetting
"""
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _style import finish, style  # noqa: E402
from noise_robustness import lines  # noqa: E402

METRICS = [("prior_task_delta", "prior-task accuracy, after - before"),
           ("token_forgetting_rate", "token forgetting rate")]


def main(cells_csv, out_stem) -> None:
    df = pd.read_csv(cells_csv)
    metrics = [(m, label) for m, label in METRICS if (df.metric == m).any()]
    if not metrics:
        raise ValueError(f"{cells_csv} has none of the forgetting metrics {[m for m, _ in METRICS]}; "
                         "the records need a reference set (analysis.reference: {backbone: domain})")
    regimes = list(dict.fromkeys(df.regime))
    style()
    fig, axes = plt.subplots(len(metrics), len(regimes), figsize=(3.2 * len(regimes), 2.6 * len(metrics)),
                             squeeze=False)
    for r, (metric, label) in enumerate(metrics):
        for ax, regime in zip(axes[r], regimes):
            lines(ax, df[(df.regime == regime) & (df.metric == metric)], label)
            if metric == "prior_task_delta":
                ax.axhline(0, c="grey", lw=0.8)
    for row in axes[:-1]:
        for ax in row:
            ax.set_xlabel("")
    finish(fig, list(axes.flat), out_stem)


if "snakemake" in globals():
    main(snakemake.input[0], Path(snakemake.output.png).with_suffix(""))  # noqa: F821
elif __name__ == "__main__":
    main(*sys.argv[1:3])
