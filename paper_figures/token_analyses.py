"""Token-level gradient maps and confident conflicts, from results/tables/token_stats.csv only.

Gradient maps: per regime (rows) and objective (columns), x = p_y, y = entropy H(pi), colour = the
normalised gradient magnitude gate * ||pi - e_y|| (mean per hexagon), clean training data under the
model before fine-tuning. Confident conflicts: per regime, the share of each objective's total gate
mass on corrupted examples, against the share of their tokens (dashed: what nll gives).
    python paper_figures/token_analyses.py results/tables/token_stats.csv results/figures results/tables
"""
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _style import save, style  # noqa: E402

from deft.analysis import conflict_shares  # noqa: E402


def objectives_of(df):
    return [c.removeprefix("gate_") for c in df.columns if c.startswith("gate_")]


def gradient_maps(df, out_stem):
    clean = df[df.noise == "clean"]
    regimes, objs = list(dict.fromkeys(clean.regime)), objectives_of(df)
    fig, axes = plt.subplots(len(regimes), len(objs), figsize=(2.4 * len(objs), 2.2 * len(regimes)),
                             squeeze=False, sharex=True, sharey=True)
    for r, regime in enumerate(regimes):
        sub = clean[clean.regime == regime]
        for c, obj in enumerate(objs):
            ax = axes[r][c]
            hb = ax.hexbin(sub.p_y, sub.entropy, C=sub[f"grad_{obj}"], gridsize=12, cmap="viridis", vmin=0,
                           vmax=1.42, reduce_C_function=lambda v: sum(v) / len(v), extent=(0, 1, 0, sub.entropy.max()))
            ax.set_title(f"{regime}: {obj}", fontsize=8)
            ax.set_xlabel("p_y" if r == len(regimes) - 1 else "")
            ax.set_ylabel("entropy H(pi)" if c == 0 else "")
    fig.colorbar(hb, ax=axes, label="gate x ||pi - e_y||")
    save(fig, out_stem)


def conflicts(df, out_stem, table_csv):
    noisy = df[df.noise != "clean"]
    objs = objectives_of(df)
    rows = []
    for (regime, noise), sub in noisy.groupby(["regime", "noise"]):
        t = conflict_shares(sub, set(sub[sub.corrupted].example), objs)
        t.insert(0, "noise", noise)
        t.insert(0, "regime", regime)
        rows.append(t)
    table = pd.concat(rows, ignore_index=True)
    Path(table_csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(table_csv, index=False)
    g = sns.catplot(data=table, x="objective", y="gate_share_corrupted", col="regime", hue="noise", kind="bar",
                    height=2.6, aspect=1.1)
    for ax, (_, sub) in zip(g.axes.flat, table.groupby("regime")):
        ax.axhline(sub.token_share_corrupted.iloc[0], ls="--", c="grey")
        ax.set_ylabel("gate mass on corrupted examples")
    save(g.figure, out_stem)


def main(stats_csv, figures_dir, tables_dir):
    df = pd.read_csv(stats_csv)
    style()
    gradient_maps(df, Path(figures_dir) / "gradient_maps")
    conflicts(df, Path(figures_dir) / "confident_conflicts", Path(tables_dir) / "confident_conflicts.csv")


if "snakemake" in globals():
    sm = snakemake  # noqa: F821
    main(sm.input[0], Path(sm.output.maps).parent, Path(sm.output.table).parent)
elif __name__ == "__main__":
    main(*sys.argv[1:4])
