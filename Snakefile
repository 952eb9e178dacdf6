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


# `snakemake figures` alone: no rule that trains or evaluates exists, so the run records already
# under results/ (on a fresh clone, the shipped study's) are read as they are (common.smk).
if not FROM_CACHE:

    include: "workflow/rules/backbones.smk"
    include: "workflow/rules/data.smk"

    if SHARD:

        include: "workflow/rules/shard.smk"

    else:

        include: "workflow/rules/train.smk"

    include: "workflow/rules/evaluate.smk"


include: "workflow/rules/analysis.smk"
include: "workflow/rules/aggregate.smk"


# The study: its backbones (built on this machine, so that records checked out with the repository,
# older than them, are recomputed: `make reproduce` writes over the shipped ones), every cached
# file of the grid, the tables, figures and report.
rule all:
    input:
        STUDY_BACKBONES,
        cached_files(),
        rules.aggregate.output,
        rules.report.input,
        rules.report.output,
    default_target: True


# The grid's cached files and no tables, for one cell: `snakemake --cores 2 records --config
# 'grid={"regimes": ["strong"]}'` (the target first: --config takes every word after it; the grid is
# merged key by key). Then `snakemake --cores 2 figures` rebuilds the full tables from every record.
rule records:
    input:
        STUDY_BACKBONES,
        cached_files(),
