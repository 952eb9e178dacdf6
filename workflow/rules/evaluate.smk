# lm-eval on the domain's test split: one run record per fine-tuned model, one per base model.
# Each also writes the token statistics of the first test examples (gradient maps before/after) and
# its hits on the clean reference set (forgetting), so that no analysis needs the temporary models.


if not SHARD:  # launch.shard: rule train_evaluate_shard writes these files

    rule evaluate:
        input:
            model=run_file("model"),
            test="results/data/domain={domain}/test.jsonl",
            summary=run_file("train.json"),
            audit="results/data/domain={domain}/noise={noise}/seed={seed}/audit.json",
            base=base_file("record.json"),
            reference=reference_test,
        output:
            record=run_file("record.json"),
            samples=run_file("samples.jsonl"),
            tokens=run_file("tokens.csv"),
        params:
            identity=lambda wc: identity(wc),
            token_objectives=lambda wc: {wc.objective: dc.objective_params(config, wc.objective)},
            n_analysis=ANALYSIS_EXAMPLES,
            reference_domain=lambda wc: dc.reference_domain(config, wc.backbone),
            config_slice=run_config,
            eval_cfg=eval_settings,
        threads: 1
        log:
            run_file("evaluate.log", root="results/logs"),
        benchmark:
            run_file("evaluate.tsv", root="results/benchmarks")
        resources:
            mem_mb=6000,
            runtime=60,
            gpu=EVAL_GPUS,
            disk_mb=lambda wc: dc.disk_mb(config, wc.backbone, "evaluate"),
        conda:
            EVAL_ENV
        script:
            "../scripts/evaluate.py"


rule evaluate_base:
    input:
        model="results/backbones/{backbone}",
        test="results/data/domain={domain}/test.jsonl",
        reference=reference_test,
        prior=prior_summary,
    output:
        record=base_file("record.json"),
        samples=base_file("samples.jsonl"),
        tokens=base_file("tokens.csv"),
    params:
        identity=lambda wc: identity(wc, objective="base"),
        regime_bands=config.get("regime_checks", {}),
        token_objectives={o: dc.objective_params(config, o) for o in config["grid"]["objectives"]},
        n_analysis=ANALYSIS_EXAMPLES,
        reference_domain=lambda wc: dc.reference_domain(config, wc.backbone),
        config_slice=run_config,
        eval_cfg=eval_settings,
    threads: 1
    log:
        base_file("evaluate.log", root="results/logs/base"),
    benchmark:
        base_file("evaluate.tsv", root="results/benchmarks/base")
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=EVAL_GPUS,
        disk_mb=lambda wc: dc.disk_mb(config, wc.backbone, "evaluate"),
    conda:
        EVAL_ENV
    script:
        "../scripts/evaluate.py"
