"""Fine-tuning with any objective of ``deft.losses`` through the Hugging Face ``Trainer``.

Prompt tokens are masked. ``loss_normalisation: step_tokens`` (the suite's) divides by the counted
response tokens of the whole optimizer step, across gradient accumulation and data-parallel
ranks: the Trainer counts them (``num_items_in_batch``) when a ``compute_loss_func`` is set, and
gathers them across ranks. ``authors`` is the released code's (verl < 0.6 ``fsdp_sft_trainer``):
the token mean of each micro-batch on each rank, divided by the number of micro-batches only
after ``backward()``, so the gradient is the SUM of the micro-batch means (averaged over ranks):
results depend on the micro-batch size, and clipping acts on a gradient grad_accum times larger.
Thresholded objectives exclude tokens from the count as well; their normaliser is the kept
tokens of each micro-batch, weighted by the micro-batch's share of the step's tokens (exact with
one micro-batch per step).

Other protocol settings (``config/paper.yaml`` the authors', ``config/paper-corrected.yaml`` the
suite's): ``master_weights`` fp32 (bf16 compute under autocast, fp32 weights and optimizer
states) or bf16 (weights loaded and updated in bf16, as the authors); ``overlong`` drop (an
example longer than ``max_len`` is not trained) or truncate (right-truncated, as the authors);
``prompt_wrapper`` a fixed family wrapper (``deft.data.wrappers``) put around chat-format prompts;
``trunk_cache`` (with ``train_blocks``) runs the frozen lower blocks once per training set
(``deft.train.trunk``).

Each optimizer step appends one JSON line to the training log: objective value, batch NLL,
mean p_y, mean gate, mean a (deft, cayley, neg_p_pow), gradient norm, learning rate, tokens/s.
Checkpoints every ``save_steps`` steps (and the log so far) live in ``<out>.work/``; rerunning a
killed run resumes from the last one. A non-finite gradient stops the run before it is applied
(``nonfinite: stop``) or skips that optimizer step and records it (``nonfinite: skip``).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import torch

import deft.losses as L

from ..integrations.hf import LOSS_PATHS, HeadBypass, ObjectiveLossFunc, linear_head  # noqa: F401  (re-exported)
from ..io import read_jsonl
from . import trunk
from .realised import check_launch, realised_check, scheduler_job

DEFAULTS = {
    "objective": "nll", "params": {}, "learning_rate": 5e-5, "batch_size": 8, "grad_accum": 1,
    "epochs": 1, "max_steps": -1, "warmup_ratio": 0.1, "weight_decay": 0.01, "adam_beta1": 0.9,
    "adam_beta2": 0.95, "lr_scheduler": "cosine", "max_grad_norm": 1.0, "max_len": 256, "seed": 0,
    "save_steps": 0, "bf16": False, "gradient_checkpointing": False, "nonfinite": "stop",
    "loss_path": "linear", "chunk_size": 512, "train_blocks": None, "trunk_cache": False,
    "loss_normalisation": "step_tokens", "master_weights": "fp32", "overlong": "drop", "prompt_wrapper": None,
    "warmup_start": "above_zero", "encoding": "suite", "drop_last": False,
}
CHOICES = {"loss_normalisation": ("step_tokens", "authors"), "master_weights": ("fp32", "bf16"),
           "overlong": ("drop", "truncate"), "warmup_start": ("above_zero", "zero"),
           "encoding": ("suite", "authors")}


# ---- data ------------------------------------------------------------------------------------

def encode(tokenizer, prompt: str, answer: str) -> tuple[list[int], list[int]]:
    """Chat-formatted ids of (user prompt, assistant answer) and labels masking the prompt.

    The response is the answer plus the end-of-turn token, exactly what the chat template writes
    after the generation prompt; lm-eval applies the same template at evaluation time.
    """
    user = [{"role": "user", "content": prompt}]
    prompt_text = tokenizer.apply_chat_template(user, add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(user + [{"role": "assistant", "content": answer}], tokenize=False)
    if not full.startswith(prompt_text):
        raise ValueError("the chat template does not extend the generation prompt with the answer")
    response = full[len(prompt_text):]
    eos = tokenizer.eos_token
    response = response[: response.index(eos) + len(eos)] if eos and eos in response else response
    p_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    r_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    return p_ids + r_ids, [-100] * len(p_ids) + r_ids


def starts_with_bos(tokenizer, prompt: str) -> bool:
    return bool(tokenizer.bos_token) and prompt.startswith(tokenizer.bos_token)


def tokenizer_adds_bos(tokenizer, prompt: str) -> bool:
    """Whether ``encode_raw`` gives ``prompt`` a BOS the text does not carry: Llama's tokenizer
    adds one, SmolLM2's (whose BOS is ``<|im_start|>``) adds none. Evaluation must do the same
    (lm-eval's ``add_bos_token=True`` prepends the BOS whatever the tokenizer does)."""
    if tokenizer.bos_token_id is None or starts_with_bos(tokenizer, prompt):
        return False
    ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == tokenizer.bos_token_id


def encode_raw(tokenizer, prompt: str, answer: str) -> tuple[list[int], list[int]]:
    """For prompts already formatted for the model family (base models without a chat template):
    the prompt with the tokenizer's special tokens (BOS where the tokenizer adds one), then the
    answer and EOS. Evaluation matches it: no chat template, and lm-eval's ``add_bos_token`` set to
    what the tokenizer does here (``tokenizer_adds_bos``; deft.eval.evaluate)."""
    if tokenizer.eos_token_id is None:
        raise ValueError("raw prompt format needs a tokenizer with an end-of-sequence token")
    # A prompt pre-formatted for its family may carry the BOS text already (the authors' Llama
    # prompts do): the tokenizer must not add another.
    p_ids = tokenizer(prompt, add_special_tokens=not starts_with_bos(tokenizer, prompt))["input_ids"]
    r_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return p_ids + r_ids, [-100] * len(p_ids) + r_ids


def encode_authors(tokenizer, e: dict, wrapper: str | None) -> tuple[list[int], list[int]]:
    """The released training encoding (luludus/DEFT main_verl/utils/dataset/sft_dataset.py,
    ``__getitem__``), line for line: the family wrapper of a base Llama/DeepSeek backbone comes
    first, whatever the prompt's format (so a pre-formatted medical or figfont prompt is wrapped
    again); else a pre-formatted prompt as it is; else the chat template's generation prompt. The
    response is the answer plus the tokenizer's ``eos_token`` (Qwen: ``<|endoftext|>``, not the
    template's ``<|im_end|>``); neither part gets the tokenizer's own special tokens."""
    answer = e.get("target", e["answer"])
    if wrapper not in (None, "chat", "raw"):
        from ..data.wrappers import wrap

        prompt = wrap(wrapper, e["prompt"])
    elif e.get("format") == "raw":
        prompt = e["prompt"]
    else:
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": e["prompt"]}], add_generation_prompt=True,
                                               tokenize=False)
    if not tokenizer.eos_token:
        raise ValueError("encoding authors needs a tokenizer with an eos_token (the released code appends it)")
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    r_ids = tokenizer(answer + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    return p_ids + r_ids, [-100] * len(p_ids) + r_ids


def encode_example(tokenizer, e: dict, wrapper: str | None = None,
                   encoding: str = "suite") -> tuple[list[int], list[int]]:
    """``encode`` or, for examples marked ``"format": "raw"`` (deft.data.hub, the compact embedded
    format), ``encode_raw``; the trained response is ``target`` where the example has one.
    ``wrapper`` (a name of ``deft.data.wrappers``, or ``chat``/None for the chat template): a
    chat-format prompt is put inside the family's fixed wrapper, which carries its own special
    tokens, and encoded raw (as the authors' training does for Llama and DeepSeek math).
    ``encoding: authors``: ``encode_authors`` instead (the released code's order and ending)."""
    if encoding == "authors":
        return encode_authors(tokenizer, e, wrapper)
    if encoding != "suite":
        raise ValueError(f"train.encoding = {encoding!r} is not allowed; allowed: {list(CHOICES['encoding'])}")
    answer = e.get("target", e["answer"])
    if e.get("format") == "raw":
        return encode_raw(tokenizer, e["prompt"], answer)
    if wrapper not in (None, "chat"):  # "raw" too reaches wrap(), which refuses it: examples carry raw-ness
        from ..data.wrappers import wrap

        return encode_raw(tokenizer, wrap(wrapper, e["prompt"]), answer)
    return encode(tokenizer, e["prompt"], answer)


def tokenize_examples(tokenizer, examples: list[dict], max_len: int, overlong: str = "drop",
                      wrapper: str | None = None, encoding: str = "suite") -> tuple[list[dict], int]:
    """Encode examples. Those longer than ``max_len`` are dropped (``overlong: drop``) or
    right-truncated to ``max_len`` tokens (``truncate``, the authors'; a row whose response is cut
    away entirely then has no counted token). Returns (rows, dropped or truncated)."""
    if overlong not in CHOICES["overlong"]:
        raise ValueError(f"overlong={overlong!r} is not allowed; allowed: {list(CHOICES['overlong'])}")
    rows, too_long = [], 0
    for e in examples:
        ids, labels = encode_example(tokenizer, e, wrapper, encoding)
        if len(ids) > max_len:
            too_long += 1
            if overlong == "drop":
                continue
            ids, labels = ids[:max_len], labels[:max_len]
        rows.append({"input_ids": ids, "labels": labels})
    if not rows:
        raise ValueError(f"no training example fits max_len={max_len}; raise max_len")
    return rows, too_long


def whole_batches(rows: list, cfg: dict) -> tuple[list, int]:
    """``train.drop_last`` (the authors': verl's sampler and loader drop the last partial global
    batch): keep a whole number of global batches (micro-batch x accumulation x processes), so no
    short final step lengthens the schedule. Returns (rows, how many were dropped)."""
    size = cfg["batch_size"] * cfg["grad_accum"] * int(os.environ.get("WORLD_SIZE", "1"))
    keep = len(rows) // size * size
    if keep == 0:
        raise ValueError(f"train.drop_last: {len(rows)} examples make no whole global batch of {size} "
                         "(batch_size x grad_accum x processes); lower them or set drop_last: false")
    return rows[:keep], len(rows) - keep


class PadCollator:
    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, rows):
        n = max(len(r["input_ids"]) for r in rows)

        def pad(key, value):
            return torch.tensor([r[key] + [value] * (n - len(r[key])) for r in rows])

        mask = torch.tensor([[1] * len(r["input_ids"]) + [0] * (n - len(r["input_ids"])) for r in rows])
        out = {"attention_mask": mask, "labels": pad("labels", -100)}
        if "trunk" in rows[0]:  # cached lower-block states (deft.train.trunk) stand in for the ids
            out["inputs_embeds"] = torch.stack([torch.nn.functional.pad(r["trunk"], (0, 0, 0, n - len(r["trunk"])))
                                                for r in rows])
        else:
            out["input_ids"] = pad("input_ids", self.pad_id)
        return out


# ---- the loss and its per-step statistics ------------------------------------------------------

class ObjectiveLoss(ObjectiveLossFunc):
    """``compute_loss_func`` for the Trainer (``deft.integrations.hf``: the objective on shifted
    logits, or with ``head`` on shifted hidden states through the chunked linear path), with the
    ``authors`` normalisation and running per-step statistics."""

    def __init__(self, objective: str, params: dict, head: HeadBypass | None = None, chunk_size: int = 512,
                 path: str = "linear", normalisation: str = "step_tokens"):
        super().__init__(objective, params, head=head, path=path, chunk_size=chunk_size)
        if normalisation not in CHOICES["loss_normalisation"]:
            raise ValueError(f"loss_normalisation={normalisation!r} is not allowed; "
                             f"allowed: {list(CHOICES['loss_normalisation'])}")
        self.normalisation = normalisation
        self.reset()

    def reset(self):
        self.sums = {"nll": 0.0, "p": 0.0, "gate": 0.0, "a": 0.0, "valid": 0, "kept": 0}
        self.has_a = False

    def normaliser(self, t, valid, num_items_in_batch):
        # authors: this micro-batch's token mean, whatever the step counts
        return super().normaliser(t, valid, num_items_in_batch if self.normalisation == "step_tokens" else None)

    def __call__(self, outputs, labels, num_items_in_batch=None):
        loss = super().__call__(outputs, labels, num_items_in_batch)
        self._accumulate(self.last_terms, self.last_valid, self.last_terms.keep.sum())
        return loss

    @torch.no_grad()
    def _accumulate(self, t, valid, n_kept):
        s = self.sums
        s["valid"] += int(valid.sum())
        s["kept"] += int(n_kept)
        s["gate"] += float(t.gate.sum())
        logp = torch.where(valid, t.logp, torch.zeros_like(t.logp))
        s["nll"] += float(-logp.sum())
        s["p"] += float((logp.exp() * valid).sum())
        if t.a is not None:
            self.has_a = True
            s["a"] += float((t.a * valid).sum())

    def sync(self) -> None:
        """Sum the running stats over data-parallel ranks (a collective: every rank must call it)."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            keys = sorted(self.sums)
            t = torch.tensor([float(self.sums[k]) for k in keys] + [float(self.has_a)], dtype=torch.float64,
                             device="cuda" if dist.get_backend() == "nccl" else "cpu")
            dist.all_reduce(t)
            self.sums = {k: (int(v) if k in ("valid", "kept") else float(v)) for k, v in zip(keys, t.tolist())}
            self.has_a = bool(t[-1] > 0)

    def summary(self) -> dict:
        s, v = self.sums, max(self.sums["valid"], 1)
        out = {"nll": s["nll"] / v, "mean_p": s["p"] / v, "mean_gate": s["gate"] / max(s["kept"], 1),
               "kept_fraction": s["kept"] / v, "response_tokens": s["valid"]}
        if self.has_a:
            out["mean_a"] = s["a"] / v
        return out


# ---- the Trainer glue --------------------------------------------------------------------------

def _all_ranks(flag: bool) -> bool:
    """``flag`` and-ed over data-parallel ranks (itself when not distributed)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return bool(flag)
    t = torch.tensor([1 if flag else 0], device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def _callbacks():
    from transformers import TrainerCallback

    class StepLog(TrainerCallback):
        """One JSON line per optimizer step; guards the optimizer against non-finite gradients."""

        def __init__(self, loss_fn: ObjectiveLoss, path: Path, nonfinite: str):
            self.loss_fn, self.path, self.nonfinite = loss_fn, path, nonfinite
            self.t0 = time.perf_counter()
            self.skipped: list[int] = []

        def on_step_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_pre_optimizer_step(self, args, state, control, model=None, **kw):
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            if _all_ranks(all(torch.isfinite(g).all() for g in grads)):  # sharded grads: every rank decides alike
                return
            step = state.global_step + 1
            if self.nonfinite == "stop":
                raise FloatingPointError(
                    f"non-finite loss or gradient at step {step} for objective {self.loss_fn.objective!r}; "
                    "nothing was applied (set train.nonfinite: skip to skip such steps)")
            for p in model.parameters():  # AdamW leaves parameters without a gradient untouched
                p.grad = None
            self.skipped.append(step)

        def on_log(self, args, state, control, logs=None, **kw):
            logs = logs or {}
            if "loss" not in logs:  # the end-of-training summary line
                return
            self.loss_fn.sync()  # every rank logs; rank 0 writes the stats of the whole global batch
            stats = self.loss_fn.summary()
            self.loss_fn.reset()
            if not state.is_world_process_zero:
                return
            elapsed = max(time.perf_counter() - self.t0, 1e-9)
            row = {"step": state.global_step, "objective_value": logs["loss"],
                   "grad_norm": logs.get("grad_norm"), "learning_rate": logs.get("learning_rate"),
                   "tokens_per_s": stats["response_tokens"] / elapsed, **stats,
                   "skipped": state.global_step in self.skipped}
            with open(self.path, "a") as f:
                f.write(json.dumps(row) + "\n")

    class StopWhen(TrainerCallback):
        """Evaluate ``check(model) -> float`` every ``every`` steps; stop once it reaches ``target``."""

        def __init__(self, check, every: int, target: float, history: list):
            self.check, self.every, self.target, self.history = check, every, target, history

        def on_step_end(self, args, state, control, model=None, **kw):
            if self.every and state.global_step % self.every == 0:
                with full_head(model):
                    value = self.check(model)
                self.history.append({"step": state.global_step, "value": value})
                print(f"held-out check at step {state.global_step}: {value:.4f} (target {self.target})", flush=True)
                if value >= self.target:
                    control.should_training_stop = True

    return StepLog, StopWhen


def freeze_below(model, n_blocks: int) -> None:
    """Partial fine-tuning: train only the top ``n_blocks`` transformer blocks and the final norm;
    the embeddings (and the LM head tied to them) and the lower blocks stay as they are."""
    blocks = model.model.layers
    if not 1 <= n_blocks <= len(blocks):
        raise ValueError(f"train_blocks={n_blocks} is not allowed; allowed: 1..{len(blocks)} (this model's "
                         "blocks) or null for full fine-tuning")
    model.requires_grad_(False)
    for block in blocks[len(blocks) - n_blocks:]:
        block.requires_grad_(True)
    model.model.norm.requires_grad_(True)


def warmup_factor(step: int, warmup: int, start: str = "above_zero") -> float:
    """Linear warm-up. ``above_zero`` (the suite's): step s (0-based) runs at (s + 1) / (warmup + 1)
    of the peak (a warm-up from 0 wastes its first optimizer step: a real cost on a run of a few
    dozen). ``zero`` (the authors', verl's cosine schedule): s / warmup, the first step at rate 0."""
    if start == "zero":
        return min(1.0, step / max(1, warmup))
    return min(1.0, (step + 1) / (warmup + 1))


def _trainer_class():
    import math

    from torch.optim.lr_scheduler import LambdaLR
    from transformers import Trainer

    class _Trainer(Trainer):
        def create_scheduler(self, num_training_steps: int, optimizer=None):
            if self.lr_scheduler is None:
                kind, warm = str(self.args.lr_scheduler_type).rsplit(".", 1)[-1].lower(), \
                    self.args.get_warmup_steps(num_training_steps)
                if self.warmup_start == "zero" and 0 < self.args.warmup_steps < 1:  # verl: int(total x ratio),
                    warm = int(num_training_steps * self.args.warmup_steps)        # transformers rounds up
                decay = {"cosine": lambda p: 0.5 * (1 + math.cos(math.pi * p)), "linear": lambda p: 1 - p,
                         "constant": lambda p: 1.0}
                if kind not in decay:
                    raise ValueError(f"lr_scheduler={kind!r} is not allowed; allowed: {sorted(decay)}")

                def factor(step):
                    if step < warm:
                        return warmup_factor(step, warm, self.warmup_start)
                    return decay[kind]((step - warm) / max(1, num_training_steps - warm))

                self.lr_scheduler = LambdaLR(optimizer or self.optimizer, factor)
                self._created_lr_scheduler = True
            return self.lr_scheduler

        def _load_optimizer_and_scheduler(self, checkpoint):
            # accelerate's FSDP1 loader with SHARDED_STATE_DICT fills the state dict of the optimizer as
            # it is, and a fresh AdamW has no state yet: the moments were silently not restored, and a
            # resumed run trained on with new ones (seen on an H200, 1.5e-4 off the uninterrupted
            # weights while reruns were bitwise equal). Create the state first, as torch's own
            # get_optimizer_state_dict does.
            if checkpoint is not None and self.is_fsdp_enabled:
                init_optimizer_state(getattr(self.optimizer, "optimizer", self.optimizer))
            super()._load_optimizer_and_scheduler(checkpoint)

    return _Trainer


def init_optimizer_state(optimizer) -> None:
    """Give a fresh optimizer its (lazily created) state by one step on zero gradients at learning
    rate 0, which leaves the weights as they are (AdamW's decoupled decay is then x 1), so that a
    checkpoint loader that fills existing entries has entries to fill. A no-op once it has state."""
    if optimizer.state:
        return
    params = [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]
    lrs = [group["lr"] for group in optimizer.param_groups]
    for p in params:
        p.grad = torch.zeros_like(p)
    for group in optimizer.param_groups:
        group["lr"] = torch.tensor(0.0) if isinstance(group["lr"], torch.Tensor) else 0.0
    optimizer.step()
    for group, lr in zip(optimizer.param_groups, lrs):
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)


@contextlib.contextmanager
def full_head(model):
    """Ordinary logits for the block (generation during training), whatever the loss path."""
    head = model.get_output_embeddings()
    was = getattr(head, "active", None)
    if was is not None:
        head.active = False
    try:
        yield
    finally:
        if was is not None:
            head.active = was


STAMP = "settings.sha256"  # in <out>.work: the settings its checkpoints were trained with
ATTEMPTS = "attempts.jsonl"  # in <out>.work: the job each start of this run ran under


def settings_hash(cfg: dict, model_dir, train_path) -> str:
    """What a checkpoint must share with this run to be resumed: every setting, the objective's
    version, the number of processes (the global batch and the sharded states depend on it), the
    backbone's files (names, sizes, modification times: a rebuilt prior at the same path differs)
    and the training data's bytes."""
    data = hashlib.sha256(Path(train_path).read_bytes()).hexdigest()
    backbone = sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in Path(model_dir).iterdir() if f.is_file())
    key = json.dumps({"settings": cfg, "objective_version": L.version(cfg["objective"]),
                      "processes": os.environ.get("WORLD_SIZE", "1"), "model": str(Path(model_dir).resolve()),
                      "backbone": backbone, "data": data}, sort_keys=True, default=str)
    return hashlib.sha256(key.encode()).hexdigest()


def complete_checkpoint(folder: Path) -> bool:
    """Whether a ``checkpoint-N`` folder was written to the end: its trainer_state.json, which the
    Trainer writes last, is there and names step N (a kill while saving leaves it absent or short)."""
    try:
        state = json.loads((Path(folder) / "trainer_state.json").read_text())
        return int(state["global_step"]) == int(Path(folder).name.rsplit("-", 1)[-1])
    except (OSError, ValueError, KeyError):
        return False


def resume_point(work: Path, stamp: str) -> tuple[str | None, list[Path]]:
    """(the newest complete checkpoint in ``work`` trained with these settings, or None; the folders
    to remove first). Complete: its trainer_state.json, which the Trainer writes last, is there and
    names the checkpoint's step. Checkpoints of other settings (or unmarked ones) are all discarded."""
    if not work.exists():
        return None, []
    marked = work / STAMP
    if not marked.is_file() or marked.read_text().strip() != stamp:
        return None, [work] if any(work.iterdir()) else []  # (an empty one: the Trainer made it)
    complete, broken = {}, []
    for folder in work.glob("checkpoint-*"):
        if complete_checkpoint(folder):
            complete[int(folder.name.rsplit("-", 1)[-1])] = folder
        else:
            broken.append(folder)
    return (str(complete[max(complete)]) if complete else None), broken


def _truncate_log(path: Path, step: int) -> None:
    """On resume, keep the log lines of the steps the checkpoint already contains."""
    if path.exists():
        kept = []
        for line in path.read_text().splitlines():
            try:
                if json.loads(line)["step"] <= step:
                    kept.append(line)
            except (ValueError, KeyError):  # a line a kill cut half-way
                continue
        path.write_text("".join(line + "\n" for line in kept))


def train(model_dir, train_path, out_dir, log_path, cfg: dict, *, stop_check=None, callbacks=()) -> dict:
    """Fine-tune ``model_dir`` on ``train_path`` (JSON lines with prompt/answer) and save ``out_dir``.

    ``stop_check`` = (check(model) -> float, every, target) stops early once check >= target
    (used to build the prior backbone); ``callbacks`` are extra TrainerCallbacks. Returns a summary
    for the run record.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainingArguments

    unknown = set(cfg) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown training setting(s) {sorted(unknown)}; allowed: {sorted(DEFAULTS)}")
    cfg = {**DEFAULTS, **cfg}
    ObjectiveLoss(cfg["objective"], cfg["params"], path=cfg["loss_path"],
                  normalisation=cfg["loss_normalisation"])  # bad settings fail before any loading
    for key, allowed in CHOICES.items():
        if cfg[key] not in allowed:
            raise ValueError(f"train.{key} = {cfg[key]!r} is not allowed; allowed: {list(allowed)}")
    if cfg["trunk_cache"]:
        trunk.check_settings(cfg, stop_check=stop_check is not None, processes=int(os.environ.get("WORLD_SIZE", "1")))
    check_launch()  # a GPU launch without a usable CUDA fails here, not after hours on CPU ranks
    out_dir, log_path = Path(out_dir), Path(log_path)
    work = out_dir.with_name(out_dir.name + ".work")  # checkpoints of an unfinished run

    torch.manual_seed(cfg["seed"])
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rows, dropped = tokenize_examples(tokenizer, read_jsonl(train_path), cfg["max_len"], cfg["overlong"],
                                      cfg["prompt_wrapper"], cfg["encoding"])
    rows, partial = whole_batches(rows, cfg) if cfg["drop_last"] else (rows, 0)
    # master_weights bf16: the authors' weights (and AdamW states) in bf16, no fp32 copy, no autocast.
    pure_bf16 = cfg["master_weights"] == "bf16"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16 if pure_bf16 else torch.float32)
    if cfg["gradient_checkpointing"]:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})  # FSDP-safe
    if cfg["train_blocks"] is not None:
        freeze_below(model, cfg["train_blocks"])
    top_only = contextlib.nullcontext()
    if cfg["trunk_cache"]:
        states = trunk.trunk_states(model, rows, cfg["train_blocks"], model_dir, PadCollator(tokenizer.pad_token_id),
                                    autocast_bf16=cfg["bf16"])
        rows = [{**r, "trunk": h} for r, h in zip(rows, states)]
        n_layers = len(model.model.layers)
        top_only = trunk.blocks(model, slice(n_layers - cfg["train_blocks"], n_layers))
    head = model.get_output_embeddings()
    bypass = linear_head(model)  # refuses heads whose weight alone does not give the logits (soft-capping)
    model.set_output_embeddings(bypass)
    loss_fn = ObjectiveLoss(cfg["objective"], cfg["params"], bypass, cfg["chunk_size"], cfg["loss_path"],
                            cfg["loss_normalisation"])

    args = TrainingArguments(
        output_dir=str(work), per_device_train_batch_size=cfg["batch_size"],
        gradient_accumulation_steps=cfg["grad_accum"], num_train_epochs=cfg["epochs"],
        max_steps=cfg["max_steps"], learning_rate=cfg["learning_rate"], warmup_steps=float(cfg["warmup_ratio"]),
        weight_decay=cfg["weight_decay"], adam_beta1=cfg["adam_beta1"], adam_beta2=cfg["adam_beta2"],
        lr_scheduler_type=cfg["lr_scheduler"], max_grad_norm=cfg["max_grad_norm"], bf16=cfg["bf16"] and not pure_bf16,
        seed=cfg["seed"], data_seed=cfg["seed"], logging_steps=1, report_to=[],
        save_strategy="steps" if cfg["save_steps"] else "no", save_steps=cfg["save_steps"] or 500,
        save_total_limit=1, remove_unused_columns=False, dataloader_num_workers=0,
        use_cpu=not torch.cuda.is_available(),
        # authors: each rank's own token mean (balance_dp_token False), averaged by the gradient all-reduce
        average_tokens_across_devices=cfg["loss_normalisation"] == "step_tokens",
    )
    StepLog, StopWhen = _callbacks()
    history: list = []
    work_log = work / "train_log.jsonl"  # moved to log_path when done: survives a killed job
    step_log = StepLog(loss_fn, work_log, cfg["nonfinite"])
    callbacks = [*callbacks, step_log]
    if stop_check is not None:
        callbacks.append(StopWhen(*stop_check, history))
    trainer = _trainer_class()(model=model, args=args, train_dataset=rows, data_collator=PadCollator(tokenizer.pad_token_id),
                      compute_loss_func=loss_fn, callbacks=callbacks)
    trainer.warmup_start = cfg["warmup_start"]
    realised = realised_check(trainer, cfg["master_weights"])  # reads back dtypes and layout; refuses contradictions
    trainer.add_callback(realised)

    # Several processes (torchrun / accelerate launch) share out_dir: files are touched by rank 0 only.
    main, barrier = trainer.is_world_process_zero(), trainer.accelerator.wait_for_everyone
    stamp = settings_hash(cfg, model_dir, train_path)
    resume, discard = resume_point(work, stamp)  # every rank reads the same folder before rank 0 edits it
    barrier()
    if main:
        for folder in discard:
            print(f"train: discarding {folder} (a checkpoint a kill interrupted, or of other settings)", flush=True)
            shutil.rmtree(folder, ignore_errors=True)
        if resume:
            _truncate_log(work_log, int(resume.rsplit("-", 1)[-1]))
        else:
            work.mkdir(parents=True, exist_ok=True)
            (work / STAMP).write_text(stamp)
            work_log.write_text("")
            (work / ATTEMPTS).write_text("")
        with open(work / ATTEMPTS, "a") as f:  # one line per start: the killed jobs and the one that resumed
            f.write(json.dumps({"job": scheduler_job(), "resumed_from": resume}) + "\n")
    barrier()
    t0 = time.perf_counter()
    with top_only:  # trunk_cache: the lower blocks are skipped while training, restored for saving
        result = trainer.train(resume_from_checkpoint=resume)
    wall = time.perf_counter() - t0
    model.set_output_embeddings(head)  # the saved model is an ordinary causal LM
    model.requires_grad_(True)

    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
    barrier()
    if trainer.is_fsdp_enabled:  # gather the shards into one ordinary checkpoint
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(str(tmp))  # collective under FSDP/DeepSpeed; writes on rank 0
    attempts = [json.loads(line) for line in (work / ATTEMPTS).read_text().splitlines() if line.strip()] if main else []
    if main:
        tokenizer.save_pretrained(tmp)
        shutil.rmtree(out_dir, ignore_errors=True)
        os.replace(tmp, out_dir)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(work_log, log_path)
        shutil.rmtree(work, ignore_errors=True)
    barrier()
    return {"steps": result.global_step, "skipped_steps": step_log.skipped, "train_loss": result.training_loss,
            "wall_s": wall, "examples": len(rows),
            "dropped_too_long": dropped if cfg["overlong"] == "drop" else 0,
            "truncated_too_long": dropped if cfg["overlong"] == "truncate" else 0, "dropped_partial_batch": partial,
            "resumed_from": resume,
            "stop_history": history, "settings": cfg,
            "distributed": {"type": str(trainer.accelerator.distributed_type).rsplit(".", 1)[-1],
                            "processes": trainer.accelerator.num_processes},
            "realised": realised.realised, "job": attempts[-1]["job"] if attempts else scheduler_job(),
            "attempts": attempts,
            "peak_gpu_memory_gb": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None}
