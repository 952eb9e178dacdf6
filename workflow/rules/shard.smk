# launch.shard: every run of one (backbone, domain, seed) - all objectives x noise settings - trained
# and evaluated in one process, one job per shard on one core. The files are those of rules train and
# evaluate (which this replaces), so aggregation and analyses are the same; only the start-up of
# Python, torch, transformers and lm-eval is paid once per shard instead of twice per run. One rule per
# (backbone, domain) cell and group of seeds holding the same runs (shard_groups), since Snakemake
# outputs must be patterns: a cell's noise rates may differ, and a contrast's further seeds hold only its
# cells. The first group keeps the name train_evaluate_shard_<cell>, the next ones add _<group>.


for (_cell, (_backbone, _domain)), (_group, (_seeds, _runs)) in (
    (c, g) for c in enumerate(base_cells()) for g in enumerate(shard_groups(*c[1]))
):

    rule:
        name:
            f"train_evaluate_shard_{_cell}" + (f"_{_group}" if _group else "")
        wildcard_constraints:
            seed="|".join(str(s) for s in _seeds),
        input:
            unpack(shard_inputs(_backbone, _domain)),
        output:
            logs=shard_outputs(_backbone, _domain, "train_log.jsonl", _runs),
            summaries=shard_outputs(_backbone, _domain, "train.json", _runs),
            records=shard_outputs(_backbone, _domain, "record.json", _runs),
            samples=shard_outputs(_backbone, _domain, "samples.jsonl", _runs),
            tokens=shard_outputs(_backbone, _domain, "tokens.csv", _runs),
        params:
            runs=shard_runs(_backbone, _domain),
            n_analysis=ANALYSIS_EXAMPLES,
            reference_domain=dc.reference_domain(config, _backbone),
        threads: 1
        log:
            f"results/logs/shards/backbone={_backbone}/domain={_domain}/" + "seed={seed}.log",
        benchmark:
            f"results/benchmarks/shards/backbone={_backbone}/domain={_domain}/" + "seed={seed}.tsv"
        resources:
            mem_mb=8000,
            runtime=120,
        conda:
            ENV
        script:
            "../scripts/train_evaluate_shard.py"
