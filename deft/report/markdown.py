"""A self-contained Markdown report of a study: tables, figures, configuration and provenance.

    python -m deft.report.markdown results/tables results/figures config/config.yaml results/report.md
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from ..io import write_bytes_atomic

SECTIONS = [("Table 1 (mean over seeds)", "table1.md"),
            ("Table 1 with 95% intervals over seeds and test items (* = best in the metric's direction)",
             "table1_ci.md"),
            ("Paired difference with nll (by seed and item), minimum detectable effect, verdict", "paired_vs_nll.md"),
            ("Probability of improvement over nll across cells", "improvement_probability.md"),
            ("Forgetting on each backbone's reference task, with denominators", "forgetting.md"),
            ("Paper vs reproduced", "paper_vs_reproduced.md")]


def build(tables_dir, figures_dir, config: dict, out_path) -> str:
    """Write the report to ``out_path``; ``config`` is the study's configuration (a dict)."""
    import yaml

    tables, figures, out = Path(tables_dir), Path(figures_dir), Path(out_path)
    parts = ["# deft-repro report", ""]
    for title, name in SECTIONS:
        if (tables / name).exists():
            parts += [f"## {title}", "", (tables / name).read_text(), ""]
    for fig in sorted(figures.glob("*.png")):
        parts += [f"## Figure: {fig.stem.replace('_', ' ')}", "", f"![{fig.stem}]({_relative(fig, out.parent)})", ""]
    conflicts = tables / "confident_conflicts.csv"
    if conflicts.exists():
        parts += ["## Confident conflicts (shares of the logit-gradient norm and gate mass on corrupted examples)", "",
                  pd.read_csv(conflicts).to_markdown(index=False, floatfmt=".3f"), ""]
    parts += ["## Provenance of each run record", "", provenance(pd.read_csv(tables / "runs.csv")).to_markdown(index=False), ""]
    parts += ["## Configuration", "", "```yaml", yaml.safe_dump(config, sort_keys=False).rstrip(), "```", ""]
    text = "\n".join(parts)
    write_bytes_atomic(out, text.encode())
    return text


def provenance(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run record: its identity, configuration hash, code commit, objective version and
    test data hash (short forms)."""
    keys = ["kind", "regime", "backbone", "domain", "objective", "noise_kind", "noise_rate", "seed"]
    prov = runs.drop_duplicates(keys)[keys + ["config_hash", "git_commit", "objective_version", "test_sha256", "n_test"]]
    for col in ("config_hash", "git_commit", "test_sha256"):
        prov[col] = prov[col].astype(str).str[:12]
    return prov.reset_index(drop=True)


def _relative(path: Path, start: Path) -> str:
    import os

    return os.path.relpath(path.resolve(), start.resolve())


if __name__ == "__main__":
    import yaml

    tables_dir, figures_dir, config_path, out_path = sys.argv[1:5]
    build(tables_dir, figures_dir, yaml.safe_load(Path(config_path).read_text()), out_path)
