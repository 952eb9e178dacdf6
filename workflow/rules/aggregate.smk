# Records -> tidy table and Table 1 -> figures. `snakemake figures` rebuilds them from records.


rule aggregate:
    input:
        runs=run_paths(RUN_DIR + "/record.json"),
        base=[f"results/base/backbone={b}/domain={d}/record.json" for b, d in base_cells()],
    output:
        runs="results/tables/runs.csv",
        table1="results/tables/table1.csv",
        table1_md="results/tables/table1.md",
    log:
        "results/logs/aggregate.log",
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
    script:
        "../../paper_figures/noise_robustness.py"


rule figures:
    input:
        rules.noise_robustness_figure.output,
        "results/tables/table1.md",
