"""Adapter: rule prepare_backbone -> deft.backbones.prepare."""
from deft.backbones import prepare
from deft.logs import to_log

with to_log(snakemake.log[0]):  # noqa: F821
    prepare(snakemake.params.spec, snakemake.output[0])  # noqa: F821
