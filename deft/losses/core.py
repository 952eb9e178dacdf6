"""Shared core of the objective family: token statistics, the deformed logarithm, the registry.

Every objective in this package is a per-token loss whose logit gradient has the form

    dL/dz = w * (softmax(z) - onehot(y)),

with a detached gate ``w``. Two primitives produce all of them:

* ``deformed_log(logp, a)`` = (1 - p^a) / a with ``a`` detached: gate p^a.
  a = 0 is NLL, a = 1 is 1 - p. Written as -expm1(a log p) / a, which is exact as a -> 0 and
  needs no epsilon (an epsilon such as the reference code's ``+1e-6`` biases the gate).
* ``weighted_nll(logp, w)`` = -sg(w) log p: gate w.

An objective is one function ``fn(z, logp, valid, **params) -> Terms`` registered with
``@objective(name, **defaults)``; parameters are checked by validators declared beside it.

Shapes: ``z`` [N, V] fp32 logits, ``logp`` [N] log p_y (fp32, differentiable), ``valid`` [N] bool.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass
class Terms:
    """Per-token output of an objective, all of shape [N].

    loss: differentiable per-token loss (0 where not kept).
    gate: detached w with dL/dz = w (pi - e_y) (0 where not kept).
    keep: bool mask of tokens counted in the loss and in the normaliser.
    a:    detached deformation exponent (deft, cayley, neg_p_pow); None otherwise.
    logp: detached log p_y of every position (set by the callers in ``api``/``linear``).
    """

    loss: torch.Tensor
    gate: torch.Tensor
    keep: torch.Tensor
    a: torch.Tensor | None = None
    logp: torch.Tensor | None = None


@dataclass(frozen=True)
class Objective:
    name: str
    fn: Callable[..., Terms]
    defaults: dict
    validators: dict  # param name -> (predicate, description of allowed values)
    version: int  # bumped when the objective's math or numerics change (recorded in run records)
    module: str = ""  # the module that registered it (a plugin's, for built-ins deft.losses.*)


REGISTRY: dict[str, Objective] = {}


def objective(name: str, *, version: int = 1, validators: dict | None = None, **defaults):
    """Register ``fn(z, logp, valid, **params) -> Terms`` as objective ``name``, with default
    parameters ``defaults`` and ``validators`` {param: (predicate, description of allowed values)}.
    The public way to add an objective (built-ins and plugins alike, ``deft.losses.plugins``);
    bump ``version`` when its math changes (run records carry it)."""

    def register(fn):
        old = REGISTRY.get(name)
        if old is not None and old.module != fn.__module__:
            raise ValueError(f"objective {name!r} is already registered by {old.module}; "
                             f"{fn.__module__} must choose another name")
        REGISTRY[name] = Objective(name, fn, dict(defaults), dict(validators or {}), version, fn.__module__)
        return fn

    return register


def apply(obj: Objective, z, logp, valid, lse, params: dict, **extra) -> Terms:
    """Call ``obj`` on one set of tokens, handing it logsumexp(z) when it can reuse it (deft)."""
    if "lse" in inspect.signature(obj.fn).parameters:
        extra["lse"] = lse
    return obj.fn(z, logp, valid, **params, **extra)


def resolve(name: str, params: dict) -> tuple[Objective, dict]:
    """Look up an objective and merge/validate its parameters; ValueError names what is allowed."""
    if name not in REGISTRY:
        raise ValueError(f"unknown objective {name!r}; allowed: {sorted(REGISTRY)}")
    obj = REGISTRY[name]
    unknown = set(params) - set(obj.defaults)
    if unknown:
        allowed = sorted(obj.defaults) or "none"
        raise ValueError(f"objective {name!r} got unknown parameter(s) {sorted(unknown)}; allowed: {allowed}")
    merged = {**obj.defaults, **params}
    for key, (ok, allowed) in obj.validators.items():
        value = merged[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
            raise ValueError(f"objective {name!r}: {key}={value!r} is not allowed; {key} must be {allowed}")
    return obj, merged


# ---- the two primitives --------------------------------------------------------------------

def deformed_log(logp: torch.Tensor, a: torch.Tensor | float) -> torch.Tensor:
    """(1 - p^a)/a for detached a >= 0, computed as -expm1(a log p)/a; equals -log p at a = 0."""
    a = torch.as_tensor(a, dtype=logp.dtype, device=logp.device).detach()
    safe_a = torch.where(a > 0, a, torch.ones_like(a))
    return torch.where(a > 0, -torch.expm1(safe_a * logp) / safe_a, -logp)


def deformed_gate(logp: torch.Tensor, a: torch.Tensor | float) -> torch.Tensor:
    """Gate of ``deformed_log``: d/dlogp of -(1 - p^a)/a is -p^a, so w = p^a (= 1 at a = 0)."""
    return torch.exp(torch.as_tensor(a, dtype=logp.dtype, device=logp.device) * logp.detach())


def weighted_nll(logp: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """-sg(w) log p: an NLL whose gradient is scaled by the detached weight w."""
    return -w.detach() * logp


def deformed_terms(logp, a, keep) -> Terms:
    """Terms of the deformed log with exponent ``a`` on the ``keep`` tokens."""
    loss = torch.where(keep, deformed_log(logp, a), torch.zeros_like(logp))
    gate = torch.where(keep, deformed_gate(logp, a), torch.zeros_like(logp)).detach()
    a_t = torch.as_tensor(a, dtype=logp.dtype, device=logp.device).detach()
    return Terms(loss, gate, keep, a_t.expand_as(logp) if a_t.dim() == 0 else a_t)


def weighted_terms(logp, w, keep) -> Terms:
    """Terms of -sg(w) log p on the ``keep`` tokens."""
    w = w.detach()
    loss = torch.where(keep, weighted_nll(logp, w), torch.zeros_like(logp))
    gate = torch.where(keep, w, torch.zeros_like(w))
    return Terms(loss, gate, keep)


# ---- token statistics shared by several objectives -----------------------------------------

def log_collision(z: torch.Tensor, lse: torch.Tensor | None = None) -> torch.Tensor:
    """log sum_v pi_v^2 = logsumexp(2z) - 2 logsumexp(z): the negative Renyi-2 entropy, no underflow.
    ``lse`` = logsumexp(z) when the caller has it already (saves a pass over the vocabulary)."""
    lse = torch.logsumexp(z, dim=-1) if lse is None else lse
    return torch.logsumexp(2 * z, dim=-1) - 2 * lse


def topk_normalised_entropy(z: torch.Tensor, k: int) -> torch.Tensor:
    """Entropy of softmax over the top-k logits divided by ln k (in [0, 1])."""
    k = min(int(k), z.shape[-1])
    if k < 2:
        return torch.zeros(z.shape[:-1], dtype=z.dtype, device=z.device)
    top = torch.topk(z, k, dim=-1).values
    logq = torch.log_softmax(top, dim=-1)
    return -(logq.exp() * logq).sum(-1) / math.log(k)


def positive(x) -> bool:
    return x > 0 and math.isfinite(x)


def unit_interval(x) -> bool:
    return 0 <= x <= 1


def non_negative(x) -> bool:
    return x >= 0 and math.isfinite(x)


def integer_at_least_2(x) -> bool:
    return float(x).is_integer() and x >= 2
