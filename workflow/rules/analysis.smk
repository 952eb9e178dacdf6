# Token-level analyses. Confident conflicts: the noisy training data under the model before
# fine-tuning. Gradient maps: held-out test examples before and after (written by the evaluate jobs).
# Forgetting: each backbone's reference set (its own greedy answers to another domain's prompts).


# They read models: not defined for `snakemake figures` (common.smk FROM_CACHE).
if not FROM_CACHE:

    rule reference_set:
        input:
            model="results/backbones/{backbone}",
            test=lambda wc: f"results/data/domain={dc.reference_domain(config, wc.backbone)}/test.jsonl",
        output:
            "results/reference/backbone={backbone}/reference.jsonl",
        params:
            n_examples=ANALYSIS_EXAMPLES,
            max_new_tokens=config.get("analysis", {}).get("reference_max_new_tokens", 32),
        threads: 1
        log:
            "results/logs/reference_set/{backbone}.log",
        benchmark:
            "results/benchmarks/reference_set/{backbone}.tsv"
        resources:
            mem_mb=4000,
            gpu=ANALYSIS_GPUS,
            disk_mb=lambda wc: dc.disk_mb(config, wc.backbone, "analysis"),
        conda:
            TRAIN_ENV
        script:
            "../scripts/reference_set.py"


    rule token_stats:
        input:
            model="results/backbones/{backbone}",
            train="results/data/domain={domain}/noise={noise}/seed=0/train.jsonl",
            audit="results/data/domain={domain}/noise={noise}/seed=0/audit.json",
        output:
            "results/analysis/backbone={backbone}/domain={domain}/noise={noise}/token_stats.csv",
        params:
            objectives=lambda wc: {o: dc.objective_params(config, o) for o in config["grid"]["objectives"]},
            identity=lambda wc: {"regime": dc.regime_of(config, wc.backbone, wc.domain), "backbone": wc.backbone,
                                 "domain": wc.domain, "noise": wc.noise},
            n_examples=ANALYSIS_EXAMPLES,
            wrapper=lambda wc: dc.train_settings(config, wc.backbone, wc.domain).get("prompt_wrapper"),
            encoding=lambda wc: dc.train_settings(config, wc.backbone, wc.domain).get("encoding", "suite"),
        threads: 1
        log:
            "results/logs/token_stats/{backbone}/{domain}/{noise}.log",
        resources:
            mem_mb=6000,
            gpu=ANALYSIS_GPUS,
            disk_mb=lambda wc: dc.disk_mb(config, wc.backbone, "analysis"),
        conda:
            TRAIN_ENV
        script:
            "../scripts/token_stats.py"


rule collect_token_stats:
    input:
        analysis_paths(),
    output:
        "results/tables/token_stats.csv",
    log:
        "results/logs/collect_token_stats.log",
    conda:
        ENV
    script:
        "../scripts/collect_token_stats.py"


rule gradient_maps_figure:
    input:
        "results/tables/heldout_tokens.csv",
    output:
        png=report("results/figures/gradient_maps.png", caption="../report/gradient_maps.rst", category=FIGURES),
        pdf="results/figures/gradient_maps.pdf",
    log:
        "results/logs/figures/gradient_maps.log",
    conda:
        ENV
    script:
        "../../paper_figures/gradient_maps.py"


rule confident_conflicts_figure:
    input:
        "results/tables/token_stats.csv",
    output:
        png=report("results/figures/confident_conflicts.png", caption="../report/confident_conflicts.rst",
                   category=FIGURES),
        pdf="results/figures/confident_conflicts.pdf",
        table=report("results/tables/confident_conflicts.csv", caption="../report/confident_conflicts_table.rst",
                     category=TABLES),
    log:
        "results/logs/figures/confident_conflicts.log",
    conda:
        ENV
    script:
        "../../paper_figures/confident_conflicts.py"
