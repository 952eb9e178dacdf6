# Token-level analyses under the models before fine-tuning: gradient maps and confident conflicts.


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
        n_examples=config.get("analysis", {}).get("examples", 64),
    threads: 1
    log:
        "results/logs/token_stats/{backbone}/{domain}/{noise}.log",
    resources:
        mem_mb=6000,
    conda:
        ENV
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


rule analysis_figures:
    input:
        "results/tables/token_stats.csv",
    output:
        maps="results/figures/gradient_maps.png",
        maps_pdf="results/figures/gradient_maps.pdf",
        conflicts="results/figures/confident_conflicts.png",
        conflicts_pdf="results/figures/confident_conflicts.pdf",
        table="results/tables/confident_conflicts.csv",
    log:
        "results/logs/figures/analysis.log",
    conda:
        ENV
    script:
        "../../paper_figures/token_analyses.py"
