"""Run records: one self-describing JSON per evaluated run, from which every table is rebuilt.

A record carries the run's identity (backbone, domain, regime, objective and its parameters,
noise kind and rate, seed), its metrics and the base model's, the training summary, the sha256 of
its data and noise audit, the config hash, package versions, the git commit and dirty flag, the
objective's implementation version and wall times. ``validate`` checks one against the schema.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
from importlib import metadata
from pathlib import Path

from ..io import write_json_atomic

SCHEMA = Path(__file__).parent / "schemas" / "run_record.schema.json"
PACKAGES = ("deft", "torch", "transformers", "accelerate", "lm_eval", "datasets", "reasoning_gym", "snakemake")


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def config_hash(cfg: dict) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:16]


def versions() -> dict:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def machine() -> dict:
    """The CPU model and torch's thread count: two clean runs of the embedded study on different
    machines built priors whose first-step NLL differed by 4e-7 (same batches), and 256 full
    fine-tuning steps carried that to a different model."""
    import platform

    import torch

    cpu = platform.processor() or None
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "machine": platform.machine(), "torch_threads": torch.get_num_threads()}


def git_state(cwd=None) -> dict:
    def run(*args):
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)

    try:
        head = run("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"git_commit": None, "git_dirty": None}
        # results/ is left out: the pipeline itself writes over the study's tracked records while it
        # runs, so counting them would call every record of a clean checkout dirty.
        status = run("status", "--porcelain", "--untracked-files=no", "--", ":(top)", ":(top,exclude)results")
        return {"git_commit": head.stdout.strip(), "git_dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}


def validate(record: dict, source="record") -> None:
    """Raise ValueError naming ``source`` if ``record`` does not match the run-record schema."""
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    try:
        jsonschema.validate(record, schema)
    except jsonschema.ValidationError as err:
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ValueError(f"{source}: invalid run record at {where}: {err.message}") from None


def write(path, record: dict) -> None:
    validate(record, str(path))
    write_json_atomic(path, record)


def load(path) -> dict:
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: unreadable run record ({err})") from None
    validate(record, str(path))
    return record
