"""Adapter: rule build_prior -> deft.train.prior.build."""
from deft.eval.scoring import score
from deft.logs import to_log
from deft.train.prior import build

sm = snakemake  # noqa: F821
with to_log(sm.log[0], sm.threads):
    build(sm.input.model, sm.input.prior, sm.input.stop, sm.input.dev, sm.output.model, sm.output.log, sm.output.summary,
          sm.params.prior, score)
