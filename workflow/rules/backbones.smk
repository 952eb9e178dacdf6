# Backbones as plain safetensors folders under results/backbones/.


rule prepare_backbone:
    output:
        directory("results/backbones/{backbone}"),
    wildcard_constraints:
        backbone="|".join(map(re.escape, prepare_backbone_names())) or "(?!)",
    params:
        spec=lambda wc: config["backbones"][wc.backbone],
    log:
        "results/logs/prepare_backbone/{backbone}.log",
    resources:
        mem_mb=4000,
        disk_mb=lambda wc: dc.disk_mb(config, wc.backbone, "prepare_backbone"),  # Hub download + bf16 copy
    conda:
        ENV
    script:
        "../scripts/prepare_backbone.py"


rule build_prior:
    input:
        unpack(prior_input),
    output:
        model=directory("results/backbones/{backbone}"),
        summary="results/priors/{backbone}/summary.json",
        log="results/priors/{backbone}/train_log.jsonl",
    wildcard_constraints:
        backbone="|".join(map(re.escape, [n for n in BACKBONE_NAMES if n not in prepare_backbone_names()])) or "(?!)",
    params:
        prior=lambda wc: dc.prior_settings(config, wc.backbone),
    threads: 2
    priority: 10  # on the critical path of every model-strong run
    log:
        "results/logs/build_prior/{backbone}.log",
    benchmark:
        "results/benchmarks/build_prior/{backbone}.tsv"
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        ENV
    script:
        "../scripts/build_prior.py"
