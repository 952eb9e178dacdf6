"""NLL with a detached per-token weight.

* ``dft``  (Dynamic Fine-Tuning, Wu et al. 2025, arXiv 2508.05629):
      L = -sg(p) log p                       gate p
  Same gradient as ``neg_p``; different value.
* ``eaft`` (entropy-adaptive fine-tuning):
      L = -sg((H_k / ln k)^alpha) log p       gate (H_k / ln k)^alpha
  H_k = entropy of the softmax renormalised over the top-k logits (default k = 20, alpha = 1):
  confident predictions (low top-k entropy) get small updates whatever the target is.
"""
from .core import (
    integer_at_least_2,
    non_negative,
    objective,
    topk_normalised_entropy,
    weighted_terms,
)


@objective("dft")
def dft(z, logp, valid):
    return weighted_terms(logp, logp.detach().exp(), valid)


@objective(
    "eaft",
    alpha=1.0,
    k=20,
    validators={"alpha": (non_negative, "a finite number >= 0"), "k": (integer_at_least_2, "an integer >= 2")},
)
def eaft(z, logp, valid, alpha, k):
    h = topk_normalised_entropy(z.detach(), k).clamp(0, 1)
    return weighted_terms(logp, h.pow(alpha), valid)
