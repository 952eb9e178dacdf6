"""Adapter: rule token_stats -> deft.eval.analysis.token_stats_stage."""
from deft.eval.analysis import token_stats_stage
from deft.logs import to_log

sm = snakemake  # noqa: F821
with to_log(sm.log[0], sm.threads):
    token_stats_stage(sm.input.model, sm.input.train, sm.input.audit, dict(sm.params.objectives),
                      sm.params.n_examples, sm.output[0], dict(sm.params.identity), sm.params.wrapper,
                      sm.params.encoding)
