"""results/ holds the shipped study's run records: on a fresh clone `snakemake --cores 2 figures`
rebuilds every table, figure and the report from them and plans no training job, while the
study's own command (`make reproduce`) recomputes every one of them."""
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from deft.report.regenerate import CACHED

from .test_plans import job_counts

ROOT = Path(__file__).resolve().parents[2]
# What `figures` may run: aggregation, the figure scripts, the report; nothing that reads a model.
FROM_RECORDS = {"aggregate", "collect_token_stats", "noise_robustness_figure", "improvement_probability_figure",
                "gating_dynamics_figure", "gradient_maps_figure", "confident_conflicts_figure", "forgetting_figure",
                "report", "figures"}


def snakemake(cwd, *args, timeout=600):
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": str(cwd)})


def test_results_tracks_the_shipped_records_and_nothing_large():
    tracked = subprocess.run(["git", "ls-files", "results"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    # 60 runs (4 objectives x 3 seeds x: clean and noisy in 2 regimes, clean in the weak one), the
    # strong noise contrast's 3 cells on seeds 3-19, 3 bases
    assert len([p for p in tracked if p.endswith("/record.json")]) == 60 + 3 * 17 + 3
    assert {Path(p).name for p in tracked} == set(CACHED) | {"README.md"}
    assert sum((ROOT / p).stat().st_size for p in tracked) < 20e6
    # the pipeline's large and derived files stay untracked; the record names are tracked anywhere
    ignored = ["results/tables/table1.csv", "results/figures/gating_dynamics.png", "results/report.md",
               "results/logs/aggregate.log", "results/backbones/smollm2-135m-prior/model.safetensors",
               "results/backbones/x/train_log.jsonl", "results/data/domain=arithmetic/test.jsonl",
               "results/runs/backbone=b/domain=d/objective=nll/noise=clean/seed=0/model/config.json",
               "results/runs/backbone=b/domain=d/objective=nll/noise=clean/seed=0/model/record.json"]
    kept = ["results/runs/backbone=b/domain=d/objective=nll/noise=clean/seed=9/record.json",
            "results/base/backbone=b/domain=d/tokens.csv", "results/priors/b/summary.json"]
    proc = subprocess.run(["git", "check-ignore", "--no-index", *ignored, *kept], cwd=ROOT, capture_output=True,
                          text=True)
    assert sorted(proc.stdout.split()) == sorted(ignored)


def test_fresh_clone_figures_plans_no_training_job(fresh_clone):
    proc = snakemake(fresh_clone, "-n", "figures")
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = job_counts(proc.stdout + proc.stderr)
    assert set(counts) - {"total"} == FROM_RECORDS, counts


def test_fresh_clone_default_target_recomputes_every_shipped_record(fresh_clone):
    """`make reproduce`: the backbones are built here, so every record (older) is recomputed."""
    proc = snakemake(fresh_clone, "-n")
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = job_counts(proc.stdout + proc.stderr)
    assert {k: counts.get(k) for k in ("train_evaluate_shard_0", "train_evaluate_shard_1", "train_evaluate_shard_2",
                                       "train_evaluate_shard_2_1", "evaluate_base", "build_prior", "reference_set",
                                       "token_stats")} == \
        {"train_evaluate_shard_0": 3, "train_evaluate_shard_1": 3, "train_evaluate_shard_2": 3,
         "train_evaluate_shard_2_1": 17, "evaluate_base": 3, "build_prior": 2, "reference_set": 3, "token_stats": 5}


def test_figures_names_a_missing_record_instead_of_training(fresh_clone, tmp_path):
    import shutil

    work = tmp_path / "clone"
    shutil.copytree(fresh_clone, work)
    gone = next((work / "results/runs").rglob("record.json"))
    gone.unlink()
    proc = snakemake(work, "-n", "figures")
    assert proc.returncode != 0
    err = proc.stdout + proc.stderr
    assert "1 of the 458 files of this grid are missing" in err and str(gone.relative_to(work)) in err, err[-3000:]


@pytest.mark.slow
def test_fresh_clone_figures_rebuilds_tables_figures_and_report(fresh_clone):
    records = sorted((fresh_clone / "results").rglob("record.json"))
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in records}
    proc = snakemake(fresh_clone, "figures")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in records} == before  # read, never rewritten
    t = pd.read_csv(fresh_clone / "results/tables/table1.csv")
    assert set(t.regime) == {"weak", "intermediate", "strong"} and (t.n_seeds == 3).all()
    contrasts = pd.read_csv(fresh_clone / "results/tables/contrasts.csv")
    assert len(contrasts) == 10 and contrasts.n_items.notna().all() and not contrasts.verdict.str.startswith("left").any()
    # every contrast pre-registered, beside its positive control; a failed control makes it "not testable"
    assert contrasts.control.notna().all() and contrasts.preregistered.all()
    assert (contrasts.verdict.str.startswith("not testable") == ~contrasts.control_holds.astype(bool)).all()
    # the strong noise contrast runs on its own 20 seeds (analysis.contrasts[0].seeds), every other on the grid's 3
    noise = (contrasts.regime == "strong") & (contrasts.noise_rate == 0.3)
    assert contrasts[noise].n_seeds.tolist() == [20] and (contrasts[~noise].n_seeds == 3).all()
    for fig in ("noise_robustness", "improvement_probability", "gating_dynamics", "gradient_maps",
                "confident_conflicts", "forgetting"):
        assert (fresh_clone / f"results/figures/{fig}.png").stat().st_size > 5000, fig
    report = (fresh_clone / "results/report.md").read_text()
    assert "## Table 1" in report and "smollm2-135m-prior" in report
    proc = snakemake(fresh_clone, "-n", "figures")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    proc = snakemake(fresh_clone, "--report", "results/report.html", "figures")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (fresh_clone / "results/report.html").stat().st_size > 100_000


def test_a_missing_side_file_is_named_not_silently_dropped(fresh_clone):
    """aggregate reads each record's samples (per-item scores), tokens and training log: they are
    its inputs, so `figures` on a study with one deleted stops and names it (before, the tables
    silently dropped that seed)."""
    victim = next((fresh_clone / "results/runs").glob("**/seed=1/samples.jsonl"))
    victim.unlink()
    proc = snakemake(fresh_clone, "-n", "figures")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "1 of the" in out and "files of this grid are missing" in out and str(victim.relative_to(fresh_clone)) in out
