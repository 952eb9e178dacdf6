"""Adapter: rule report -> deft.report.markdown.build."""
from pathlib import Path

from deft.logs import to_log
from deft.report.markdown import build

sm = snakemake  # noqa: F821
with to_log(sm.log[0]):
    build(Path(sm.input[0]).parent, "results/figures", dict(sm.params.config), sm.output[0])
