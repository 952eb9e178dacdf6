"""The deformed-log family with a fixed exponent (Tsallis / power losses).

    L_a(p) = (1 - p^a) / a,        dL/dz = p^a (pi - e_y)

* ``nll``        a = 0:  -log p,        gate 1     (standard SFT)
* ``neg_p``      a = 1:  1 - p,         gate p     (linear probability loss, "-p")
* ``neg_p_pow``  a = k:  (1 - p^k)/k,   gate p^k   ("-p^k", default k = 10)

Source: DEFT paper, arXiv 2602.11424, Sec. 3 (the deformed-log family interpolating NLL and -p).
"""
from .core import deformed_terms, objective, positive


@objective("nll")
def nll(z, logp, valid):
    return deformed_terms(logp, 0.0, valid)


@objective("neg_p")
def neg_p(z, logp, valid):
    return deformed_terms(logp, 1.0, valid)


@objective("neg_p_pow", k=10.0, validators={"k": (positive, "a finite number > 0")})
def neg_p_pow(z, logp, valid, k):
    return deformed_terms(logp, float(k), valid)
