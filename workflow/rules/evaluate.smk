# lm-eval on the domain's test split: one run record per fine-tuned model, one per base model.


rule evaluate:
    input:
        model=RUN_DIR + "/model",
        test="results/data/domain={domain}/test.jsonl",
        summary=RUN_DIR + "/train.json",
        audit="results/data/domain={domain}/noise={noise}/seed={seed}/audit.json",
        base=BASE_DIR + "/record.json",
    output:
        record=RUN_DIR + "/record.json",
        samples=RUN_DIR + "/samples.jsonl",
    params:
        identity=lambda wc: identity(wc),
        config_slice=run_config,
        eval_cfg=config["evaluate"],
    threads: 1
    log:
        "results/logs/evaluate/" + RUN_DIR.removeprefix("results/runs/") + ".log",
    benchmark:
        "results/benchmarks/evaluate/" + RUN_DIR.removeprefix("results/runs/") + ".tsv"
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=0,
    script:
        "../scripts/evaluate.py"


rule evaluate_base:
    input:
        model="results/backbones/{backbone}",
        test="results/data/domain={domain}/test.jsonl",
    output:
        record=BASE_DIR + "/record.json",
        samples=BASE_DIR + "/samples.jsonl",
    params:
        identity=lambda wc: identity(wc, objective="base"),
        config_slice=run_config,
        eval_cfg=config["evaluate"],
    threads: 1
    log:
        "results/logs/evaluate_base/{backbone}/{domain}.log",
    benchmark:
        "results/benchmarks/evaluate_base/{backbone}/{domain}.tsv"
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=0,
    script:
        "../scripts/evaluate.py"
