"""Report tables built from the tidy run table: Table 1 with confidence intervals, paired
differences with ``nll``, and the published numbers beside the reproduced ones.

Each is written as CSV, Markdown and LaTeX (booktabs) by ``write_table``.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from .aggregate import ordered
from .io import write_bytes_atomic
from .stats import bootstrap_ci, paired_difference

ROW = ["regime", "backbone", "domain", "metric", "noise_rate"]


def _fmt(mean, lo, hi, n):
    ci = "" if n < 2 else f" [{lo:.3f}, {hi:.3f}]"
    return f"{mean:.3f}{ci}"


def table1_ci(df: pd.DataFrame) -> pd.DataFrame:
    """Rows as Table 1; per objective 'mean [lo, hi]' over seeds, the best mean marked with '*'."""
    runs = df[df.kind == "run"]
    objectives = ordered(runs.objective)
    out = []
    for key, cell in runs.groupby(ROW, sort=True):
        row = dict(zip(ROW, key))
        means = {}
        for obj in objectives:
            vals = cell[cell.objective == obj].value
            if len(vals):
                m, lo, hi = bootstrap_ci(vals)
                means[obj] = m
                row[obj] = _fmt(m, lo, hi, len(vals))
        best = max(means.values())
        for obj, m in means.items():
            if m == best:
                row[obj] = "*" + row[obj]
        row["n_seeds"] = int(cell.groupby("objective").seed.nunique().min())
        out.append(row)
    return pd.DataFrame(out, columns=ROW + objectives + ["n_seeds"])


def paired_vs(df: pd.DataFrame, baseline: str = "nll") -> pd.DataFrame:
    """Each objective minus ``baseline`` over common seeds, per Table-1 row: mean and 95% CI."""
    runs = df[df.kind == "run"]
    out = []
    for key, cell in runs.groupby(ROW, sort=True):
        base = dict(zip(cell[cell.objective == baseline].seed, cell[cell.objective == baseline].value))
        if not base:
            continue
        for obj in ordered(cell.objective):
            if obj == baseline:
                continue
            sub = cell[cell.objective == obj]
            m, lo, hi, n = paired_difference(dict(zip(sub.seed, sub.value)), base)
            out.append({**dict(zip(ROW, key)), "objective": obj, "baseline": baseline, "difference": m,
                        "ci_low": lo, "ci_high": hi, "n_pairs": n})
    return pd.DataFrame(out, columns=ROW + ["objective", "baseline", "difference", "ci_low", "ci_high", "n_pairs"])


def paper_numbers() -> pd.DataFrame:
    """The published numbers (carried from the paper's figure; see deft/reference/)."""
    with resources.files("deft.reference").joinpath("paper_numbers.csv").open() as f:
        return pd.read_csv(f)


def paper_vs_reproduced(df: pd.DataFrame) -> pd.DataFrame:
    """Every published cell beside the reproduced mean (clean data) for the same backbone, domain
    and objective; 'reproduced' stays empty where the suite has not run that cell. The paper
    reports percentages: reproduced fractions (exact_match) are scaled to 0-100."""
    paper = paper_numbers()
    from .data.domains import kind_of

    clean = df[df.noise_rate == 0].assign(domain=lambda d: d.domain.map(kind_of))  # medical-llama -> medical
    means = clean.groupby(["backbone", "domain", "objective", "metric"]).value.mean().reset_index()
    rows = []
    for p in paper.itertuples():
        m = means[(means.backbone == p.backbone) & (means.domain == p.domain) & (means.objective == p.objective)]
        value = None
        if len(m):
            pick = m[m.metric == "jaro_winkler"] if p.domain == "figfont" and (m.metric == "jaro_winkler").any() else m
            value = float(pick.value.iloc[0]) * (1 if pick.metric.iloc[0] == "jaro_winkler" else 100)
        rows.append({"backbone": p.backbone, "domain": p.domain, "regime": p.regime, "metric": p.metric,
                     "objective": p.objective, "paper": p.value, "reproduced": value,
                     "difference": None if value is None else value - p.value})
    return pd.DataFrame(rows)


def write_table(t: pd.DataFrame, stem) -> None:
    """``stem``.csv, .md and .tex (booktabs)."""
    stem = Path(stem)
    write_bytes_atomic(stem.with_suffix(".csv"), t.to_csv(index=False).encode())
    write_bytes_atomic(stem.with_suffix(".md"), (t.to_markdown(index=False, floatfmt=".3f") + "\n").encode())
    latex = t.style.hide(axis="index").format(precision=3, na_rep="--").to_latex(hrules=True)
    write_bytes_atomic(stem.with_suffix(".tex"), latex.encode())
