"""Adapter: rule train -> deft.train.train (summary written beside the log)."""
from deft.io import write_json_atomic
from deft.logs import to_log
from deft.train import train

sm = snakemake  # noqa: F821
with to_log(sm.log[0], sm.threads):
    summary = train(sm.input.model, sm.input.data, sm.output.model, sm.output.log, dict(sm.params.settings))
    write_json_atomic(sm.output.summary, summary)
