# One fine-tuning run per (backbone, domain, objective, noise, seed). The model folder is temp():
# it is removed once evaluated; the log and summary stay.


rule train:
    input:
        unpack(train_input),
    output:
        model=temp(directory(run_file("model"))),
        log=run_file("train_log.jsonl"),
        summary=run_file("train.json"),
    params:
        settings=lambda wc: {**dc.train_settings(config, wc.backbone, wc.domain), "objective": wc.objective,
                             "params": dc.objective_params(config, wc.objective), "seed": int(wc.seed)},
    threads: 1
    log:
        run_file("train.log", root="results/logs"),
    benchmark:
        run_file("train.tsv", root="results/benchmarks")
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=0,
    conda:
        ENV
    script:
        "../scripts/train.py"
