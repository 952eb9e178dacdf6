"""The SFT objective family: nll, neg_p, neg_p_pow, only_{top,bottom}_{p,logp}, dft, eaft, cayley, deft.

Every objective's logit gradient is ``gate * (softmax(z) - onehot(y))``; see ``core`` for the two
primitives they are built from and each module's docstring for the formulas.
"""
from types import MappingProxyType

from . import adaptive, deformed, thresholded, weighted  # noqa: F401  (register the objectives)
from .api import gate, loss, per_token, reduce, terms, token_logp, version
from .core import REGISTRY, Terms, resolve
from .linear import linear_loss, linear_terms

#: objective name -> default parameters (read-only)
OBJECTIVES = MappingProxyType({name: MappingProxyType(dict(o.defaults)) for name, o in REGISTRY.items()})

__all__ = ["OBJECTIVES", "Terms", "gate", "linear_loss", "linear_terms", "loss", "per_token", "reduce", "resolve",
           "terms", "token_logp", "version"]
