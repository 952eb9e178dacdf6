"""A self-contained Markdown report of a study: tables, figures, configuration and provenance.

    python -m deft.report.markdown results/tables results/figures config/config.yaml results/report.md
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from ..io import write_bytes_atomic
from .tables import regime_miss

RECORD_KEYS = ["kind", "regime", "backbone", "domain", "objective", "noise_kind", "noise_rate", "seed"]  # one record

SECTIONS = [("Regime labels, measured (base exact match in the trained format against each label's band)",
             "regimes.md"),
            ("Contrasts (pre-registered unless the column says otherwise; paired by seed and item; MDE at 80% power; "
             "each beside its positive control)", "contrasts.md"),
            ("Does the recipe learn? Clean nll minus the base, paired by item", "recipe_checks.md"),
            ("Sharpening: the test answer tokens the base held at p >= 0.9, mean p before and after", "sharpening.md"),
            ("Table 1 (mean over seeds)", "table1.md"),
            ("Table 1 with 95% intervals over seeds and test items (* = best in the metric's direction)",
             "table1_ci.md"),
            ("Paired difference with nll (by seed and item), minimum detectable effect, verdict", "paired_vs_nll.md"),
            ("Probability of improvement over nll across cells", "improvement_probability.md"),
            ("Forgetting on each backbone's reference task, with denominators", "forgetting.md"),
            ("Paper vs reproduced", "paper_vs_reproduced.md"),
            ("Responses: distinct-answer share (collapsed below 25% of the gold answers' share) and the "
             "constant-answer baseline",
             "responses.md")]


def build(tables_dir, figures_dir, config: dict, out_path) -> str:
    """Write the report to ``out_path``; ``config`` is the study's configuration (a dict)."""
    import yaml

    tables, figures, out = Path(tables_dir), Path(figures_dir), Path(out_path)
    runs = pd.read_csv(tables / "runs.csv")
    parts = ["# deft-repro report", "", protocol_line(runs), "", *warnings(tables), ""]
    for title, name in SECTIONS:
        if (tables / name).exists():
            parts += [f"## {title}", "", (tables / name).read_text(), ""]
    for fig in sorted(figures.glob("*.png")):
        parts += [f"## Figure: {fig.stem.replace('_', ' ')}", "", f"![{fig.stem}]({_relative(fig, out.parent)})", ""]
    conflicts = tables / "confident_conflicts.csv"
    if conflicts.exists():
        parts += ["## Confident conflicts (shares of the logit-gradient norm and gate mass on corrupted examples)", "",
                  pd.read_csv(conflicts).to_markdown(index=False, floatfmt=".3f"), ""]
    parts += ["## Provenance of each run record", "", provenance(runs).to_markdown(index=False), ""]
    parts += ["## Configuration", "", "```yaml", yaml.safe_dump(config, sort_keys=False).rstrip(), "```", ""]
    text = "\n".join(parts)
    write_bytes_atomic(out, text.encode())
    return text


def protocol_line(runs: pd.DataFrame) -> str:
    """Which protocol the numbers follow (config ``protocol``: authors, corrected, suite), per record."""
    if "protocol" not in runs:
        return "Protocol: suite (records written before the protocol switch)."
    counts = runs.drop_duplicates(RECORD_KEYS).protocol.fillna("suite").value_counts()
    return "Protocol: " + ", ".join(f"{name} ({n} records)" for name, n in counts.items()) + \
        (" - MIXED: compare like with like" if len(counts) > 1 else "") + "."


def warnings(tables: Path) -> list[str]:
    """Lines at the top of the report: regime labels that do not hold, collapsed runs, contrasts
    whose minimum detectable effect misses its target or whose positive control fails - never silent."""
    out = []
    reg, resp, rec, con = (_table(tables / f"{n}.csv") for n in ("regimes", "responses", "recipe_checks", "contrasts"))
    if reg is not None and "holds" in reg:
        for r in reg[reg.holds.astype(str) == "False"].itertuples():
            measured, band = regime_miss(r)
            out.append(f"- **Regime label does not hold**: {r.backbone} on {r.domain} is labelled {r.label!r} but "
                       f"its base exact match is {measured}, outside [{band}].")
    if resp is not None and "collapsed" in resp:
        bad = resp[resp.collapsed.astype(str) == "True"]
        if len(bad):
            out.append(f"- **Collapsed runs**: {len(bad)} of {len(resp)} records answer fewer distinct strings than "
                       "25% of the distinct gold answers (table Responses).")
    if rec is not None and "holds" in rec:
        for r in rec[rec.holds.astype(str) == "False"].itertuples():
            out.append(f"- **Recipe requirement not met**: {r.regime} ({r.backbone}): {r.requirement}, but nll - base = "
                       f"{r.difference:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}].")
        if "beats_constant" in rec:  # a learner that only found one frequent answer
            for r in rec[(rec.beats_constant.astype(str) == "False") & (rec.regime != "strong")].itertuples():
                out.append(f"- **Recipe learns no more than a constant answer**: {r.regime} ({r.backbone}): clean nll "
                           f"{r.nll:.3f}, the best constant answer {r.constant:.3f} (nll - constant lower bound "
                           f"{r.above_constant_low:+.3f}).")
    if con is not None and "powered" in con:
        for r in con[con.powered.astype(str) == "False"].itertuples():
            out.append(f"- **Under-powered contrast**: {r.contrast} ({r.regime}, noise {r.noise_rate}) has minimum "
                       f"detectable effect {r.mde:.3f} > target {r.mde_target}.")
    if con is not None and "verdict" in con:
        for r in con[con.verdict.astype(str).str.startswith("not testable")].itertuples():
            interval = "(no interval: every seed the same)" if pd.isna(r.control_ci_low) else \
                f"[{r.control_ci_low:+.3f}, {r.control_ci_high:+.3f}]"
            mde_text = "" if pd.isna(r.mde) else f", MDE {r.mde:.3f}"
            measured = "" if pd.isna(r.control_value) else f": measured {r.control_value:+.3f} {interval}{mde_text}"
            out.append(f"- **Not testable**: {r.contrast} ({r.regime}, noise {r.noise_rate}): its control "
                       f"{r.control} needs {r.control_needs}{measured}. Its numbers say nothing about the claim.")
        gone = con[con.verdict.astype(str).str.startswith("left out")]
        if len(gone):
            out.append("- **Contrasts left out** (outside this grid): " + "; ".join(
                f"{r.contrast} ({r.regime}, noise {r.noise_rate})" for r in gone.itertuples()) + ".")
    unchecked = []  # a check that has nothing to check is said so, never reported as passed
    if reg is not None and "holds" in reg and reg.holds.isna().any():
        unchecked.append("regime labels without a band (config regime_checks)")
    if rec is None or rec.empty:
        unchecked.append("the recipe (no clean nll run beside a base record)")
    if con is None or con.empty:
        unchecked.append("power (no pre-registered contrasts)")
    if unchecked:
        out.append("- **Not checked**: " + "; ".join(unchecked) + ".")
    return out or ["All regime labels hold, the recipe meets its requirements, no run collapsed, every "
                   "pre-registered contrast meets its MDE target and its control holds."]


def _table(path: Path) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path) if path.exists() else None
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def provenance(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run record: its identity, configuration hash, code commit, objective version and
    test data hash (short forms)."""
    extra = ["protocol"] if "protocol" in runs else []
    prov = runs.drop_duplicates(RECORD_KEYS)[RECORD_KEYS + ["config_hash", "git_commit", "objective_version", "test_sha256", "n_test",
                                             *extra]]
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
