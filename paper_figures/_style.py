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


def finish(fig, axes, out_stem) -> None:
    """One legend, outside the last panel; tight layout; save."""
    for ax in axes[:-1]:
        if ax.get_legend():
            ax.get_legend().remove()
    if axes[-1].get_legend():
        sns.move_legend(axes[-1], "upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    fig.tight_layout()
    save(fig, out_stem)


def placeholder(out_stem, message: str) -> None:
    """A figure that says why there is nothing to plot (e.g. a study without noisy training data)."""
    fig, ax = plt.subplots(figsize=(4, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    save(fig, out_stem)
