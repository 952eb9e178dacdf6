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
    # 12 cells x 7 objectives x 3 seeds clean + 3 Llama-3.1-8B cells x 3 noisy rates x 7 x 3;
    # data: math, and medical and figfont once per prompt family (llama, qwen)
    ("config/paper.yaml", {"train": 441, "evaluate": 441, "evaluate_base": 12, "prepare_backbone": 7,
                           "make_splits": 5}),
    # 4 objectives x 3 seeds x (clean + noisy in 2 regimes, clean in the weak one), one shard job per
    # (regime, seed) that trains and evaluates its runs; the strong noise contrast's 3 cells on seeds
    # 3-19, one shard of 3 runs per seed (rule _2_1); two priors (stopped early, full); one training
    # set per seed and noise setting, shared by the regimes (one domain): 3 x 2 + 17 x 2
    ("config/config.yaml", {"train": None, "evaluate": None, "train_evaluate_shard_0": 3,
                            "train_evaluate_shard_1": 3, "train_evaluate_shard_2": 3,
                            "train_evaluate_shard_2_1": 17, "evaluate_base": 3, "build_prior": 2,
                            "reference_set": 3, "add_noise": 3 * 2 + 17 * 2}),
    ("config/cpu-study.yaml", {"train": 3 * 11 * 4 * 3, "evaluate": 3 * 11 * 4 * 3, "evaluate_base": 3}),
])
def test_dry_run_plans_the_expected_jobs(config, expected, tmp_path):
    proc = snakemake("-n", "--forceall", "--configfile", config)  # the whole plan, whatever results/ holds
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = job_counts(proc.stdout + proc.stderr)
    for rule, n in expected.items():
        assert counts.get(rule) == n, (rule, counts)


def test_paper_training_runs_under_accelerate_with_fsdp_on_eight_gpus():
    proc = snakemake("-n", "--forceall", "-p", "--configfile", "config/paper.yaml", "--until", "train")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    cmd = next(line for line in out.splitlines() if "deft.train.cli" in line)
    assert re.search(r"-m accelerate\.commands\.launch --config_file configs/accelerate/fsdp-bf16-weights\.yaml "
                     r"--num_processes 2 --num_machines 1 --main_process_port \"\$\(\S+ -m deft\.train\.free_port\)\" "
                     r"-m deft\.train\.cli --model-dir", cmd), cmd
    assert '"bf16": true' in cmd and '"gradient_checkpointing": true' in cmd
    assert out.count("deft.train.cli") == 441


def test_unsharded_training_runs_in_one_process():
    proc = snakemake("-n", "--forceall", "-p", "--configfile", "config/cpu-study.yaml", "--until", "train")
    assert proc.returncode == 0, proc.stderr[-3000:]
    cmd = next(line for line in (proc.stdout + proc.stderr).splitlines() if "deft.train.cli" in line)
    assert re.search(rf"(^|\s){re.escape(sys.executable)} -m deft\.train\.cli --model-dir", cmd), cmd
