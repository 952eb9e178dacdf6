"""Gating dynamics: mean exponent a (deft, cayley) and mean p_y per training step, one line per
regime, from the per-step training logs (results/tables/train_logs.csv only).
    python paper_figures/gating_dynamics.py results/tables/train_logs.csv results/figures/gating_dynamics
"""
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

sys.path.insert(0, str(Path(__file__).parent))
from _style import finish, style  # noqa: E402


def plot(logs_csv, out_stem) -> None:
    df = pd.read_csv(logs_csv)
    panels = [(o, "mean_a") for o in ("deft", "cayley") if o in set(df.objective)]
    panels += [(o, "mean_p") for o in dict.fromkeys(df.objective)]
    style()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 2.6), squeeze=False)
    for ax, (objective, column) in zip(axes[0], panels):
        sub = df[(df.objective == objective) & df[column].notna()]
        sns.lineplot(data=sub, x="step", y=column, hue="regime", style="noise_rate", errorbar=None, ax=ax)
        ax.set_title(f"{objective}: {'mean a' if column == 'mean_a' else 'mean p_y'}")
        ax.set_xlabel("training step")
        ax.set_ylabel(column)
    finish(fig, axes[0], out_stem)


if "snakemake" in globals():
    plot(snakemake.input[0], Path(snakemake.output.png).with_suffix(""))  # noqa: F821
elif __name__ == "__main__":
    plot(sys.argv[1], sys.argv[2])
