"""An objective defined outside the package (examples/focal_objective.py) runs through the whole
tiny pipeline - data, training, lm-eval, tables, figures, report - as the README says, and takes its
place after the built-ins in every table."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_example_plugin_runs_end_to_end_on_the_tiny_config(tmp_path):
    for item in ("Snakefile", "workflow", "profiles", "paper_figures", "config", "examples"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / item)
    # the README's command
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "config/tiny.yaml",
           "examples/tiny-plugin.yaml"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    tables = tmp_path / "results/tables"
    t = pd.read_csv(tables / "table1.csv")
    assert list(t.columns[t.columns.get_loc("base"):]) == ["base", "nll", "deft", "focal", "n_seeds"]
    assert sorted(t[t.metric == "exact_match"].noise_rate) == [0.0, 0.5]  # tiny.yaml's grid keys survive
    records = [json.loads(p.read_text()) for p in (tmp_path / "results/runs").glob("**/objective=focal/**/record.json")]
    assert len(records) == 2 and all(r["run"]["params"] == {"gamma": 2.0} for r in records)
    log = (tmp_path / "results/runs").glob("**/objective=focal/noise=clean/**/train_log.jsonl")
    steps = [json.loads(line) for line in next(log).read_text().splitlines()]
    assert steps and all(0 < s["mean_gate"] <= 1 for s in steps)  # the focal gate (1 - p)^2
    paired = pd.read_csv(tables / "paired_vs_nll.csv")
    assert {"deft", "focal"} <= set(paired.objective)
    for fig in ("noise_robustness", "improvement_probability", "gradient_maps"):
        assert (tmp_path / f"results/figures/{fig}.png").stat().st_size > 0
    assert "focal" in (tmp_path / "results/report.md").read_text()
