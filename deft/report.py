"""A self-contained Markdown report of a study: tables, figures, configuration and provenance.

    python -m deft.report results/tables results/figures config/config.yaml results/report.md
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from .io import write_bytes_atomic

SECTIONS = [("Table 1 (mean over seeds)", "table1.md"), ("Table 1 with 95% bootstrap CIs (* = best)", "table1_ci.md"),
            ("Paired difference with nll over seeds", "paired_vs_nll.md"),
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
    runs = pd.read_csv(tables / "runs.csv")
    prov = (runs.groupby(["kind", "regime", "objective"], dropna=False)
            .agg(records=("seed", "size"), seeds=("seed", "nunique"), config_hash=("config_hash", "unique"),
                 git_commit=("git_commit", "unique"), test_sha256=("test_sha256", "unique"))
            .reset_index())
    for col in ("config_hash", "git_commit", "test_sha256"):
        prov[col] = prov[col].map(lambda xs: ", ".join(str(x)[:12] for x in xs))
    parts += ["## Provenance of the run records", "", prov.to_markdown(index=False), ""]
    parts += ["## Configuration", "", "```yaml", yaml.safe_dump(config, sort_keys=False).rstrip(), "```", ""]
    text = "\n".join(parts)
    write_bytes_atomic(out, text.encode())
    return text


def _relative(path: Path, start: Path) -> str:
    import os

    return os.path.relpath(path.resolve(), start.resolve())


if __name__ == "__main__":
    import yaml

    tables_dir, figures_dir, config_path, out_path = sys.argv[1:5]
    build(tables_dir, figures_dir, yaml.safe_load(Path(config_path).read_text()), out_path)
