"""Token-level forgetting: the share of a clean reference set's tokens (arithmetic test split) that
the model predicted correctly (top-1) before fine-tuning and does not after, vs noise rate, one
line per objective, one panel per regime. Reads results/tables/runs.csv only.
    python paper_figures/forgetting.py results/tables/runs.csv results/figures/forgetting
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from noise_robustness import plot  # noqa: E402


def main(runs_csv, out_stem):
    plot(runs_csv, out_stem, metric="token_forgetting_rate", ylabel="token forgetting rate")


if "snakemake" in globals():
    main(snakemake.input[0], Path(snakemake.output.png).with_suffix(""))  # noqa: F821
elif __name__ == "__main__":
    main(*sys.argv[1:3])
