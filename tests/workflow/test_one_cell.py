"""Rerunning one cell: `snakemake --cores 2 records --config 'grid={"regimes": [CELL]}'` plans that
cell's jobs and nothing else, on the embedded default (shard jobs) as on config/paper.yaml
(train and evaluate rules); --config merges into the grid, the other grid keys survive; the
pre-registered contrasts outside the cell are left out and named; a misspelt regime is refused."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .test_plans import job_counts

ROOT = Path(__file__).resolve().parents[2]

STRONG = ["--config", 'grid={"regimes": ["strong"]}']  # as a user types it after `records`
PAPER_CELL = ["--configfile", "config/paper.yaml", "--config", 'grid={"regimes": ["figfont-llama-3.1-8b"]}']


def snakemake(cwd, *args):
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(cwd)})


def planned(output: str, name: str) -> set[tuple]:
    """(backbone, domain, objective, noise, seed) of every planned `name` output."""
    pattern = r"results/runs/backbone=([^/]+)/domain=([^/]+)/objective=([^/]+)/noise=([^/]+)/seed=(\d+)/" + name
    return set(re.findall(pattern, output))


def test_one_cell_of_the_embedded_default(fresh_clone):
    """On a fresh clone: the strong cell is recomputed (its backbone is built here, so its shipped
    records are older than it), with every objective, noise rate and seed of the grid."""
    proc = snakemake(fresh_clone, "-n", "records", *STRONG)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    counts = job_counts(out)
    # the grid's 3 seeds with every run, and the strong noise contrast's seeds 3-19 (`seeds: 20`) with its 3 cells
    assert counts.get("train_evaluate_shard_0") == 3 and counts.get("train_evaluate_shard_0_1") == 17, counts
    assert counts.get("evaluate_base") == 1, counts
    assert counts.get("build_prior") == 1 and counts.get("reference_set") == 1 and counts.get("token_stats") == 2
    assert {k for k in counts if k.startswith("train_evaluate_shard_")} == {"train_evaluate_shard_0",
                                                                          "train_evaluate_shard_0_1"}
    assert "aggregate" not in counts  # the full tables stay as they are: `snakemake --cores 2 figures` next
    runs = planned(out, "record.json")
    assert {r[:2] for r in runs} == {("smollm2-135m-prior", "arithmetic")}
    # --config updated grid.regimes only: objectives, noise rates and seeds are the config file's
    assert {r[2] for r in runs} == {"nll", "neg_p", "cayley", "deft"} and {r[3] for r in runs} == {"clean", "answer-0.3"}
    grid = {r for r in runs if r[4] in ("0", "1", "2")}
    assert len(grid) == 24 and {r[2:4] for r in runs - grid} == {("nll", "clean"), ("nll", "answer-0.3"),
                                                                 ("deft", "answer-0.3")}
    assert {int(r[4]) for r in runs} == set(range(20)) and len(runs) == 24 + 3 * 17
    assert "base/backbone=smollm2-135m-prior/domain=arithmetic/record.json" in out
    assert "backbone=smollm2-135m/" not in out and "backbone=smollm2-135m-early/" not in out  # no other cell
    for a, b, regime in (("nll", "neg_p", "weak"), ("deft", "neg_p", "weak"), ("deft", "nll", "intermediate"),
                         ("deft", "nll", "weak")):
        assert (f"note: contrast {a} - {b} ({regime}, noise 0.0) is left out: regime {regime} is not in "
                "grid.regimes ['strong']") in proc.stderr
    assert "note: contrast deft - nll (strong" not in proc.stderr  # the strong cell's contrasts are kept


def test_one_cell_at_paper_scale(fresh_clone):
    proc = snakemake(fresh_clone, "-n", "records", *PAPER_CELL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    counts = job_counts(out)
    # 7 objectives x 4 noise rates (the cell's own) x 3 seeds, trained and evaluated
    assert counts.get("train") == 84 and counts.get("evaluate") == 84 and counts.get("evaluate_base") == 1, counts
    assert counts.get("prepare_backbone") == 1 and "aggregate" not in counts
    runs = planned(out, "record.json")
    assert {r[:2] for r in runs} == {("llama-3.1-8b", "figfont-llama")} and len(runs) == 84
    assert {r[4] for r in runs} == {"0", "1", "2"}


def test_a_misspelt_regime_is_refused_naming_it(fresh_clone):
    proc = snakemake(fresh_clone, "-n", "records", "--config", 'grid={"regimes": ["strnog"]}')
    assert proc.returncode != 0
    assert "grid.regimes[0] = 'strnog' is not allowed; allowed: ['intermediate', 'strong', 'weak']" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_the_one_cell_command_really_runs(tmp_path):
    """The README's command for real, on the tiny configuration (the embedded default's strong cell
    trains for about 45 minutes): only the strong cell's runs and base record are written, and a
    second invocation has nothing to do."""
    for item in ("Snakefile", "workflow", "profiles", "paper_figures", "config"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / item)
    tiny = ["records", "--configfile", "config/tiny.yaml", *STRONG]
    proc = snakemake(tmp_path, *tiny)
    assert proc.returncode == 0, proc.stderr[-4000:]
    records = sorted(p.relative_to(tmp_path / "results") for p in (tmp_path / "results").glob("**/record.json"))
    runs = [p for p in records if p.parts[0] == "runs"]
    assert len(runs) == 4 and all(p.parts[1] == "backbone=tiny-llama-prior" for p in runs)  # 2 objectives x 2 noise
    assert [p for p in records if p.parts[0] == "base"] == [
        Path("base/backbone=tiny-llama-prior/domain=arithmetic/record.json")]
    again = snakemake(tmp_path, "-n", *tiny)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    # a side file the tables read, deleted from the finished cell: Snakemake plans the job that makes it
    victim = next((tmp_path / "results/runs").glob("**/samples.jsonl"))
    victim.unlink()
    plan = snakemake(tmp_path, "-n", "results/tables/runs.csv", *tiny[1:])
    out = plan.stdout + plan.stderr
    assert plan.returncode == 0, out[-3000:]
    assert f"Missing output files: {victim.relative_to(tmp_path)}" in out or \
        str(victim.relative_to(tmp_path)) in out.split("reason: Missing output files")[1], out[-3000:]
