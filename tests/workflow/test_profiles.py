"""What the shipped SLURM profile submits for every paper rule: the jobs' resources as Snakemake
resolves them (a dry run of config/paper.yaml with --profile profiles/slurm, the workflow profile
profiles/default loaded beside it as it is for a user), turned into sbatch arguments by the
executor plugin's own code (snakemake-executor-plugin-slurm; the job objects are stand-ins)."""
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
plugin = pytest.importorskip("snakemake_executor_plugin_slurm")


class _Resources(dict):
    __getattr__ = dict.get


def _value(text):
    return int(text) if re.fullmatch(r"-?\d+", text) else text


@pytest.fixture(scope="module")
def paper_jobs():
    """rule -> the resources and threads of its first job in the paper grid's dry run."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--profile", "profiles/slurm", "--configfile",
                           "config/paper.yaml"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "workflow specific profile profiles/default" in proc.stdout + proc.stderr  # loaded, as for a user
    jobs = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", proc.stdout):
        m = re.match(r"(local)?rule (\w+):", block)
        if not m or m.group(2) in jobs:
            continue
        res = re.search(r"\n\s+resources: (.*)", block)
        threads = re.search(r"\n\s+threads: (\d+)", block)
        pairs = [kv.split("=", 1) for kv in res.group(1).split(", ")] if res else []
        jobs[m.group(2)] = {"local": bool(m.group(1)), "threads": int(threads.group(1)) if threads else 1,
                            "resources": _Resources({k: _value(v) for k, v in pairs})}
    return jobs


def sbatch(job):
    """The sbatch call the plugin would make for ``job`` under the profile's executor settings."""
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string
    from snakemake_executor_plugin_slurm.validation import validate_slurm_extra

    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    stand_in = SimpleNamespace(resources=job["resources"], threads=job["threads"])
    validate_slurm_extra(stand_in)  # the plugin refuses GRES and friends there
    settings = SimpleNamespace(requeue=profile.get("slurm-requeue", False), no_requeue=False, qos=None,
                               reservation=None)
    params = {"run_uuid": "u", "slurm_logfile": "log", "comment_str": "c", "workdir": "/w",
              "account": f"-A {job['resources']['slurm_account']}", "partition": f"-p {job['resources']['slurm_partition']}"}
    return get_submit_command(stand_in, params, settings) + set_gres_string(stand_in)


GPU_RULES = {"train": 2, "evaluate": 8, "evaluate_base": 8, "reference_set": 1, "token_stats": 1}
MEMORY = {"train": 160000, "evaluate": 240000, "evaluate_base": 240000, "reference_set": 64000, "token_stats": 64000,
          "prepare_backbone": 64000}


def test_every_paper_rule_asks_for_what_it_needs_and_nothing_caps_it(paper_jobs):
    assert set(GPU_RULES) | {"make_splits", "add_noise", "prepare_backbone"} <= set(paper_jobs)
    for rule, job in paper_jobs.items():
        if job["local"]:
            continue
        call = sbatch(job)
        assert "--requeue" in call and "--gres" not in call, (rule, call)
        gpus = re.search(r"--gpus=(\d+)", call)
        if rule in GPU_RULES:  # 2 ranks for training (the authors'), 8 for vLLM (data_parallel_size 8), 1 for analyses
            assert gpus and int(gpus.group(1)) == GPU_RULES[rule] and "-p gpu" in call, (rule, call)
        else:  # CPU-only rules never queue for GPUs
            assert gpus is None and "-p cpu" in call, (rule, call)
        assert f"--mem {MEMORY.get(rule, 16000)}" in call, (rule, call)  # no local profile caps it (was 20000)


def test_the_workflow_profile_sets_nothing_a_cluster_run_would_inherit():
    """profiles/default overrides --profile settings (Snakemake's order): no caps, no keep-going."""
    local = yaml.safe_load((ROOT / "profiles/default/config.yaml").read_text())
    assert not {"resources", "keep-going", "default-resources", "set-resources", "executor", "jobs"} & set(local)
    cluster = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    assert cluster["keep-going"] is True and cluster["slurm-requeue"] is True
    assert not any("slurm_extra" in r for r in cluster["set-resources"].values())


def test_jobs_declare_the_disk_they_write(paper_jobs):
    """disk_mb from the backbone's parameter count (deft.config.disk_mb): the first train job is
    Qwen2.5-Math-1.5B with bf16 master weights: bf16 model and its saving copy, two checkpoints of
    weights + AdamW states in bf16, at least 1.54e9 x (4 + 12) bytes."""
    assert paper_jobs["train"]["resources"]["disk_mb"] >= 1.54e9 * 16 / 1e6
    assert paper_jobs["prepare_backbone"]["resources"]["disk_mb"] >= 1.54e9 * 4 / 1e6
    for rule in ("evaluate", "evaluate_base", "reference_set", "token_stats"):
        assert 1000 <= paper_jobs[rule]["resources"]["disk_mb"] <= 10000, rule
