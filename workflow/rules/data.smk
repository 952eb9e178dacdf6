# Generated, disjoint splits per domain; noisy training sets (with audits) per noise setting and seed.


rule make_splits:
    output:
        train="results/data/domain={domain}/train.jsonl",
        test="results/data/domain={domain}/test.jsonl",
        prior="results/data/domain={domain}/prior.jsonl",
        prior_dev="results/data/domain={domain}/prior_dev.jsonl",
        prior_stop="results/data/domain={domain}/prior_stop.jsonl",
        manifest="results/data/domain={domain}/manifest.json",
    params:
        domain_params=lambda wc: config["data"]["domains"][wc.domain],
        sizes=config["data"]["sizes"],
        seed=config["data"]["seed"],
        prompt_format=config["data"].get("prompt_format", "chat"),
    log:
        "results/logs/make_splits/{domain}.log",
    conda:
        ENV
    script:
        "../scripts/make_splits.py"


rule add_noise:
    input:
        "results/data/domain={domain}/train.jsonl",
    output:
        train="results/data/domain={domain}/noise={noise}/seed={seed}/train.jsonl",
        audit="results/data/domain={domain}/noise={noise}/seed={seed}/audit.json",
    params:
        noise=lambda wc: dc.parse_noise(wc.noise),
        sample=lambda wc: dc.train_sample(config, wc.domain),
    log:
        "results/logs/add_noise/{domain}/{noise}/{seed}.log",
    conda:
        ENV
    script:
        "../scripts/add_noise.py"
