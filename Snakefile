# deft-repro: data (+ label noise) -> fine-tuning -> lm-eval -> tables and figures.
# `snakemake --cores 2` runs the embedded default (config/config.yaml); see README.
from snakemake.utils import min_version, validate

min_version("9.0")


# The embedded default, unless --configfile names another study: Snakemake would otherwise merge
# the two (the paper grid would inherit the embedded backbones, domains and sizes).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"



validate(config, "workflow/schemas/config.schema.yaml")


# `snakemake --report results/report.html`: self-contained HTML of the outputs marked report().
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/backbones.smk"
include: "workflow/rules/data.smk"
if SHARD:

    include: "workflow/rules/shard.smk"

else:

    include: "workflow/rules/train.smk"

include: "workflow/rules/evaluate.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/aggregate.smk"


rule all:
    input:
        rules.aggregate.output,
        rules.report.input,
        rules.report.output,
    default_target: True
