"""Every table, figure and the report from cached results alone: no training, no evaluation.

    python -m deft.regenerate SRC OUT [--config config/config.yaml]
    python -m deft.regenerate --ship results elsewhere/

SRC is a results folder (``results/``, which holds the shipped study's records on a fresh clone,
or a copy of one): run and base ``record.json`` files with their ``train_log.jsonl`` and
``tokens.csv`` beside them, and the ``analysis/**/token_stats.csv`` files. OUT gets ``tables/``,
``figures/`` and ``report.md``, through the same functions and figure scripts the pipeline's rules
run (``snakemake --cores 2 figures`` does the same inside ``results/``). ``--ship`` copies exactly
the small files git tracks under ``results/`` (``CACHED``; never model weights) from a results
folder into another, e.g. to keep one machine's study beside another's.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

FIGURES = Path(__file__).resolve().parents[2] / "paper_figures"
# The small files of a study that git tracks under results/ (.gitignore names the same).
CACHED = ("record.json", "train_log.jsonl", "tokens.csv", "samples.jsonl", "train.json", "token_stats.csv",
           "summary.json", "reference.jsonl")


def regenerate(src, out, config_path) -> list[tuple[str, float]]:
    """Build OUT from SRC; returns (step, seconds) per step."""
    import yaml

    from ..eval.analysis import collect_token_stats
    from .aggregate import aggregate
    from .markdown import build

    src, out = Path(src), Path(out)
    tables, figures = out / "tables", out / "figures"
    timings = []

    def step(name, fn):
        t0 = time.perf_counter()
        fn()
        timings.append((name, time.perf_counter() - t0))

    def figure(script, data, *extra):
        cmd = [sys.executable, str(FIGURES / f"{script}.py"), str(data), str(figures / script), *map(str, extra)]
        subprocess.run(cmd, check=True)

    records = sorted(src.rglob("record.json"))
    stats = sorted(src.rglob("token_stats.csv"))
    config = yaml.safe_load(Path(config_path).read_text())
    analysis = config.get("analysis", {})  # the pre-registered contrasts, as the aggregate rule has them
    step("aggregate", lambda: aggregate(records, tables, contrast_specs=analysis.get("contrasts", []),
                                        mde_target=analysis.get("mde_target")))
    step("noise_robustness", lambda: figure("noise_robustness", tables / "cells.csv"))
    step("improvement_probability", lambda: figure("improvement_probability", tables / "improvement_probability.csv"))
    step("gating_dynamics", lambda: figure("gating_dynamics", tables / "train_logs.csv"))
    step("gradient_maps", lambda: figure("gradient_maps", tables / "heldout_tokens.csv"))
    runs = pd.read_csv(tables / "runs.csv")
    if runs.metric.isin(["token_forgetting_rate", "prior_task_delta"]).any():
        step("forgetting", lambda: figure("forgetting", tables / "cells.csv"))
    if stats:
        step("token_stats", lambda: collect_token_stats(stats, tables / "token_stats.csv"))
        step("confident_conflicts", lambda: figure("confident_conflicts", tables / "token_stats.csv",
                                                   tables / "confident_conflicts.csv"))
    step("report", lambda: build(tables, figures, config, out / "report.md"))
    return timings


def ship(results, dest) -> int:
    """Copy the small files that ``regenerate`` reads (and per-sample responses) from a results folder."""
    results, dest = Path(results), Path(dest)
    n = 0
    for sub in ("runs", "base", "analysis", "priors", "reference"):
        for path in sorted((results / sub).rglob("*")):
            if path.is_file() and path.name in CACHED and "model" not in path.parts:
                target = dest / path.relative_to(results)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
                n += 1
    return n


def main(argv=None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--config", default="config/config.yaml", help="the study's configuration, for the report")
    ap.add_argument("--ship", action="store_true", help="copy SRC's small result files to OUT instead")
    args = ap.parse_args(argv)
    if args.ship:
        print(f"copied {ship(args.src, args.out)} files to {args.out}")
        return
    t0 = time.perf_counter()
    timings = regenerate(args.src, args.out, args.config)
    print(pd.DataFrame(timings, columns=["step", "seconds"]).round(2).to_markdown(index=False))
    print(f"total {time.perf_counter() - t0:.1f} s -> {args.out}")


if __name__ == "__main__":
    main()
