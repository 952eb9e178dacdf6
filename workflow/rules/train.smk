# One fine-tuning run per (backbone, domain, objective, noise, seed). The model folder is temp():
# it is removed once evaluated; the log and summary stay.


rule train:
    input:
        unpack(train_input),
    output:
        model=temp(directory(RUN_DIR + "/model")),
        log=RUN_DIR + "/train_log.jsonl",
        summary=RUN_DIR + "/train.json",
    params:
        settings=lambda wc: {**config["train"], "objective": wc.objective,
                             "params": dc.objective_params(config, wc.objective), "seed": int(wc.seed)},
    threads: 1
    log:
        "results/logs/train/" + RUN_DIR.removeprefix("results/runs/") + ".log",
    benchmark:
        "results/benchmarks/train/" + RUN_DIR.removeprefix("results/runs/") + ".tsv"
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=0,
    script:
        "../scripts/train.py"
