"""Adapter: rule prepare_backbone -> deft.train.backbones.prepare."""
from deft.logs import to_log
from deft.train.backbones import prepare

with to_log(snakemake.log[0]):  # noqa: F821
    prepare(snakemake.params.spec, snakemake.output[0])  # noqa: F821
