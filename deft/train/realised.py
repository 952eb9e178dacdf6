"""What a training run really ran with, read back after set-up, and refused when it contradicts
the config. Records must state what ran: accelerate's FSDP1 with ``mixed_precision: bf16`` upcasts
bf16-loaded weights to fp32, so ``master_weights: bf16`` could be recorded while fp32 weights and
AdamW states trained; a GPU config on a node whose CUDA is unusable used to fall back to CPU ranks.

``check_launch()`` fails at once when an accelerate launch asked for GPUs and CUDA is unusable.
``RealisedCheck`` (a TrainerCallback) reads the trainable parameters' dtype, the sharding and the
process layout when training begins, the optimizer states' dtype after the first step, refuses a
contradiction with ``train.master_weights`` (before any step for the weights) and keeps the
readings for the run's summary (``realised``).
"""
from __future__ import annotations

import os

import torch

WANT = {"bf16": "torch.bfloat16", "fp32": "torch.float32"}


def check_launch() -> None:
    """An accelerate launch whose config does not say use_cpu expects GPUs: without a usable CUDA
    the run would silently train on CPU ranks until its time limit."""
    if os.environ.get("ACCELERATE_USE_CPU", "").lower() == "false" and not torch.cuda.is_available():
        raise RuntimeError(
            "the accelerate launch asks for GPUs (its config has no use_cpu: true) but CUDA is unusable here: "
            f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no device (CUDA_VISIBLE_DEVICES="
            f"{os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')!r}); check the driver against the wheel, "
            "or use a CPU launcher config (configs/accelerate/fsdp-cpu.yaml)")


def scheduler_job() -> dict | None:
    """The batch job this process runs under, for the records (None outside a scheduler): a record
    must say which SLURM job produced it, so that its log (and `sacct`) can be found again."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return None
    restarts = os.environ.get("SLURM_RESTART_COUNT")
    if restarts is None:  # Snakemake's jobstep strips it from the step it starts: ask the controller
        import re
        import subprocess

        try:
            out = subprocess.run(["scontrol", "show", "job", "-o", job], capture_output=True, text=True, timeout=20).stdout
            restarts = re.search(r"\bRestarts=(\d+)", out).group(1)
        except (OSError, subprocess.SubprocessError, AttributeError):
            restarts = None
    return {"scheduler": "slurm", "job_id": job, "node": os.environ.get("SLURMD_NODENAME"),
            "partition": os.environ.get("SLURM_JOB_PARTITION"),
            "restarts": None if restarts is None else int(restarts)}


def _dtypes(tensors) -> list[str]:
    return sorted({str(t.dtype) for t in tensors})


def layout(trainer) -> dict:
    """Processes, micro-batches and sharding as the Trainer's accelerator set them up."""
    acc, args = trainer.accelerator, trainer.args
    out = {"processes": acc.num_processes, "distributed_type": str(acc.distributed_type).rsplit(".", 1)[-1],
           "mixed_precision": acc.mixed_precision, "micro_batch_size": args.per_device_train_batch_size,
           "micro_batches_per_rank": args.gradient_accumulation_steps, "fsdp_version": None,
           "sharding_strategy": None}
    if getattr(trainer, "is_fsdp_enabled", False):
        plugin = acc.state.fsdp_plugin
        out["fsdp_version"] = getattr(plugin, "fsdp_version", 1)
        asked = str(plugin.sharding_strategy).rsplit(".", 1)[-1]
        # What FSDP1 really does is on the wrapped module: with one process it switches FULL_SHARD to
        # NO_SHARD (seen on a one-GPU run whose record said FULL_SHARD). FSDP2 has no such attribute.
        real = getattr(getattr(trainer, "model_wrapped", None), "sharding_strategy", None)
        out["sharding_strategy_asked"] = asked
        out["sharding_strategy"] = str(real).rsplit(".", 1)[-1] if real is not None else None
        policy = plugin.mixed_precision_policy
        out["reduce_dtype"] = str(getattr(policy, "reduce_dtype", None)) if policy is not None else None
    return out


def contradictions(master_weights: str, realised: dict) -> list[str]:
    """What in ``realised`` contradicts ``train.master_weights``."""
    want, bad = WANT[master_weights], []
    for key, what in (("param_dtype", "trainable parameters"), ("optimizer_state_dtype", "optimizer states")):
        got = realised.get(key)
        if got and got != [want]:
            bad.append(f"train.master_weights = {master_weights} asks for {want} {what}, but they are {got}")
    return bad


def _callback():
    from transformers import TrainerCallback

    class RealisedCheck(TrainerCallback):
        def __init__(self, trainer, master_weights: str):
            self.trainer, self.master_weights, self.realised = trainer, master_weights, {}

        def _refuse(self):
            if self.realised.get("distributed_type") == "DEEPSPEED":
                # ZeRO converts the module to its compute dtype and keeps the master copy inside its
                # own optimizer: the module's dtype says nothing about master weights there.
                self.realised["dtype_check"] = "not applicable under DeepSpeed (ZeRO holds the master copy)"
                return
            bad = contradictions(self.master_weights, self.realised)
            if bad:
                hint = (" (accelerate's FSDP1 upcasts bf16 weights when its config sets mixed_precision; "
                        "bf16 master weights need mixed_precision: 'no')" if self.master_weights == "bf16" else "")
                raise RuntimeError("; ".join(bad) + hint + f". Realised: {self.realised}")

        def on_train_begin(self, args, state, control, model=None, **kw):
            trainable = [p for p in (model or self.trainer.model).parameters() if p.requires_grad]
            self.realised = {**layout(self.trainer), "param_dtype": _dtypes(trainable)}
            self._refuse()  # before any optimizer step

        def on_step_end(self, args, state, control, optimizer=None, **kw):
            if "optimizer_state_dtype" in self.realised or optimizer is None:
                return
            states = [v for s in optimizer.state.values() for v in s.values()
                      if torch.is_tensor(v) and v.dim() > 0]  # moments, not AdamW's scalar step counts
            if states:
                self.realised["optimizer_state_dtype"] = _dtypes(states)
                self._refuse()

    return RealisedCheck


def realised_check(trainer, master_weights: str):
    """A RealisedCheck callback for ``trainer`` (add it with ``trainer.add_callback``)."""
    return _callback()(trainer, master_weights)
