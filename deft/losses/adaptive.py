"""Deformed logs whose exponent a is set per token (detached) from the model's own prediction.

* ``deft`` (Dynamic Entropy Fine-Tuning, arXiv 2602.11424):
      a = sg(sum_v pi_v^2) = exp(-H_2(pi))   (Renyi-2 collision probability, in [1/V, 1])
      L = (1 - p^a)/a,   gate p^a
  Diffuse predictions (a -> 1/V) learn like NLL; concentrated ones (a -> 1) like -p; a confident
  conflict (mass on another token, p small, a large) gets a small gate. ``lse`` (logsumexp of z)
  lets a caller that has it skip recomputing it.
* ``cayley`` (Cayley-transform trajectory, the paper's baseline):
      f = 0.5 * mean of sg(p) over the counted tokens of the batch
      a = clamp(f + (1 - f) p / (2 - p), 0.001, 1),   L = (1 - p^a)/a,   gate p^a
  ``batch_p_mean`` lets a chunked caller supply the batch mean computed in a first pass.
"""
import torch

from .core import deformed_terms, log_collision, objective


@objective("deft")
def deft(z, logp, valid, lse=None):
    a = log_collision(z.detach(), lse).exp().clamp(max=1.0)
    return deformed_terms(logp, a, valid)


def cayley_exponent(p: torch.Tensor, p_mean: torch.Tensor | float) -> torch.Tensor:
    f = 0.5 * p_mean
    return (f + (1 - f) * p / (2 - p)).clamp(0.001, 1.0)


def batch_mean_p(logp: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    p = logp.detach().exp()
    return (p * valid).sum() / valid.sum().clamp(min=1)


@objective("cayley")
def cayley(z, logp, valid, batch_p_mean=None):
    p = logp.detach().exp()
    p_mean = batch_mean_p(logp, valid) if batch_p_mean is None else batch_p_mean
    return deformed_terms(logp, cayley_exponent(p, p_mean), valid)
