"""Confident conflicts, from results/tables/token_stats.csv only: on noisy training data under the
model before fine-tuning, the share of each objective's logit-gradient norm that falls on the
changed answer tokens of corrupted examples, per regime and noise setting, against their share of
tokens (dashed). Token statistics without token classes (written before they existed) fall back to
the gate mass on all tokens of corrupted examples. Also writes the numbers as a table (end-of-turn
and unchanged tokens, gate shares beside).
    python paper_figures/confident_conflicts.py results/tables/token_stats.csv \
        results/figures/confident_conflicts results/tables/confident_conflicts.csv
"""
import sys
from pathlib import Path

import pandas as pd
import seaborn as sns

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _style import placeholder, save, style  # noqa: E402

from deft.eval.analysis import conflict_shares  # noqa: E402
from deft.io import write_bytes_atomic  # noqa: E402
from deft.report.tables import ordered  # noqa: E402


def shares(df: pd.DataFrame) -> pd.DataFrame:
    noisy = df[df.noise != "clean"]
    objs = ordered(c.removeprefix("gate_") for c in df.columns if c.startswith("gate_"))
    rows = []
    for (regime, noise), sub in noisy.groupby(["regime", "noise"], sort=False):
        t = conflict_shares(sub, set(sub[sub.corrupted].example), objs)
        t.insert(0, "noise", noise)
        t.insert(0, "regime", regime)
        rows.append(t)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["regime", "noise", "objective"])


def main(stats_csv, out_stem, table_csv) -> None:
    table = shares(pd.read_csv(stats_csv))
    write_bytes_atomic(table_csv, table.to_csv(index=False).encode())
    style()
    if table.empty:  # a study without label noise has no corrupted tokens to look at
        placeholder(out_stem, "no noisy training data in this study:\nno confident conflicts to measure")
        return
    by_class = "grad_share_changed" in table
    y, share = ("grad_share_changed", "token_share_changed") if by_class else \
        ("gate_share_corrupted", "token_share_corrupted")
    g = sns.catplot(data=table, x="objective", y=y, col="regime", hue="noise", kind="bar", errorbar=None,
                    height=2.6, aspect=1.1)  # one number per bar: no plotting-library interval
    for ax, (_, sub) in zip(g.axes.flat, table.groupby("regime", sort=False)):
        ax.axhline(sub[share].iloc[0], ls="--", c="grey")
        ax.set_ylabel("grad-norm share, changed tokens" if by_class else "gate share, corrupted examples")
    save(g.figure, out_stem)


if "snakemake" in globals():
    sm = snakemake  # noqa: F821
    main(sm.input[0], Path(sm.output.png).with_suffix(""), sm.output.table)
elif __name__ == "__main__":
    main(*sys.argv[1:4])
