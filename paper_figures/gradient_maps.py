"""Token-level gradient maps, before and after fine-tuning, from results/tables/heldout_tokens.csv.

Rows: regime x (before, after); columns: objectives. x = target-token probability p_y, y = predictive
entropy H(pi), colour = the normalised gradient magnitude gate x ||pi - e_y|| (mean per hexagon,
0 .. sqrt(2)). Tokens: the first held-out test examples of the regime's domain, clean runs, seeds
pooled. Before: the base model with each objective's gate; after: the model fine-tuned with that
objective, under its own gate.
    python paper_figures/gradient_maps.py results/tables/heldout_tokens.csv results/figures/gradient_maps
"""
import math
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _style import save, style  # noqa: E402

from deft.report.tables import ordered  # noqa: E402


def panels(df: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """(regime, stage, rows) per figure row, stage in (before, after)."""
    clean = df[df.noise_rate == 0]
    out = []
    for regime in dict.fromkeys(clean.regime):
        sub = clean[clean.regime == regime]
        out.append((regime, "before", sub[sub.model == "base"]))
        out.append((regime, "after", sub[sub.model == sub.objective]))
    return out


def plot(tokens_csv, out_stem) -> None:
    df = pd.read_csv(tokens_csv)
    objs = ordered(df.objective)
    rows = panels(df)
    style()
    fig, axes = plt.subplots(len(rows), len(objs), figsize=(2.3 * len(objs) + 1, 2.0 * len(rows)),
                             squeeze=False, sharex=True, sharey=True)
    top = max(df.entropy.max(), 1e-3)
    for r, (regime, stage, sub) in enumerate(rows):
        for c, obj in enumerate(objs):
            ax, cell = axes[r][c], sub[sub.objective == obj]
            if len(cell):
                hb = ax.hexbin(cell.p_y, cell.entropy, C=cell.grad, gridsize=12, cmap="viridis", vmin=0,
                               vmax=math.sqrt(2), reduce_C_function=lambda v: sum(v) / len(v), extent=(0, 1, 0, top))
            ax.set_title(f"{regime}, {stage}: {obj}", fontsize=7)
            ax.set_xlabel("p_y" if r == len(rows) - 1 else "")
            ax.set_ylabel("entropy H(pi)" if c == 0 else "")
    fig.colorbar(hb, ax=axes, label="gate x ||pi - e_y||")
    save(fig, out_stem)


if "snakemake" in globals():
    plot(snakemake.input[0], Path(snakemake.output.png).with_suffix(""))  # noqa: F821
elif __name__ == "__main__":
    plot(sys.argv[1], sys.argv[2])
