"""Public entry points on materialised logits: ``per_token``, ``loss``, ``gate``, ``terms``.

``logits`` [..., V] in any float dtype (computed in fp32), ``labels`` [...] int64 with
``ignore_index`` marking positions that are not targets (prompt tokens, padding). The causal
shift is the caller's job.
"""
from __future__ import annotations

import torch

from .core import REGISTRY, Terms, apply, resolve


def _flatten(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int):
    if logits.shape[:-1] != labels.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} disagree; "
                         "expected logits [..., V] and labels [...]")
    if not logits.is_floating_point():
        raise ValueError(f"logits must be a float tensor, got {logits.dtype}")
    z = logits.reshape(-1, logits.shape[-1])
    z = z if z.dtype == torch.float64 else z.float()  # fp32 at least, whatever the input dtype
    y = labels.reshape(-1)
    valid = y != ignore_index
    bad = valid & ((y < 0) | (y >= z.shape[-1]))
    if bad.any():
        raise ValueError(f"labels must lie in [0, {z.shape[-1]}) or equal ignore_index={ignore_index}; "
                         f"got {y[bad][:5].tolist()}")
    return z, torch.where(valid, y, torch.zeros_like(y)), valid


def token_logp(z: torch.Tensor, y: torch.Tensor, lse: torch.Tensor | None = None) -> torch.Tensor:
    """log p_y = z_y - logsumexp(z), [N], without materialising log_softmax (``lse``: if known)."""
    lse = torch.logsumexp(z, dim=-1) if lse is None else lse
    return z.gather(-1, y[:, None]).squeeze(-1) - lse


def terms(objective: str, logits, labels, *, ignore_index: int = -100, **params) -> Terms:
    """All per-token terms of ``objective`` (flattened to [N]); see ``core.Terms``."""
    obj, merged = resolve(objective, params)
    z, y, valid = _flatten(logits, labels, ignore_index)
    lse = torch.logsumexp(z, dim=-1)
    logp = token_logp(z, y, lse)
    t = apply(obj, z, logp, valid, lse, merged)
    t.logp = logp.detach()
    return t


def per_token(objective: str, logits, labels, *, ignore_index: int = -100, **params) -> torch.Tensor:
    """Per-token loss, shaped like ``labels``; 0 where ignored or excluded by the objective."""
    return terms(objective, logits, labels, ignore_index=ignore_index, **params).loss.reshape(labels.shape)


def reduce(t: Terms, num_items=None) -> torch.Tensor:
    """Sum over counted tokens / num_items (default: the number of counted tokens, at least 1)."""
    if num_items is None:
        num_items = t.keep.sum().clamp(min=1)
    return t.loss.sum() / num_items


def loss(objective: str, logits, labels, *, ignore_index: int = -100, num_items=None, **params):
    """Scalar loss: sum of per-token losses over counted tokens divided by ``num_items``."""
    return reduce(terms(objective, logits, labels, ignore_index=ignore_index, **params), num_items)


def gate(objective: str, logits, labels, *, ignore_index: int = -100, **params) -> torch.Tensor:
    """Detached per-token gate w (0 where not counted), shaped like ``labels``:
    d loss / d logits = w * (softmax(logits) - onehot(labels)) / num_items."""
    with torch.no_grad():
        t = terms(objective, logits.detach(), labels, ignore_index=ignore_index, **params)
    return t.gate.reshape(labels.shape)


def version(objective: str) -> int:
    """Implementation version of ``objective`` (recorded in run records)."""
    return resolve(objective, {})[0].version


__all__ = ["REGISTRY", "terms", "per_token", "loss", "gate", "reduce", "token_logp", "version"]
