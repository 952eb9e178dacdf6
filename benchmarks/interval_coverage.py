"""Coverage of deft.stats.cell_ci / paired_ci by simulation over a grid of seed, item and residual
variance: prints a table (the tests check a subset; this is the wider sweep behind the README).

    python benchmarks/interval_coverage.py --sims 2000
"""
import argparse

import numpy as np
import pandas as pd
from scipy.special import expit

from deft.stats import cell_ci


def main(sims: int, items: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    z = np.random.default_rng(99).normal(0, 1, 2_000_000)

    def truth_binary(su, shift=0.0):
        return expit(shift + np.hypot(su, 1.5) * z).mean()

    def continuous(S, su):
        return 0.5 + rng.normal(0, su, (S, 1)) + rng.normal(0, 0.3, (1, items)) + rng.normal(0, 0.2, (S, items))

    def binary(S, su):
        return (rng.random((S, items)) < expit(rng.normal(0, su, (S, 1)) + rng.normal(0, 1.5, (1, items)))) * 1.0

    def paired(S, su):  # two objectives on shared items, a 0.3-logit gap: per-item differences
        v = rng.normal(0, 1.5, (1, items))
        a = rng.random((S, items)) < expit(0.3 + rng.normal(0, su, (S, 1)) + v)
        b = rng.random((S, items)) < expit(rng.normal(0, su, (S, 1)) + v)
        return a * 1.0 - b

    cases = [("continuous", continuous, lambda su: 0.5, (0.0, 0.02, 0.05, 0.1, 0.3)),
             ("binary", binary, truth_binary, (0.0, 0.1, 0.3, 1.0)),
             ("paired binary", paired, lambda su: truth_binary(su, 0.3) - truth_binary(su), (0.0, 0.1, 0.2, 0.5))]
    rows = []
    for name, draw, truth, seed_sds in cases:
        for S in (3, 5):
            for su in seed_sds:
                t = truth(su)
                hits = sum(lo <= t <= hi for _, lo, hi in (cell_ci(draw(S, su)) for _ in range(sims)))
                rows.append({"scores": name, "seeds": S, "seed_sd": su, "coverage": hits / sims})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sims", type=int, default=2000)
    ap.add_argument("--items", type=int, default=256)
    args = ap.parse_args()
    table = main(args.sims, args.items)
    print(table.to_markdown(index=False, floatfmt=".4f"))
    print(f"\nrange {table.coverage.min():.4f} - {table.coverage.max():.4f} over {len(table)} cases, "
          f"{args.sims} simulated studies each, {args.items} items")
