"""Adapter: rule add_noise -> deft.data.noise.make_noisy."""
from deft.data.noise import make_noisy
from deft.logs import to_log

sm = snakemake  # noqa: F821
kind, rate = sm.params.noise
with to_log(sm.log[0]):
    make_noisy(sm.input[0], kind, rate, int(sm.wildcards.seed), sm.output.train, sm.output.audit,
               sample=sm.params.sample)
