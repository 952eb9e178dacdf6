"""Shared figure helpers: seaborn paper style and atomic PNG + PDF writing."""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402


def style():
    sns.set_theme(style="whitegrid", context="paper")


def save(fig, out_stem) -> None:
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    for ext in ("png", "pdf"):
        final = out_stem.with_suffix(f".{ext}")
        tmp = final.with_name(f".{final.name}.tmp")
        fig.savefig(tmp, dpi=150, format=ext)
        tmp.replace(final)  # atomic: no reader sees half a figure
    plt.close(fig)
