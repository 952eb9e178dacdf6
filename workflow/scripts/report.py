"""Adapter: rule report -> deft.report.build."""
from pathlib import Path

from deft.logs import to_log
from deft.report import build

sm = snakemake  # noqa: F821
with to_log(sm.log[0]):
    build(Path(sm.input[0]).parent, "results/figures", dict(sm.params.config), sm.output[0])
