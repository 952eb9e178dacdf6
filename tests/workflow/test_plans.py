"""The workflow lints clean and plans the expected jobs for the paper and embedded grids."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def snakemake(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def job_counts(output: str) -> dict:
    table = output[output.index("Job stats:"):]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_lint_is_clean():
    proc = snakemake("--lint")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr


@pytest.mark.parametrize("config,expected", [
    # 12 cells x 7 objectives x 3 seeds clean + 3 Llama-3.1-8B cells x 3 noisy rates x 7 x 3
    ("config/paper.yaml", {"train": 441, "evaluate": 441, "evaluate_base": 12, "prepare_backbone": 7,
                           "make_splits": 3}),
    # 3 regimes x 3 objectives x 2 noise rates x 1 seed; the prior is built once
    ("config/config.yaml", {"train": 18, "evaluate": 18, "evaluate_base": 3, "build_prior": 1}),
    ("config/cpu-study.yaml", {"train": 3 * 11 * 4 * 3, "evaluate": 3 * 11 * 4 * 3, "evaluate_base": 3}),
])
def test_dry_run_plans_the_expected_jobs(config, expected, tmp_path):
    proc = snakemake("-n", "--configfile", config)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = job_counts(proc.stdout + proc.stderr)
    for rule, n in expected.items():
        assert counts.get(rule) == n, (rule, counts)
