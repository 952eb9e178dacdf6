"""Any objective of the registry on ``hidden @ weight.T`` without materialising [tokens x vocab].

``linear_loss(objective, hidden, weight, labels, ...)`` has the value and the gradients (w.r.t.
``hidden`` and ``weight``) of ``loss(objective, hidden @ weight.T, labels, ...)``. It walks the
tokens in chunks; per chunk it forms the fp32 logits [chunk, V], evaluates the objective (the
same registered function as the plain path: logsumexp of z and of 2z for deft, the top-k entropy
for eaft), and turns the gate into gradient contributions at once, since every objective's logit
gradient is ``gate * (softmax(z) - onehot(y))``:

    dL/dhidden_chunk = G @ weight,   dL/dweight += G^T @ hidden_chunk,   G = gate (pi - e_y) / n

so the peak extra memory is O(chunk x V) plus one gradient the size of ``weight``, independent of
the number of tokens. ``cayley`` needs the batch mean of p first: a first pass computes log p_y
per token (N floats), then the main pass runs with that mean.

Shapes: hidden [N, H] (or [..., H]), weight [V, H], labels [N] (or [...]); fp32 or bf16.
"""
from __future__ import annotations

import inspect

import torch

from .adaptive import batch_mean_p
from .api import token_logp
from .core import Terms, apply, resolve

DEFAULT_CHUNK = 512


def _chunks(n, size):
    return [(s, min(s + size, n)) for s in range(0, n, size)]


def _logits(h, weight):
    z = h @ weight.T
    return z if z.dtype == torch.float64 else z.float()


class _LinearLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, labels, obj, params, ignore_index, num_items, chunk_size):
        n_tok = hidden.shape[0]
        valid = labels != ignore_index
        y = torch.where(valid, labels, torch.zeros_like(labels))
        extra = {}
        if "batch_p_mean" in inspect.signature(obj.fn).parameters:  # cayley: the batch mean of p first
            logp = torch.cat([token_logp(_logits(hidden[s:e], weight), y[s:e]) for s, e in _chunks(n_tok, chunk_size)])
            extra["batch_p_mean"] = batch_mean_p(logp, valid)
        acc = torch.float64 if hidden.dtype == torch.float64 else torch.float32
        grad_h = torch.empty(hidden.shape, dtype=acc, device=hidden.device)
        # A frozen head (LoRA, partial fine-tuning) needs no [V, H] gradient: at 128k x 4096 that is 2 GiB.
        need_w = ctx.needs_input_grad[1]
        grad_w = torch.zeros(weight.shape if need_w else (0,), dtype=acc, device=weight.device)
        out = {k: torch.zeros(n_tok, dtype=acc, device=hidden.device) for k in ("loss", "gate", "logp", "a")}
        keep = torch.zeros(n_tok, dtype=torch.bool, device=hidden.device)
        has_a = False
        for s, e in _chunks(n_tok, chunk_size):
            h = hidden[s:e]
            z = _logits(h, weight)
            lse = torch.logsumexp(z, dim=-1)
            logp = token_logp(z, y[s:e], lse)
            t = apply(obj, z, logp, valid[s:e], lse, params, **extra)
            out["loss"][s:e], out["gate"][s:e], out["logp"][s:e] = t.loss, t.gate, logp
            keep[s:e] = t.keep
            if t.a is not None:
                has_a = True
                out["a"][s:e] = t.a
            # G = gate * (softmax(z) - onehot(y)), built in the logits buffer
            g = z.sub_(lse[:, None]).exp_().mul_(t.gate[:, None])
            g[torch.arange(e - s, device=g.device), y[s:e]] -= t.gate
            grad_h[s:e] = g.to(weight.dtype) @ weight if weight.dtype != acc else g @ weight
            if need_w:
                grad_w.addmm_(g.T, h.to(acc))
            del z, g
        n = keep.sum().clamp(min=1).to(acc) if num_items is None else torch.as_tensor(num_items, dtype=acc)
        ctx.save_for_backward(grad_h.div_(n).to(hidden.dtype), grad_w.div_(n).to(weight.dtype))
        loss = out["loss"].sum() / n
        extras = (out["loss"], out["gate"], keep, out["a"] if has_a else torch.empty(0), out["logp"])
        ctx.mark_non_differentiable(*extras)
        return (loss, *extras)

    @staticmethod
    def backward(ctx, grad_loss, *unused):
        grad_h, grad_w = ctx.saved_tensors
        grad_w = grad_w * grad_loss if ctx.needs_input_grad[1] else None
        return grad_h * grad_loss, grad_w, None, None, None, None, None, None


def linear_terms(objective: str, hidden, weight, labels, *, ignore_index: int = -100, num_items=None,
                 chunk_size: int = DEFAULT_CHUNK, **params) -> tuple[torch.Tensor, Terms]:
    """(scalar loss, detached per-token Terms) of ``objective`` on ``hidden @ weight.T``."""
    obj, merged = resolve(objective, params)
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size} is not allowed; it must be an integer >= 1")
    if hidden.shape[:-1] != labels.shape or hidden.shape[-1] != weight.shape[-1]:
        raise ValueError(f"hidden {tuple(hidden.shape)}, weight {tuple(weight.shape)} and labels "
                         f"{tuple(labels.shape)} disagree; expected [..., H], [V, H] and [...]")
    h = hidden.reshape(-1, hidden.shape[-1])
    y = labels.reshape(-1)
    loss, per_tok, gate, keep, a, logp = _LinearLoss.apply(h, weight, y, obj, merged, ignore_index, num_items,
                                                           chunk_size)
    return loss, Terms(per_tok, gate, keep, a if a.numel() else None, logp)


def linear_loss(objective: str, hidden, weight, labels, *, ignore_index: int = -100, num_items=None,
                chunk_size: int = DEFAULT_CHUNK, **params) -> torch.Tensor:
    """Scalar loss equal to ``loss(objective, hidden @ weight.T, labels, ...)``, chunked over tokens."""
    return linear_terms(objective, hidden, weight, labels, ignore_index=ignore_index, num_items=num_items,
                        chunk_size=chunk_size, **params)[0]
