"""Where a study's time went: per rule, the jobs, their wall seconds (sum, mean, max) and CPU
seconds, from Snakemake's ``benchmark:`` files under ``results/benchmarks/``; and the study's wall
time from the first job's start to the last job's end in Snakemake's own logs.

    python benchmarks/pipeline_time.py [RESULTS] [--logs .snakemake/log]

A job's wall seconds include any wait for the other core; ``cpu_time`` is what it used. The rule
of a benchmark file is its first folder (``shards/...``: one train-and-evaluate shard job), or its
name for the per-run files under ``backbone=...`` (train.tsv, evaluate.tsv).
"""
import argparse
import re
from datetime import datetime
from pathlib import Path

import pandas as pd

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$", re.M)


def per_rule(bench_dir: Path) -> pd.DataFrame:
    rows = []
    for f in sorted(bench_dir.rglob("*.tsv")):
        t = pd.read_csv(f, sep="\t")
        rel = f.relative_to(bench_dir).parts
        # run files sit under backbone=... and are named after their rule (train.tsv, evaluate.tsv)
        rule = f.stem if rel[0].startswith("backbone=") else \
            {"base": "evaluate_base", "shards": "train_evaluate_shard"}.get(rel[0], rel[0])
        rows.append({"rule": rule, "s": float(t.s.iloc[0]), "cpu_s": float(t.cpu_time.iloc[0]),
                     "max_rss_mb": float(t.max_rss.iloc[0])})
    df = pd.DataFrame(rows)
    if df.empty:
        raise SystemExit(f"no benchmark files under {bench_dir}")
    out = df.groupby("rule").agg(jobs=("s", "size"), wall_s_sum=("s", "sum"), wall_s_mean=("s", "mean"),
                                 wall_s_max=("s", "max"), cpu_s_sum=("cpu_s", "sum"),
                                 max_rss_mb=("max_rss_mb", "max"))
    return out.sort_values("wall_s_sum", ascending=False)


def study_wall(log_dir: Path) -> list[tuple[str, datetime, datetime]]:
    """(log file, first stamp, last stamp) of each Snakemake log that ran jobs."""
    out = []
    for f in sorted(log_dir.glob("*.snakemake.log")):
        stamps = [datetime.strptime(" ".join(s.split()), "%a %b %d %H:%M:%S %Y") for s in STAMP.findall(f.read_text())]
        if len(stamps) >= 2:
            out.append((f.name, stamps[0], stamps[-1]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="?", default="results", type=Path)
    ap.add_argument("--logs", default=".snakemake/log", type=Path)
    a = ap.parse_args()
    table = per_rule(a.results / "benchmarks")
    print(table.round(1).to_markdown())
    total = table.sum()
    print(f"\n{int(total.jobs)} jobs; wall seconds summed over jobs {total.wall_s_sum:.0f} "
          f"({total.wall_s_sum / 60:.1f} job-minutes), CPU {total.cpu_s_sum / 60:.1f} core-minutes")
    for name, start, end in study_wall(a.logs):
        print(f"{name}: {start:%H:%M:%S} -> {end:%H:%M:%S} = {(end - start).total_seconds() / 60:.1f} min")


if __name__ == "__main__":
    main()
