"""Adapter: rule collect_token_stats -> deft.eval.analysis.collect_token_stats."""
from deft.eval.analysis import collect_token_stats
from deft.logs import to_log

sm = snakemake  # noqa: F821
with to_log(sm.log[0]):
    collect_token_stats(list(sm.input), sm.output[0])
