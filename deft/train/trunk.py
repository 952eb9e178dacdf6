"""Partial fine-tuning from cached trunk states (``train_blocks: n`` with ``trunk_cache: true``).

With only the top ``n`` blocks trained, the embeddings and the lower blocks are frozen: their output
for a training example is the same at every step and every epoch, and for every run of one process
that trains the same backbone on the same token ids (a shard's 8 runs have two training sets, clean
and noisy). So it is computed once, without gradients, and training runs the top blocks, the final
norm and the loss on it. The gradients are those of the full forward up to floating-point rounding
(right padding never changes a real position's states under a causal mask), which
tests/train/test_train.py checks.

Single-process CPU/GPU training only: checkpoints, held-out checks during training and FSDP would
all see a model without its lower blocks, so the trainer refuses those combinations.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
from collections import OrderedDict
from pathlib import Path

import torch

_CACHE: OrderedDict = OrderedDict()  # key -> list of [len, hidden] tensors, most recent last
_CACHE_SIZE = 8  # a shard's two training sets and its two analysis sets, with room to spare


def check_settings(cfg: dict, stop_check: bool = False, processes: int = 1) -> None:
    """Refuse what would see the model without its lower blocks (``cfg``: the train settings)."""
    clashes = {"train_blocks: null (full fine-tuning has no frozen trunk)": cfg.get("train_blocks") is None,
               "save_steps (checkpoints would hold only the top blocks)": bool(cfg.get("save_steps")),
               "gradient_checkpointing": bool(cfg.get("gradient_checkpointing")),
               "a held-out stop check during training": stop_check,
               "several processes": processes > 1}
    bad = [k for k, v in clashes.items() if v]
    if bad:
        raise ValueError(f"train.trunk_cache: true cannot be combined with {', '.join(bad)}; "
                         "allowed: trunk_cache with train_blocks set, one process, save_steps 0")


def _key(model_dir, n_blocks: int, rows: list[dict], autocast_bf16: bool) -> str:
    """The backbone's weight files (path, size, mtime), the cut and the token ids."""
    files = sorted((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns)
                   for p in Path(model_dir).glob("*.safetensors"))
    h = hashlib.sha256(json.dumps([files, n_blocks, autocast_bf16, [r["input_ids"] for r in rows]]).encode())
    return h.hexdigest()


@contextlib.contextmanager
def blocks(model, keep: slice, skip_norm: bool = False):
    """The model with only ``layers[keep]`` (and, with ``skip_norm``, no final norm) for the block."""
    inner = model.model
    layers, norm = inner.layers, inner.norm
    inner.layers = torch.nn.ModuleList(list(layers)[keep])
    if skip_norm:
        inner.norm = torch.nn.Identity()
    try:
        yield model
    finally:
        inner.layers, inner.norm = layers, norm


@torch.no_grad()
def trunk_states(model, rows: list[dict], n_blocks: int, model_dir, collate, autocast_bf16: bool = False,
                 batch_size: int = 32) -> list[torch.Tensor]:
    """Each row's hidden states after the frozen lower blocks (cached per process); ``collate``
    pads a batch of rows as training does (deft.train.trainer.PadCollator)."""
    return _cached(_key(model_dir, n_blocks, rows, autocast_bf16),
                   lambda: _compute_trunk(model, rows, n_blocks, collate, autocast_bf16, batch_size))


def _cached(key: str, compute) -> list[torch.Tensor]:
    """``_CACHE[key]``, computed on a miss; the least recently used entries beyond the size go."""
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    _CACHE[key] = compute()
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return _CACHE[key]


def _compute_trunk(model, rows, n_blocks, collate, autocast_bf16, batch_size) -> list[torch.Tensor]:
    n_lower = len(model.model.layers) - n_blocks
    was_training = model.training
    model.eval()
    out: list = [None] * len(rows)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))  # little padding per batch
    with blocks(model, slice(0, n_lower), skip_norm=True), \
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast_bf16):
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch = collate([rows[i] for i in idx])
            h = model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                            use_cache=False).last_hidden_state
            for j, i in enumerate(idx):  # right padding: real positions are unaffected
                out[i] = h[j, :len(rows[i]["input_ids"])].to(model.dtype).clone()
    model.train(was_training)
    return out


def _weights_key(model, n_lower: int, batches: list[tuple]) -> str:
    """The embeddings' and lower blocks' weights themselves, the cut and the inputs: a model whose
    lower blocks differ in any bit gets its own states."""
    h = hashlib.blake2b(str(n_lower).encode())
    for t in [model.model.embed_tokens.weight, *(p for b in model.model.layers[:n_lower] for p in b.state_dict().values())]:
        h.update(t.detach().float().cpu().contiguous().numpy())  # the buffer itself, not a copy
    for ids, mask in batches:
        h.update(ids.cpu().contiguous().numpy())
        h.update(mask.cpu().contiguous().numpy())
    return h.hexdigest()


@torch.no_grad()
def lower_states(model, batches: list[tuple], top_blocks: int) -> list[torch.Tensor]:
    """Per (ids, mask) batch, the hidden states after all but the top ``top_blocks`` blocks, cached
    per process by the lower weights and the inputs: the analyses of a shard's runs, whose
    fine-tuning froze those blocks, run them once (deft.eval.analysis.token_stats)."""
    n_lower = len(model.model.layers) - top_blocks
    if not 0 <= n_lower < len(model.model.layers):
        raise ValueError(f"top_blocks={top_blocks} is not allowed; allowed: 1..{len(model.model.layers)}")
    device = next(model.parameters()).device

    def compute():
        with blocks(model, slice(0, n_lower), skip_norm=True):
            return [model.model(input_ids=ids.to(device), attention_mask=mask.to(device),
                                use_cache=False).last_hidden_state for ids, mask in batches]

    return _cached("lower:" + _weights_key(model, n_lower, batches), compute)
