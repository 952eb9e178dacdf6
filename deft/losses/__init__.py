"""The SFT objective family: nll, neg_p, neg_p_pow, only_{top,bottom}_{p,logp}, dft, eaft, cayley, deft.

Every objective's logit gradient is ``gate * (softmax(z) - onehot(y))``; see ``core`` for the two
primitives they are built from and each module's docstring for the formulas.
"""
from types import MappingProxyType

from . import adaptive, deformed, thresholded, weighted  # noqa: F401  (register the objectives)
from .api import gate, loss, per_token, reduce, terms, token_logp, version
from .core import REGISTRY, Terms, resolve
from .linear import linear_loss, linear_terms

#: the canonical order of objectives in configs, tables and figures
ORDER = ("nll", "neg_p", "neg_p_pow", "only_top_p", "only_bottom_p", "only_top_logp", "only_bottom_logp", "dft",
         "eaft", "cayley", "deft")
assert set(ORDER) == set(REGISTRY), "a new objective needs its place in ORDER"

#: objective name -> default parameters (read-only), in canonical order
OBJECTIVES = MappingProxyType({name: MappingProxyType(dict(REGISTRY[name].defaults)) for name in ORDER})

__all__ = ["OBJECTIVES", "ORDER", "Terms", "gate", "linear_loss", "linear_terms", "loss", "per_token", "reduce", "resolve",
           "terms", "token_logp", "version"]
