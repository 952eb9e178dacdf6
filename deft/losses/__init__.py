"""The SFT objective family: nll, neg_p, neg_p_pow, only_{top,bottom}_{p,logp}, dft, eaft, cayley, deft.

Every objective's logit gradient is ``gate * (softmax(z) - onehot(y))``; see ``core`` for the two
primitives they are built from and each module's docstring for the formulas. Objectives of your
own register with the same decorator, ``objective``, in a module of yours (``plugins``).
"""
from collections.abc import Mapping
from types import MappingProxyType

from . import adaptive, deformed, plugins, thresholded, weighted  # noqa: F401  (register the objectives)
from .api import gate, loss, per_token, reduce, terms, token_logp, version
from .core import REGISTRY, Terms, deformed_terms, objective, resolve, weighted_terms
from .linear import linear_loss, linear_terms

#: the canonical order of the built-in objectives in configs, tables and figures
ORDER = ("nll", "neg_p", "neg_p_pow", "only_top_p", "only_bottom_p", "only_top_logp", "only_bottom_logp", "dft",
         "eaft", "cayley", "deft")
assert set(ORDER) <= set(REGISTRY) and len(REGISTRY) == len(ORDER), "a new built-in objective needs its place in ORDER"


def order() -> tuple[str, ...]:
    """Every registered objective in canonical order: the built-ins (ORDER), then plugins' in the
    order they were registered (config order, then definition order within a module)."""
    return ORDER + tuple(n for n in REGISTRY if n not in ORDER)


class _Objectives(Mapping):
    """objective name -> default parameters (read-only), in canonical order, plugins included."""

    def __getitem__(self, name):
        return MappingProxyType(dict(REGISTRY[name].defaults))

    def __iter__(self):
        return iter(order())

    def __len__(self):
        return len(REGISTRY)


OBJECTIVES = _Objectives()

plugins.load_from_env()  # objectives a parent process (the pipeline) registered from plugins

__all__ = ["OBJECTIVES", "ORDER", "Terms", "deformed_terms", "gate", "linear_loss", "linear_terms", "loss", "objective",
           "order", "per_token", "plugins", "reduce", "resolve", "terms", "token_logp", "version", "weighted_terms"]
