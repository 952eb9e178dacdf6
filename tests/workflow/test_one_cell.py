"""Rerunning one cell: `snakemake --cores 2 records --config 'grid={"regimes": [CELL]}'` plans that
cell's jobs and nothing else, on the embedded default (shard jobs) as on config/paper.yaml
(train and evaluate rules); --config merges into the grid, the other grid keys survive; the
pre-registered contrasts outside the cell are left out and named; a misspelt regime is refused."""
import os
import re
import subprocess
import sys

from .test_plans import job_counts

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
    assert counts.get("train_evaluate_shard_0") == 3 and counts.get("evaluate_base") == 1, counts
    assert counts.get("build_prior") == 1 and counts.get("reference_set") == 1 and counts.get("token_stats") == 2
    assert not any(k.startswith("train_evaluate_shard_") and k != "train_evaluate_shard_0" for k in counts)
    assert "aggregate" not in counts  # the full tables stay as they are: `snakemake --cores 2 figures` next
    runs = planned(out, "record.json")
    assert {r[:2] for r in runs} == {("smollm2-135m-prior", "arithmetic")}
    # --config updated grid.regimes only: objectives, noise rates and seeds are the config file's
    assert {r[2] for r in runs} == {"nll", "neg_p", "cayley", "deft"} and {r[3] for r in runs} == {"clean", "answer-0.3"}
    assert {r[4] for r in runs} == {"0", "1", "2"} and len(runs) == 24
    assert "base/backbone=smollm2-135m-prior/domain=arithmetic/record.json" in out
    assert "backbone=smollm2-135m/" not in out and "backbone=smollm2-135m-early/" not in out  # no other cell
    for a, b in (("nll", "neg_p"), ("deft", "neg_p")):
        assert (f"note: contrast {a} - {b} (weak, noise 0.0) is left out: regime weak is not in grid.regimes "
                "['strong']") in proc.stderr
    assert "note: contrast deft - nll" not in proc.stderr


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
