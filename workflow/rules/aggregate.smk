# Records -> tidy table and Table 1 -> figures. `snakemake figures` rebuilds them from records.


rule aggregate:
    input:
        runs=run_paths(run_file("record.json")),
        base=[f"results/base/backbone={b}/domain={d}/record.json" for b, d in base_cells()],
    output:
        runs="results/tables/runs.csv",
        logs="results/tables/train_logs.csv",
        tokens="results/tables/heldout_tokens.csv",
        table1="results/tables/table1.csv",
        table1_md="results/tables/table1.md",
        tables=multiext("results/tables/", "table1.tex", "table1_ci.csv", "table1_ci.md", "table1_ci.tex",
                        "paired_vs_nll.csv", "paired_vs_nll.md", "paired_vs_nll.tex", "paper_vs_reproduced.csv",
                        "paper_vs_reproduced.md", "paper_vs_reproduced.tex"),
    params:
        options=config.get("aggregate", {}),
    log:
        "results/logs/aggregate.log",
    conda:
        ENV
    script:
        "../scripts/aggregate.py"


rule noise_robustness_figure:
    input:
        "results/tables/runs.csv",
    output:
        png="results/figures/noise_robustness.png",
        pdf="results/figures/noise_robustness.pdf",
    log:
        "results/logs/figures/noise_robustness.log",
    conda:
        ENV
    script:
        "../../paper_figures/noise_robustness.py"


rule gating_dynamics_figure:
    input:
        "results/tables/train_logs.csv",
    output:
        png="results/figures/gating_dynamics.png",
        pdf="results/figures/gating_dynamics.pdf",
    log:
        "results/logs/figures/gating_dynamics.log",
    conda:
        ENV
    script:
        "../../paper_figures/gating_dynamics.py"


rule forgetting_figure:
    input:
        "results/tables/runs.csv",
    output:
        png="results/figures/forgetting.png",
        pdf="results/figures/forgetting.pdf",
    log:
        "results/logs/figures/forgetting.log",
    conda:
        ENV
    script:
        "../../paper_figures/forgetting.py"


rule report:
    input:
        rules.aggregate.output,
        rules.noise_robustness_figure.output,
        rules.gating_dynamics_figure.output,
        rules.gradient_maps_figure.output,
        rules.confident_conflicts_figure.output,
        forgetting_figures(),
    output:
        "results/report.md",
    params:
        config=config,
    log:
        "results/logs/report.log",
    conda:
        ENV
    script:
        "../scripts/report.py"


# Every table and figure and the report; from cached run records alone when they exist.
rule figures:
    input:
        rules.report.input,
        rules.report.output,
