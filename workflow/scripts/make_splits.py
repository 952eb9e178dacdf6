"""Adapter: rule make_splits -> deft.data.splits.make."""
from pathlib import Path

from deft.data.splits import make
from deft.logs import to_log

sm = snakemake  # noqa: F821
with to_log(sm.log[0]):
    make(sm.wildcards.domain, dict(sm.params.domain_params), dict(sm.params.sizes), sm.params.seed,
         Path(sm.output.manifest).parent, sm.params.prompt_format)
