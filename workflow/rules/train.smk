# One fine-tuning run per (backbone, domain, objective, noise, seed): deft.train.cli in one process,
# or under accelerate / torchrun on the GPUs of one node (config `launch:`; see
# docs/paper-scale.md). The model folder is temp(): it is removed once evaluated; the log and summary stay.


rule train:
    input:
        unpack(train_input),
    output:
        model=temp(directory(run_file("model"))),
        log=run_file("train_log.jsonl"),
        summary=run_file("train.json"),
    params:
        command=TRAIN_COMMAND,
        settings=lambda wc: json.dumps({**dc.train_settings(config, wc.backbone, wc.domain), "objective": wc.objective,
                                        "params": dc.objective_params(config, wc.objective), "seed": int(wc.seed)}),
    threads: 1
    log:
        run_file("train.log", root="results/logs"),
    benchmark:
        run_file("train.tsv", root="results/benchmarks")
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=TRAIN_GPUS,
        disk_mb=lambda wc: dc.disk_mb(config, wc.backbone, "train"),  # model, its saving copy, 2 checkpoints
    conda:
        TRAIN_ENV
    shell:
        "{params.command} --model-dir {input.model:q} --train-data {input.data:q} --out-dir {output.model:q}"
        " --train-log {output.log:q} --summary-json {output.summary:q} --torch-threads {threads}"
        " --settings-json {params.settings:q} >> {log:q} 2>&1"
