"""Interruption, non-finite steps, determinism and offline behaviour of the training stage."""
import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from deft.train.trainer import train

ROWS = [{"id": str(i), "domain": "arithmetic", "prompt": f"Calculate {i} + {i}.", "answer": str(2 * i)}
        for i in range(24)]
SETTINGS = {"objective": "deft", "batch_size": 4, "learning_rate": 1e-3, "save_steps": 2, "seed": 3}


@pytest.fixture()
def data(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


def weights(folder):
    return load_file(folder / "model.safetensors")


KILL_AT_STEP_5 = """
import os, signal, sys
from transformers import TrainerCallback
from deft.train.trainer import train

class Kill(TrainerCallback):
    def on_step_begin(self, args, state, control, **kw):
        if state.global_step == 4:  # checkpoint-4 is on disk
            os.kill(os.getpid(), signal.SIGKILL)

train(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], {settings}, callbacks=[Kill()])
"""


def test_killed_run_resumes_from_its_checkpoint_and_ends_identical(tiny_model, data, tmp_path, monkeypatch):
    whole = tmp_path / "whole"
    train(tiny_model, data, whole, tmp_path / "whole.jsonl", SETTINGS)
    out, log = tmp_path / "resumed", tmp_path / "resumed.jsonl"
    proc = subprocess.run([sys.executable, "-c", KILL_AT_STEP_5.format(settings=SETTINGS), str(tiny_model), str(data),
                           str(out), str(log)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "SLURM_JOB_ID": "101", "SLURMD_NODENAME": "n1"})
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert (tmp_path / "resumed.work" / "checkpoint-4").is_dir() and not out.exists()
    # a kill while checkpoint-6 was being written: weights there, trainer_state.json (written last) not
    partial = tmp_path / "resumed.work" / "checkpoint-6"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half a file")
    monkeypatch.setenv("SLURM_JOB_ID", "102")  # the job that resubmitted it
    summary = train(tiny_model, data, out, log, SETTINGS)
    assert summary["resumed_from"].endswith("checkpoint-4") and summary["steps"] == 6
    # the summary names both jobs: the killed one and the one that resumed
    assert summary["job"]["job_id"] == "102"
    assert [(a["job"]["job_id"], a["resumed_from"]) for a in summary["attempts"]] == [("101", None), ("102", summary["resumed_from"])]
    a, b = weights(whole), weights(out)
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(x)["step"] for x in log.read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert not (tmp_path / "resumed.work").exists()


def test_checkpoints_of_other_settings_are_not_resumed(tiny_model, data, tmp_path):
    out, log = tmp_path / "run", tmp_path / "run.jsonl"
    proc = subprocess.run([sys.executable, "-c", KILL_AT_STEP_5.format(settings=SETTINGS), str(tiny_model), str(data),
                           str(out), str(log)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9 and (tmp_path / "run.work" / "checkpoint-4").is_dir()
    changed = {**SETTINGS, "learning_rate": 5e-4}
    summary = train(tiny_model, data, out, log, changed)
    assert summary["resumed_from"] is None and summary["steps"] == 6
    assert summary["attempts"] == [{"job": None, "resumed_from": None}]  # the other settings' start was discarded
    assert [json.loads(x)["step"] for x in log.read_text().splitlines()] == [1, 2, 3, 4, 5, 6]
    fresh = tmp_path / "fresh"
    train(tiny_model, data, fresh, tmp_path / "fresh.jsonl", changed)
    a, b = weights(fresh), weights(out)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_weights_other_seed_differs(tiny_model, data, tmp_path):
    cfg = {**SETTINGS, "save_steps": 0, "max_steps": 3}
    train(tiny_model, data, tmp_path / "a", tmp_path / "a.jsonl", cfg)
    train(tiny_model, data, tmp_path / "b", tmp_path / "b.jsonl", cfg)
    train(tiny_model, data, tmp_path / "c", tmp_path / "c.jsonl", {**cfg, "seed": 4})
    a, b, c = weights(tmp_path / "a"), weights(tmp_path / "b"), weights(tmp_path / "c")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert (tmp_path / "a.jsonl").read_text().count("\n") == 3


def poison_at(step):
    from transformers import TrainerCallback

    class Poison(TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, model=None, **kw):
            if state.global_step + 1 == step:
                next(model.parameters()).grad[0, 0] = float("nan")

    return Poison()


def test_nonfinite_gradient_stops_naming_step_and_objective(tiny_model, data, tmp_path):
    with pytest.raises(FloatingPointError, match="non-finite loss or gradient at step 2 for objective 'deft'"):
        train(tiny_model, data, tmp_path / "m", tmp_path / "l.jsonl", {**SETTINGS, "save_steps": 0},
              callbacks=[poison_at(2)])


def test_nonfinite_gradient_can_be_skipped_and_is_counted(tiny_model, data, tmp_path):
    summary = train(tiny_model, data, tmp_path / "m", tmp_path / "l.jsonl",
                    {**SETTINGS, "save_steps": 0, "nonfinite": "skip"}, callbacks=[poison_at(2)])
    assert summary["skipped_steps"] == [2]
    rows = [json.loads(x) for x in (tmp_path / "l.jsonl").read_text().splitlines()]
    assert [r["skipped"] for r in rows] == [False, True, False, False, False, False]
    w = weights(tmp_path / "m")
    assert all(torch.isfinite(v).all() for v in w.values())


def test_hub_backbone_fails_at_once_offline_naming_the_id(monkeypatch, tmp_path):
    from deft.train.backbones import prepare_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(RuntimeError, match="backbone 'Qwen/Qwen2.5-Math-1.5B' is not in the local Hugging Face cache"):
        prepare_hub("Qwen/Qwen2.5-Math-1.5B", tmp_path / "out")


@pytest.mark.parametrize("master, dtype", [("bf16", "torch.bfloat16"), ("fp32", "torch.float32")])
def test_the_summary_says_what_ran(tiny_model, data, tmp_path, master, dtype):
    """Weights and AdamW states read back after set-up (deft.train.realised), not the settings echoed."""
    summary = train(tiny_model, data, tmp_path / "m", tmp_path / "l.jsonl",
                    {**SETTINGS, "save_steps": 0, "max_steps": 2, "master_weights": master})
    real = summary["realised"]
    assert real["param_dtype"] == [dtype] and real["optimizer_state_dtype"] == [dtype]
    assert real["processes"] == 1 and real["micro_batches_per_rank"] == 1 and real["micro_batch_size"] == 4


def test_weights_that_contradict_master_weights_are_refused_before_any_step(tiny_model, data, tmp_path):
    """What accelerate's FSDP1 does to bf16 weights under mixed precision, done by a callback that
    runs before the check: the run stops, naming the setting, and trains nothing."""
    from transformers import TrainerCallback

    class Upcast(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kw):
            model.float()

    steps = []

    class Count(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            steps.append(state.global_step)

    with pytest.raises(RuntimeError, match=r"master_weights = bf16 asks for torch.bfloat16 trainable parameters, "
                                           r"but they are \['torch.float32'\]"):
        train(tiny_model, data, tmp_path / "m", tmp_path / "l.jsonl",
              {**SETTINGS, "save_steps": 0, "max_steps": 2, "master_weights": "bf16"}, callbacks=[Upcast(), Count()])
    assert steps == [] and not (tmp_path / "m").exists()


def test_a_gpu_launch_without_cuda_fails_at_once(tiny_model, data, tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELERATE_USE_CPU", "False")  # what `accelerate launch` sets for a GPU config
    with pytest.raises(RuntimeError, match="asks for GPUs .* CUDA is unusable"):
        train(tiny_model, data, tmp_path / "m", tmp_path / "l.jsonl", SETTINGS)


def test_the_summary_gives_the_sharding_fsdp_really_ran(monkeypatch):
    """FSDP1 with one process switches FULL_SHARD to NO_SHARD (the one-GPU preflight's record said
    FULL_SHARD): the summary reads the wrapped module, and keeps what the config asked beside it."""
    import socket
    from types import SimpleNamespace

    import torch.distributed as dist
    from torch.distributed.fsdp import FullyShardedDataParallel, ShardingStrategy

    from deft.train.realised import layout

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(port))
    dist.init_process_group("gloo", rank=0, world_size=1)
    try:
        wrapped = FullyShardedDataParallel(torch.nn.Linear(4, 4), sharding_strategy=ShardingStrategy.FULL_SHARD,
                                           device_id=torch.device("cpu"))
        plugin = SimpleNamespace(fsdp_version=1, sharding_strategy=ShardingStrategy.FULL_SHARD,
                                 mixed_precision_policy=None)
        trainer = SimpleNamespace(
            is_fsdp_enabled=True, model_wrapped=wrapped,
            accelerator=SimpleNamespace(num_processes=1, distributed_type="DistributedType.FSDP", mixed_precision="no",
                                        state=SimpleNamespace(fsdp_plugin=plugin)),
            args=SimpleNamespace(per_device_train_batch_size=4, gradient_accumulation_steps=2))
        out = layout(trainer)
    finally:
        dist.destroy_process_group()
    assert out["sharding_strategy"] == "NO_SHARD" and out["sharding_strategy_asked"] == "FULL_SHARD"
    assert out["fsdp_version"] == 1 and out["processes"] == 1


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_optimizer_state_is_created_without_moving_the_weights(dtype):
    """What the FSDP1 resume needs before accelerate's loader fills the optimizer state: AdamW's
    moments exist (zero) and the weights, decayed at learning rate 0, are bitwise unchanged."""
    from deft.train.trainer import init_optimizer_state

    torch.manual_seed(0)
    layer = torch.nn.Linear(8, 8).to(dtype)
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    opt = torch.optim.AdamW(layer.parameters(), lr=1e-3, weight_decay=0.1)
    init_optimizer_state(opt)
    assert all(torch.equal(before[k], v) for k, v in layer.state_dict().items())
    assert len(opt.state) == 2 and all(s["exp_avg"].abs().sum() == 0 for s in opt.state.values())
    assert [g["lr"] for g in opt.param_groups] == [1e-3] and all(p.grad is None for p in layer.parameters())
    state = {id(p): s["exp_avg"] for p, s in opt.state.items()}
    init_optimizer_state(opt)  # a second call leaves an existing state alone
    assert {id(p): s["exp_avg"] for p, s in opt.state.items()} == state
