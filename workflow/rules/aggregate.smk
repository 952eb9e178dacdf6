# Records -> tidy tables and Table 1 -> figures -> reports. `snakemake figures` rebuilds them from
# cached records; `snakemake --report results/report.html` bundles the outputs marked report() below.


# Reading records and drawing figures takes seconds and no GPU: on a cluster these run where
# Snakemake runs instead of queueing (as do the targets all, records and figures).
localrules:
    aggregate,
    collect_token_stats,
    noise_robustness_figure,
    improvement_probability_figure,
    gating_dynamics_figure,
    forgetting_figure,
    gradient_maps_figure,
    confident_conflicts_figure,
    report,
    figures,
    all,
    records,


# Every file the tables read is an input: a record's samples (per-item scores), token statistics and
# training log, not only the record, so that a missing one is re-made (or, for `snakemake figures`,
# named) instead of silently dropping that seed from the tables.
rule aggregate:
    input:
        runs=run_paths(run_file("record.json")),
        run_samples=run_paths(run_file("samples.jsonl")),
        run_tokens=run_paths(run_file("tokens.csv")),
        run_logs=run_paths(run_file("train_log.jsonl")),
        base=[f"results/base/backbone={b}/domain={d}/record.json" for b, d in base_cells()],
        base_samples=[f"results/base/backbone={b}/domain={d}/samples.jsonl" for b, d in base_cells()],
        base_tokens=[f"results/base/backbone={b}/domain={d}/tokens.csv" for b, d in base_cells()],
    output:
        runs="results/tables/runs.csv",
        item_scores="results/tables/items.csv",
        cells="results/tables/cells.csv",
        logs="results/tables/train_logs.csv",
        tokens="results/tables/heldout_tokens.csv",
        table1=table_files("table1"),
        table1_ci=report(table_files("table1_ci"), caption="../report/table1_ci.rst", category=TABLES),
        paired=report(table_files("paired_vs_nll"), caption="../report/paired_vs_nll.rst", category=TABLES),
        improvement=report(table_files("improvement_probability"), caption="../report/improvement_probability.rst",
                           category=TABLES),
        paper=report(table_files("paper_vs_reproduced"), caption="../report/paper_vs_reproduced.rst",
                     category=TABLES),
        forgetting=report(table_files("forgetting"), caption="../report/forgetting_table.rst", category=TABLES),
        contrasts=report(table_files("contrasts"), caption="../report/contrasts.rst", category=TABLES),
        sharpening=report(table_files("sharpening"), caption="../report/sharpening.rst", category=TABLES),
        recipe=report(table_files("recipe_checks"), caption="../report/recipe_checks.rst", category=TABLES),
        regimes=report(table_files("regimes"), caption="../report/regimes.rst", category=TABLES),
        responses=report(table_files("responses"), caption="../report/responses.rst", category=TABLES),
    params:
        options=config.get("aggregate", {}),
        contrasts=CONTRASTS,
        left_out_contrasts=LEFT_OUT_CONTRASTS,
        mde_target=config.get("analysis", {}).get("mde_target"),
    log:
        "results/logs/aggregate.log",
    conda:
        ENV
    script:
        "../scripts/aggregate.py"


rule noise_robustness_figure:
    input:
        "results/tables/cells.csv",
    output:
        png=report("results/figures/noise_robustness.png", caption="../report/noise_robustness.rst",
                   category=FIGURES),
        pdf="results/figures/noise_robustness.pdf",
    log:
        "results/logs/figures/noise_robustness.log",
    conda:
        ENV
    script:
        "../../paper_figures/noise_robustness.py"


rule improvement_probability_figure:
    input:
        "results/tables/improvement_probability.csv",
    output:
        png=report("results/figures/improvement_probability.png", caption="../report/improvement_probability.rst",
                   category=FIGURES),
        pdf="results/figures/improvement_probability.pdf",
    log:
        "results/logs/figures/improvement_probability.log",
    conda:
        ENV
    script:
        "../../paper_figures/improvement_probability.py"


rule gating_dynamics_figure:
    input:
        "results/tables/train_logs.csv",
    output:
        png=report("results/figures/gating_dynamics.png", caption="../report/gating_dynamics.rst", category=FIGURES),
        pdf="results/figures/gating_dynamics.pdf",
    log:
        "results/logs/figures/gating_dynamics.log",
    conda:
        ENV
    script:
        "../../paper_figures/gating_dynamics.py"


rule forgetting_figure:
    input:
        "results/tables/cells.csv",
    output:
        png=report("results/figures/forgetting.png", caption="../report/forgetting.rst", category=FIGURES),
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
        rules.improvement_probability_figure.output,
        rules.gating_dynamics_figure.output,
        rules.gradient_maps_figure.output,
        rules.confident_conflicts_figure.output,
        forgetting_figures(),
    output:
        report("results/report.md", caption="../report/report_md.rst", category="Report"),
    params:
        config=config,
    log:
        "results/logs/report.log",
    conda:
        ENV
    script:
        "../scripts/report.py"


# Every table and figure and the report. Alone on the command line (`snakemake --cores 2 figures`)
# it reads the run records under results/ and never trains (common.smk FROM_CACHE).
rule figures:
    input:
        rules.report.input,
        rules.report.output,
