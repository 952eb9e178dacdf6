"""An objective of your own in the benchmark: focal-style fine-tuning.

    L = -sg((1 - p)^gamma) log p          gate (1 - p)^gamma

Like DEFT it damps tokens the model already predicts well; unlike DEFT the gate depends only on
p of the target, not on how concentrated the whole prediction is, so a confident conflict (p of
the noisy target small) gets the full NLL push. Name this file in a config to train with it:

    plugins: [examples/focal_objective.py]
    grid: {objectives: [nll, deft, focal], ...}

(`snakemake --cores 2 --configfile config/tiny.yaml examples/tiny-plugin.yaml` runs it end to end.)
"""
from deft.losses import objective, weighted_terms


def _positive(x):
    return x >= 0


@objective("focal", version=1, gamma=2.0, validators={"gamma": (_positive, "a number >= 0")})
def focal(z, logp, valid, gamma):
    """z [N, V] fp32 logits, logp [N] log p_y (differentiable), valid [N] counted tokens."""
    p = logp.detach().exp()
    return weighted_terms(logp, (1 - p).pow(gamma), valid)
