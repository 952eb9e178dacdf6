"""Probability-thresholded objectives: train only on tokens the model already finds likely (top)
or unlikely (bottom).

* ``only_top_p``       1 - p  on tokens with p >= tau   gate p
* ``only_bottom_p``    1 - p  on tokens with p <= tau   gate p
* ``only_top_logp``    -log p on tokens with p >= tau   gate 1
* ``only_bottom_logp`` -log p on tokens with p <= tau   gate 1

Excluded tokens leave both the loss and the token count (the normaliser), so the loss is a mean
over the kept tokens. Source: DEFT paper, arXiv 2602.11424 (thresholded ablations).
"""
from .core import deformed_terms, objective, unit_interval

TAU = {"tau": (unit_interval, "a number in [0, 1]")}


def _mask(logp, valid, tau, top):
    p = logp.detach().exp()
    return valid & (p >= tau if top else p <= tau)


@objective("only_top_p", tau=0.5, validators=TAU)
def only_top_p(z, logp, valid, tau):
    return deformed_terms(logp, 1.0, _mask(logp, valid, tau, top=True))


@objective("only_bottom_p", tau=0.5, validators=TAU)
def only_bottom_p(z, logp, valid, tau):
    return deformed_terms(logp, 1.0, _mask(logp, valid, tau, top=False))


@objective("only_top_logp", tau=0.5, validators=TAU)
def only_top_logp(z, logp, valid, tau):
    return deformed_terms(logp, 0.0, _mask(logp, valid, tau, top=True))


@objective("only_bottom_logp", tau=0.5, validators=TAU)
def only_bottom_logp(z, logp, valid, tau):
    return deformed_terms(logp, 0.0, _mask(logp, valid, tau, top=False))

