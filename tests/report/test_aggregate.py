"""Records -> tidy table -> Table 1, on small hand-checkable inputs; bad records name their file."""
import json

import numpy as np
import pandas as pd
import pytest

from deft.eval import records
from deft.report.aggregate import aggregate, check_consistent, table1, tidy


def record(objective, seed, value, *, kind="run", noise_rate=0.0, config_hash="c1", backbone="b", domain="arithmetic",
           regime="strong", metric="exact_match"):
    return {
        "kind": kind,
        "run": {"backbone": backbone, "domain": domain, "regime": regime, "objective": objective, "params": {},
                "noise_kind": "answer" if noise_rate else "none", "noise_rate": noise_rate, "seed": seed},
        "metrics": {metric: value},
        "base_metrics": None,
        "n_test": 10,
        "data": {"test_sha256": "t"},
        "train": None,
        "eval": {},
        "provenance": {"config_hash": config_hash, "git_commit": "abc", "git_dirty": False, "versions": {},
                       "objective_version": None if kind == "base" else 1},
    }


RECS = [
    record("base", 0, 0.5, kind="base"),
    record("nll", 0, 0.6), record("nll", 1, 0.8),
    record("deft", 0, 0.9), record("deft", 1, 0.7),
    record("nll", 0, 0.2, noise_rate=0.3), record("deft", 0, 0.4, noise_rate=0.3),
]


def test_tidy_has_one_row_per_record_and_metric():
    df = tidy(RECS)
    assert len(df) == 7
    assert list(df.columns[:10]) == ["kind", "regime", "backbone", "domain", "objective", "noise_kind", "noise_rate",
                                     "seed", "metric", "value"]


def test_table1_means_over_seeds_with_base_and_seed_count():
    t = table1(tidy(RECS)).set_index("noise_rate")
    assert list(t.columns) == ["regime", "backbone", "domain", "metric", "base", "nll", "deft", "n_seeds"]
    assert t.loc[0.0, "nll"] == pytest.approx(0.7) and t.loc[0.0, "deft"] == pytest.approx(0.8)
    assert t.loc[0.0, "base"] == 0.5 and t.loc[0.3, "base"] == 0.5
    assert t.loc[0.0, "n_seeds"] == 2 and t.loc[0.3, "n_seeds"] == 1
    assert t.loc[0.3, "deft"] == pytest.approx(0.4)


def test_mixed_configurations_in_one_cell_are_refused_unless_allowed():
    df = tidy(RECS + [record("deft", 2, 0.1, config_hash="other")])
    with pytest.raises(ValueError, match="disagree on config_hash"):
        check_consistent(df)
    check_consistent(df, allow_mixed=True)


def test_aggregate_writes_tables_and_names_a_bad_record(tmp_path):
    paths = []
    for i, r in enumerate(RECS):
        p = tmp_path / f"r{i}.json"
        records.write(p, r)
        paths.append(p)
    out = aggregate(paths, tmp_path / "tables")
    assert out == {"records": 7, "skipped": []}
    assert len(pd.read_csv(tmp_path / "tables" / "runs.csv")) == 7
    assert "| strong" in (tmp_path / "tables" / "table1.md").read_text()

    broken = tmp_path / "broken.json"
    broken.write_text('{"kind": "run", "run": ')  # half-written
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({**RECS[1], "metrics": {"exact_match": "high"}}))
    with pytest.raises(ValueError, match="broken.json: unreadable run record"):
        aggregate(paths + [broken], tmp_path / "t2")
    with pytest.raises(ValueError, match="invalid.json: invalid run record at metrics/exact_match"):
        aggregate(paths + [invalid], tmp_path / "t2")
    assert not (tmp_path / "t2").exists()
    out = aggregate(paths + [broken, invalid], tmp_path / "t3", skip_bad=True)
    assert out["records"] == 7 and len(out["skipped"]) == 2 and "broken.json" in out["skipped"][0]


def test_record_writer_refuses_schema_violations(tmp_path):
    bad = {**RECS[1], "extra": 1}
    with pytest.raises(ValueError, match="Additional properties are not allowed"):
        records.write(tmp_path / "x.json", bad)
    assert not (tmp_path / "x.json").exists()


def test_table1_ci_marks_the_best_and_shows_intervals():
    from deft.report.tables import table1_ci

    t = table1_ci(tidy(RECS)).set_index("noise_rate")
    # two seeds, run-level values only: the t(1) interval over seeds, 0.8 +- 12.706 * 0.1414 / sqrt(2) = 0.8 +- 1.2706
    assert t.loc[0.0, "deft"] == "*0.800 [-0.471, 2.071]" and t.loc[0.0, "nll"].startswith("0.700 [")
    assert t.loc[0.3, "deft"] == "*0.400 (no interval)" and t.loc[0.3, "nll"] == "0.200 (no interval)"  # one seed: no interval
    assert t.loc[0.0, "n_seeds"] == 2 and t.loc[0.0, "n_items"] == 1


def test_best_follows_the_metric_direction():
    from deft.report.tables import table1_ci

    recs = [record("nll", 0, 0.3, metric="token_forgetting_rate"), record("deft", 0, 0.1, metric="token_forgetting_rate"),
            record("nll", 0, 0.3), record("deft", 0, 0.1)]
    t = table1_ci(tidy(recs)).set_index("metric")
    assert t.loc["token_forgetting_rate", "deft"] == "*0.100 (no interval)" and t.loc["exact_match", "nll"] == "*0.300 (no interval)"
    with pytest.raises(ValueError, match="'bleu' has no declared direction"):
        table1_ci(tidy([record("nll", 0, 0.3, metric="bleu")]))


def _with_samples_at(tmp_path, per_item: dict) -> list[dict]:
    """Records with samples: per_item[(objective, seed, noise_rate)] = 0/1 scores; objective 'base'
    is the base model's record."""
    recs = []
    for (obj, seed, rate), scores in per_item.items():
        kind = "base" if obj == "base" else "run"
        r = record(obj, seed, float(np.mean(scores)), kind=kind, noise_rate=rate)
        path = tmp_path / f"{obj}-{seed}-{rate}" / "record.json"
        records.write(path, r)
        (path.parent / "samples.jsonl").write_text("".join(
            json.dumps({"task": "deft_arithmetic", "doc_id": i, "exact_match": s}) + "\n" for i, s in enumerate(scores)))
        recs.append({**r, "_path": str(path)})
    return recs


def _with_samples(tmp_path, per_item: dict) -> list[dict]:
    """Records with samples.jsonl beside them: per_item[(objective, seed)] = list of 0/1 scores."""
    return _with_samples_at(tmp_path, {(obj, seed, 0.0): scores for (obj, seed), scores in per_item.items()})


def test_paired_difference_with_nll_is_paired_by_item_and_signed_by_direction(tmp_path):
    from deft.report.aggregate import item_scores
    from deft.report.tables import paired_vs

    rng = np.random.default_rng(0)
    hard = rng.random(200) < 0.5  # shared item difficulty: pairing removes it
    per = {("nll", s): [float(h and rng.random() < 0.9) for h in hard] for s in (0, 1, 2)}
    per |= {("deft", s): [float(h or rng.random() < 0.3) for h in hard] for s in (0, 1, 2)}
    recs = _with_samples(tmp_path, per)
    items = item_scores(recs)
    assert len(items) == 6 * 200 and set(items.item) == {f"deft_arithmetic:{i}" for i in range(200)}
    p = paired_vs(tidy(recs), items).iloc[0]
    diff = np.mean([np.mean(per[("deft", s)]) - np.mean(per[("nll", s)]) for s in (0, 1, 2)])
    assert p.difference == pytest.approx(diff) and p.ci_low > 0 and p.verdict == "better"
    assert p.n_seeds == 3 and p.n_items == 200 and 0 < p.mde < p.difference
    # the same numbers as a lower-is-better metric: the verdict turns
    lower = tidy(recs).assign(metric="token_forgetting_rate")
    assert paired_vs(lower, items.assign(metric="token_forgetting_rate")).iloc[0].verdict == "worse"


def test_prior_task_delta_is_taken_over_the_reference_answers_the_base_reproduced():
    """A record from before 2026-12-02 stored the change over all examples (-0.375 here); the tidy
    table, the per-item scores and the forgetting table all take it from the hits."""
    from deft.report.aggregate import forgetting, item_scores

    def with_ref(r, exact):
        return {**r, "reference": {"exact": exact, "top1": exact, "domain": "ref"}, "_path": "/nonexistent/record.json"}

    base = with_ref(record("base", 0, 0.375, kind="base", metric="prior_task_accuracy"), [True] * 3 + [False] * 5)
    run = with_ref(record("nll", 0, 0.125, metric="prior_task_accuracy"), [True] + [False] * 7)
    run["metrics"]["prior_task_delta"] = -0.25  # the old definition
    df = tidy([base, run])
    assert df[df.metric == "prior_task_delta"].value.tolist() == [pytest.approx(-2 / 3)]
    items = item_scores([base, run])
    assert sorted(items[items.metric == "prior_task_delta"].value) == [-1.0, -1.0, 0.0]
    assert forgetting([base, run]).prior_task_delta.tolist() == [pytest.approx(-2 / 3)]


def test_equal_scores_on_every_item_are_identical_not_a_zero_mde(tmp_path):
    from deft.report.aggregate import item_scores
    from deft.report.tables import paired_vs

    same = [1.0, 0.0, 1.0, 1.0, 0.0]
    recs = _with_samples(tmp_path, {(o, s): same for o in ("nll", "deft") for s in (0, 1, 2)})
    p = paired_vs(tidy(recs), item_scores(recs)).iloc[0]
    assert p.verdict == "identical" and p.difference == 0 and np.isnan(p.ci_low) and np.isnan(p.mde)


def test_paired_difference_without_items_falls_back_to_seeds():
    from deft.report.tables import paired_vs

    p = paired_vs(tidy(RECS)).set_index("noise_rate")
    assert p.loc[0.0, "difference"] == pytest.approx(0.1) and p.loc[0.0, "n_seeds"] == 2
    assert p.loc[0.0, "ci_low"] == pytest.approx(0.1 - 12.7062 * 0.2, rel=1e-4)
    assert p.loc[0.0, "verdict"] == "no detectable difference"
    assert p.loc[0.3, "difference"] == pytest.approx(0.2) and np.isnan(p.loc[0.3, "ci_low"])


def test_improvement_probability_across_cells():
    from deft.report.tables import improvement_probability

    recs = [record(o, s, v + 0.01 * s, noise_rate=r) for r in (0.0, 0.1, 0.2, 0.3) for s in (0, 1, 2)
            for o, v in (("nll", 0.5), ("deft", 0.6 if r < 0.3 else 0.4))]
    t = improvement_probability(tidy(recs)).iloc[0]
    assert (t.objective, t.metric, t.n_cells) == ("deft", "exact_match", 4)
    assert t.probability == pytest.approx(0.75) and t.ci_low <= 0.75 <= t.ci_high
    forgetting = tidy(recs).assign(metric="token_forgetting_rate")  # lower is better: 1 - 0.75
    assert improvement_probability(forgetting).iloc[0].probability == pytest.approx(0.25)


def test_paper_numbers_sit_beside_reproduced_ones():
    from deft.report.tables import paper_vs_reproduced

    recs = [record("deft", 0, 50.0, backbone="llama-3.1-8b", domain="figfont", metric="jaro_winkler"),
            record("deft", 1, 40.0, backbone="llama-3.1-8b", domain="figfont", metric="jaro_winkler")]
    t = paper_vs_reproduced(tidy(recs))
    assert len(t) == 18  # every published cell is listed
    row = t[(t.domain == "figfont") & (t.objective == "deft")].iloc[0]
    assert row.paper == 46.34 and row.reproduced == 45.0 and row.difference == pytest.approx(45.0 - 46.34)
    assert t[(t.domain == "math")].reproduced.isna().all()


def test_figure_scripts_write_png_and_pdf(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    recs = RECS + [record("deft", s, 0.5 + s / 10, noise_rate=r, regime="weak", domain="figfont",
                          metric="jaro_winkler") for s in (0, 1, 2) for r in (0.0, 0.3)]
    from deft.report.tables import cells, improvement_probability

    cells(tidy(recs)).to_csv(tmp_path / "cells.csv", index=False)
    improvement_probability(tidy(recs)).to_csv(tmp_path / "improvement.csv", index=False)
    logs = pd.DataFrame([{"regime": g, "objective": o, "noise_rate": 0.0, "seed": 0, "step": s, "mean_p": 0.1 * s,
                          "mean_a": 0.05 * s if o == "deft" else None}
                         for g in ("weak", "strong") for o in ("nll", "deft") for s in range(1, 5)])
    logs.to_csv(tmp_path / "logs.csv", index=False)
    forgetting = [record(o, s, -0.1 * s, noise_rate=r, metric=m) for o in ("nll", "deft") for s in (0, 1)
                  for r in (0.0, 0.3) for m in ("prior_task_delta", "token_forgetting_rate")]
    cells(tidy(forgetting)).to_csv(tmp_path / "forgetting.csv", index=False)
    rng = np.random.default_rng(0)
    tokens = pd.DataFrame([{"regime": g, "noise_rate": 0.0, "seed": 0, "model": m, "objective": o, "p_y": rng.random(),
                            "entropy": 3 * rng.random(), "gate": 1.0, "grad": rng.random()}
                           for g in ("weak", "strong") for o in ("nll", "deft") for m in ("base", o) for _ in range(30)])
    tokens.to_csv(tmp_path / "tokens.csv", index=False)
    stats = pd.DataFrame([{"regime": "weak", "noise": n, "example": f"e{i}", "corrupted": n != "clean" and i < 3,
                           "token_class": ("changed" if i < 3 else "clean") if n != "clean" else "clean",
                           "gate_nll": 1.0, "grad_nll": 1.0, "gate_deft": 0.1 if i < 3 else 0.9,
                           "grad_deft": 0.1 if i < 3 else 0.9} for n in ("clean", "answer-0.3") for i in range(10)])
    stats.to_csv(tmp_path / "stats.csv", index=False)
    runs = [("noise_robustness", "cells.csv"), ("improvement_probability", "improvement.csv"),
            ("gating_dynamics", "logs.csv"), ("forgetting", "forgetting.csv"),
            ("gradient_maps", "tokens.csv"), ("confident_conflicts", "stats.csv", str(tmp_path / "conflicts.csv"))]
    for script, data, *extra in runs:
        subprocess.run([sys.executable, str(root / "paper_figures" / f"{script}.py"), str(tmp_path / data),
                        str(tmp_path / script), *extra], check=True, timeout=120)
        assert (tmp_path / f"{script}.png").stat().st_size > 5000 and (tmp_path / f"{script}.pdf").exists()
    conflicts = pd.read_csv(tmp_path / "conflicts.csv").set_index("objective")
    assert conflicts.loc["nll", "gate_share_corrupted"] == pytest.approx(0.3)
    assert conflicts.loc["deft", "gate_share_corrupted"] == pytest.approx(0.3 / 6.6)
    assert conflicts.loc["deft", "grad_share_changed"] == pytest.approx(0.3 / 6.6)
    assert conflicts.loc["deft", "token_share_changed"] == pytest.approx(0.3)


def test_report_has_tables_figures_provenance_and_config(tmp_path):
    from deft.report.markdown import build

    paths = []
    for i, r in enumerate(RECS):
        records.write(tmp_path / f"r{i}.json", r)
        paths.append(tmp_path / f"r{i}.json")
    aggregate(paths, tmp_path / "tables")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "noise_robustness.png").write_bytes(b"png")
    text = build(tmp_path / "tables", tmp_path / "figures", {"grid": {"seeds": [0, 1]}}, tmp_path / "out" / "report.md")
    assert "## Table 1 (mean over seeds)" in text and "| strong" in text
    assert "![noise_robustness](../figures/noise_robustness.png)" in text
    assert "## Provenance of each run record" in text and "c1" in text
    assert text.count("| run    | strong") == 6 and text.count("| base   | strong") == 1  # one row per record
    assert "seeds:\n  - 0\n  - 1" in text
    assert (tmp_path / "out" / "report.md").read_text() == text


def test_heldout_tokens_carry_their_record_identity(tmp_path):
    for name, rec in (("base", record("base", 0, 0.5, kind="base")), ("run", record("deft", 1, 0.7, noise_rate=0.3))):
        records.write(tmp_path / name / "record.json", rec)
        pd.DataFrame({"model": [rec["run"]["objective"]], "objective": ["deft"], "p_y": [0.5], "entropy": [1.0],
                      "gate": [0.4], "grad": [0.3]}).to_csv(tmp_path / name / "tokens.csv", index=False)
    aggregate([tmp_path / "base" / "record.json", tmp_path / "run" / "record.json"], tmp_path / "tables")
    t = pd.read_csv(tmp_path / "tables" / "heldout_tokens.csv")
    assert list(t.model) == ["base", "deft"] and list(t.seed) == [0, 1] and list(t.noise_rate) == [0.0, 0.3]
    assert set(t.columns) >= {"regime", "backbone", "domain", "noise_kind", "p_y", "entropy", "gate", "grad"}


def test_contrasts_are_paired_with_mde_and_a_missing_one_is_listed(tmp_path):
    from deft.report.aggregate import item_scores
    from deft.report.tables import contrasts

    rng = np.random.default_rng(1)
    hard = rng.random(400) < 0.5
    per = {("nll", s): [float(h and rng.random() < 0.9) for h in hard] for s in (0, 1, 2)}
    per |= {("deft", s): [float(h or rng.random() < 0.1) for h in hard] for s in (0, 1, 2)}
    recs = _with_samples(tmp_path, per)
    specs = [{"regime": "strong", "noise_rate": 0.0, "a": "deft", "b": "nll"},
             {"regime": "strong", "noise_rate": 0.3, "a": "deft", "b": "nll"}]
    t = contrasts(tidy(recs), item_scores(recs), specs, mde_target=0.05)
    first, missing = t.iloc[0], t.iloc[1]
    assert first.contrast == "deft - nll" and first.n_items == 400 and first.n_seeds == 3
    assert first.ci_low < first.difference < first.ci_high and first.verdict == "better"
    assert first.mde > 0 and bool(first.powered) == (first.mde <= 0.05)
    assert missing.verdict == "not run" and np.isnan(missing.difference)
    loose = contrasts(tidy(recs), item_scores(recs), specs[:1], mde_target=1e-4).iloc[0]
    assert loose.powered is False or loose.powered == False  # noqa: E712


def test_a_contrast_outside_a_reduced_grid_is_listed_as_left_out_not_as_not_run(tmp_path):
    from deft.report.aggregate import item_scores
    from deft.report.markdown import warnings
    from deft.report.tables import contrasts

    per = {(o, s): [1.0, 0.0, 1.0, 1.0] for o in ("nll", "deft") for s in (0, 1)}
    recs = _with_samples(tmp_path, per)
    weak = {"regime": "weak", "noise_rate": 0.0, "a": "nll", "b": "neg_p"}
    t = contrasts(tidy(recs), item_scores(recs), [{"regime": "strong", "noise_rate": 0.0, "a": "deft", "b": "nll"}],
                  mde_target=0.05, left_out=[(weak, "regime weak is not in grid.regimes ['strong']")])
    assert list(t.verdict) == ["identical", "left out: regime weak is not in grid.regimes ['strong']"]
    assert t.iloc[1].contrast == "nll - neg_p" and np.isnan(t.iloc[1].difference)
    t.to_csv(tmp_path / "contrasts.csv", index=False)
    assert "- **Contrasts left out** (outside this grid): nll - neg_p (weak, noise 0.0)." in warnings(tmp_path)


def test_regime_checks_fire_when_a_label_cannot_hold(tmp_path):
    """A base model scoring 0.0 labelled strong (band >= 0.8) or 0.5 labelled weak is flagged in the
    record's check, in the regimes table and at the top of the report."""
    from deft.eval.regimes import check
    from deft.report.aggregate import regime_checks
    from deft.report.markdown import warnings

    assert check("weak", {"test": 0.03})["holds"] is True
    assert check("strong", {"test": 0.9, "prior_dev": 0.75})["holds"] is False  # both splits must meet it
    assert check("intermediate", {"test": 0.2}, {"intermediate": [0.25, 0.5]})["holds"] is False
    assert check("custom", {"test": 0.3})["holds"] is None  # no band: not checked, and says so
    base = [{**record("base", 0, 0.0, kind="base"), "regime_check": check("strong", {"test": 0.0})},
            {**record("base", 0, 0.5, kind="base", regime="weak", backbone="w"), "regime_check": check("weak", {"test": 0.5})},
            {**record("base", 0, 0.02, kind="base", regime="weak", backbone="v"), "regime_check": check("weak", {"test": 0.02})}]
    t = regime_checks(base)
    assert list(t.holds) == [False, False, True]
    t.to_csv(tmp_path / "regimes.csv", index=False)
    lines = warnings(tmp_path)
    assert len(lines) == 3 and "labelled 'strong'" in lines[0] and "0.000" in lines[0] and "[0.8, -]" in lines[0]
    # no recipe checks or contrasts were written: the report says they were not checked, not that they passed
    assert lines[2] == ("- **Not checked**: the recipe (no clean nll run beside a base record); power (no "
                        "pre-registered contrasts).")
    t.assign(holds=None).to_csv(tmp_path / "regimes.csv", index=False)
    assert "regime labels without a band" in warnings(tmp_path)[-1]


def test_response_checks_flag_collapse_and_show_the_constant_baseline(tmp_path):
    from deft.eval.evaluate import constant_baselines, response_checks
    from deft.report.aggregate import response_checks as table
    from deft.report.markdown import warnings

    samples = [{"target": t, "responses": [r]} for t, r in
               [("3", " 3"), ("3", " 3"), ("3", " 3"), ("4", " 3"), ("5", " 3"), ("6", " 7"), ("7", " 3"), ("8", " 3")]]
    assert response_checks(samples) == {"distinct_share": 2 / 8}
    assert constant_baselines("arithmetic", samples) == {"constant_exact_match": 3 / 8}
    assert constant_baselines("math", samples) == {}  # no embedded scorer: no baseline claimed
    r = {**record("nll", 0, 0.375), "baselines": {"constant_exact_match": 0.375}, "responses": {"distinct_share": 0.2}}
    t = table([r])
    assert bool(t.collapsed.iloc[0]) and t.constant_exact_match.iloc[0] == 0.375
    t.to_csv(tmp_path / "responses.csv", index=False)
    assert "Collapsed runs**: 1 of 1" in warnings(tmp_path)[0]


def test_collapse_is_judged_against_the_distinct_gold_answers(tmp_path):
    """Eight distinct sums among 16 items: a model that answers all eight (50% of the items) is
    not collapsed, nor would a correct model of a task with 20% distinct golds be; a single
    constant (1 of 8 golds, below 25% of them) is."""
    from deft.report.aggregate import response_checks as table

    golds = [str(10 + i % 8) for i in range(16)]
    recs = []
    for name, answers in (("nll", golds), ("neg_p", ["10"] * 16)):
        path = tmp_path / name / "record.json"
        path.parent.mkdir()
        path.write_text("{}")
        (path.parent / "samples.jsonl").write_text("".join(
            json.dumps({"doc_id": i, "target": g, "responses": [f" {a}"]}) + "\n" for i, (g, a) in enumerate(zip(golds, answers))))
        share = len(set(answers)) / len(answers)
        recs.append({**record(name, 0, 0.0), "_path": str(path), "responses": {"distinct_share": share}})
    t = table(recs).set_index("objective")
    assert t.loc["nll", "gold_distinct_share"] == pytest.approx(0.5) and not t.loc["nll", "collapsed"]
    assert t.loc["neg_p", "collapsed"]


def _base_with_samples(tmp_path, scores, regime="strong"):
    r = record("base", 0, float(np.mean(scores)), kind="base", regime=regime)
    path = tmp_path / f"base-{regime}" / "record.json"
    records.write(path, r)
    (path.parent / "samples.jsonl").write_text("".join(
        json.dumps({"task": "deft_arithmetic", "doc_id": i, "exact_match": s}) + "\n" for i, s in enumerate(scores)))
    return {**r, "_path": str(path)}


def test_recipe_checks_pair_nll_with_the_base_item_by_item(tmp_path):
    """Strong regime: what clean nll does to the prior is a finding (a loss of 0.1 here), with no
    requirement. The base (one record, no seed) is paired with every nll seed on the same items."""
    from deft.report.aggregate import item_scores
    from deft.report.tables import recipe_checks

    rng = np.random.default_rng(3)
    base = [float(rng.random() < 0.8) for _ in range(300)]
    lost = rng.random(300) < 0.125  # about a tenth of the base's hits lost
    per = {("nll", s): [float(b and not lo) for b, lo in zip(base, lost)] for s in (0, 1, 2)}
    recs = _with_samples(tmp_path, per) + [_base_with_samples(tmp_path, base)]
    t = recipe_checks(tidy(recs), item_scores(recs)).iloc[0]
    expected = np.mean(per[("nll", 0)]) - np.mean(base)
    assert t.difference == pytest.approx(expected) and t.base == pytest.approx(np.mean(base))
    assert t.n_seeds == 3 and t.n_items == 300 and t.ci_low < t.difference < t.ci_high
    assert t.requirement == "none (a finding)" and t.holds is None and t.ci_high < 0
    # the same runs labelled weak: nll must beat the base, and it does not
    weak = [{**r, "run": {**r["run"], "regime": "weak"}} for r in recs]
    w = recipe_checks(tidy(weak), item_scores(weak)).iloc[0]
    assert w.requirement == "nll beats the base" and not w.holds


def test_recipe_checks_say_whether_nll_learnt_more_than_a_constant_answer(tmp_path):
    """Weak regime, base 0 on every item: an nll that answers the most frequent sum right on its
    2% of the items beats the base, but not the best constant answer (which scores those same 2%);
    one that learnt a tenth of the items beats both. The report says when only the base is beaten."""
    from deft.report.aggregate import constant_scores, item_scores
    from deft.report.markdown import warnings
    from deft.report.tables import recipe_checks

    n, base = 300, [0.0] * 300
    frequent = [float(i % 50 == 0) for i in range(n)]  # 6 of 300 items share one gold answer
    rng = np.random.default_rng(5)
    cases = {"constant-level": frequent, "learnt": [float(f or rng.random() < 0.1) for f in frequent]}
    for name, scores in cases.items():
        recs = _with_samples(tmp_path / name, {("nll", s): scores for s in (0, 1, 2)}) + \
            [_base_with_samples(tmp_path / name, base, regime="weak")]
        recs = [{**r, "run": {**r["run"], "regime": "weak"}, "baselines": {"constant_exact_match": 6 / n}}
                for r in recs]
        assert constant_scores(recs) == {(recs[0]["run"]["backbone"], recs[0]["run"]["domain"]): 6 / n}
        t = recipe_checks(tidy(recs), item_scores(recs), constants=constant_scores(recs)).iloc[0]
        assert t.holds and t.constant == pytest.approx(6 / n)  # both beat the base at 0
        assert bool(t.beats_constant) == (name == "learnt"), (name, t.above_constant_low)
        t.to_frame().T.to_csv(tmp_path / name / "recipe_checks.csv", index=False)
        said = "\n".join(warnings(tmp_path / name))
        assert ("learns no more than a constant answer" in said) == (name == "constant-level")
    # no baseline in the records: nothing claimed either way
    t = recipe_checks(tidy(recs), item_scores(recs)).iloc[0]
    assert t.beats_constant is None and np.isnan(t.above_constant_low)


@pytest.mark.parametrize("noise_costs", [False, True])
def test_a_contrast_whose_positive_control_fails_is_not_testable(tmp_path, noise_costs):
    """Issue #26: 'deft protects a prior from noise' can only show where noise costs nll something.
    Where nll scores the same clean and noisy, the verdict is 'not testable', not 'no detectable
    difference'; where noise costs nll far more than the contrast's MDE, the verdict stands."""
    from deft.report.aggregate import item_scores
    from deft.report.tables import contrasts

    rng = np.random.default_rng(3)
    right = rng.random(400) < 0.8
    per = {("base", 0, 0.0): [float(r) for r in right]}
    for s in (0, 1, 2):
        clean = [float(r and rng.random() < 0.97) for r in right]
        per[("nll", s, 0.0)] = clean
        per[("deft", s, 0.0)] = clean
        per[("nll", s, 0.3)] = [float(c and rng.random() < 0.6) for c in clean] if noise_costs else clean
        per[("deft", s, 0.3)] = [float(c and rng.random() < 0.97) for c in clean]
    recs = _with_samples_at(tmp_path, per)
    spec = {"regime": "strong", "noise_rate": 0.3, "a": "deft", "b": "nll",
            "control": {"kind": "noise_cost", "objective": "nll"}}
    learns = {"regime": "strong", "noise_rate": 0.0, "a": "deft", "b": "nll",
              "control": {"kind": "beats_base", "objective": "nll"}}
    t = contrasts(tidy(recs), item_scores(recs), [spec, learns], mde_target=0.05)
    row, base_row = t.iloc[0], t.iloc[1]
    assert row.control == "noise_cost (nll)" and row.n_items == 400
    if noise_costs:
        assert row.control_holds and row.control_ci_low > 0 and row.control_value >= 2 * row.mde
        assert row.verdict == "better"
    else:
        assert row.control_value == 0 and not row.control_holds
        assert row.verdict.startswith("not testable: the control does not hold (nll clean - nll noisy > 0")
        assert row.ci_low < 0 < row.ci_high or row.difference > 0  # the numbers are still reported
    # clean nll is worse than the base here (it loses 3% of the right answers): nothing to learn, not testable
    assert base_row.control == "beats_base (nll)" and not base_row.control_holds and base_row.control_value < 0
    assert base_row.verdict.startswith("not testable")
    from deft.report.markdown import warnings

    (tmp_path / "tables").mkdir()
    t.to_csv(tmp_path / "tables" / "contrasts.csv", index=False)
    said = [w for w in warnings(tmp_path / "tables") if w.startswith("- **Not testable**")]
    assert len(said) == 1 + (not noise_costs)
    assert "deft - nll (strong, noise 0.0): its control beats_base (nll) needs nll clean - base > 0: measured -" in said[-1]
    assert "nan" not in said[-1]  # an undefined MDE (deft and nll identical on clean data) is left out


def test_a_forgetting_contrast_needs_nll_to_forget(tmp_path):
    """Claim 3 (DEFT forgets less): a run-level, lower-is-better metric, one value per seed. The
    control above_zero asks nll's own forgetting rate to be above 0; where nll forgets nothing the
    contrast is not testable, and 'preregistered: false' is carried into the table."""
    from deft.report.tables import contrasts

    def recs(nll_rates):
        out = []
        for s, r in enumerate(nll_rates):
            out += [record("nll", s, r, metric="token_forgetting_rate"),
                    record("deft", s, r / 2, metric="token_forgetting_rate")]
        return tidy(out)

    spec = {"regime": "strong", "noise_rate": 0.0, "a": "deft", "b": "nll", "metric": "token_forgetting_rate",
            "preregistered": False, "control": {"kind": "above_zero", "objective": "nll"}}
    forgets = contrasts(recs([0.20, 0.22, 0.18]), None, [spec]).iloc[0]
    assert forgets.control == "above_zero (nll)" and forgets.control_holds and forgets.control_ci_low > 0
    assert forgets.verdict == "better" and forgets.preregistered == False and forgets.n_items == 1  # noqa: E712
    none = contrasts(recs([0.0, 0.0, 0.0]), None, [spec]).iloc[0]
    assert not none.control_holds and none.verdict.startswith("not testable: the control does not hold "
                                                               "(nll token_forgetting_rate > 0)")


def test_a_control_is_measured_on_the_seeds_its_contrast_pairs(tmp_path):
    """A cell that runs more seeds for another contrast (analysis.contrasts[].seeds: clean nll for the
    strong noise contrast) must not lend a 3-seed contrast a control measured on 20: here nll forgets
    nothing on the 3 seeds deft has and a lot on the 4 more, and the control reads only the 3."""
    from deft.report.tables import contrasts

    rows = [record("nll", s, 0.0 if s < 3 else 0.3, metric="token_forgetting_rate") for s in range(7)]
    rows += [record("deft", s, 0.0, metric="token_forgetting_rate") for s in range(3)]
    spec = {"regime": "strong", "noise_rate": 0.0, "a": "deft", "b": "nll", "metric": "token_forgetting_rate",
            "control": {"kind": "above_zero", "objective": "nll"}}
    row = contrasts(tidy(rows), None, [spec]).iloc[0]
    assert row.n_seeds == 3 and row.control_value == 0 and not row.control_holds
    assert row.verdict.startswith("not testable")
    # with deft on all 7 seeds the control reads all 7 (nll forgets 0.3 on 4 of them)
    rows += [record("deft", s, 0.0, metric="token_forgetting_rate") for s in range(3, 7)]
    row = contrasts(tidy(rows), None, [spec]).iloc[0]
    assert row.n_seeds == 7 and row.control_value == pytest.approx(0.3 * 4 / 7)


def test_sharpening_is_measured_on_the_tokens_the_base_already_held(tmp_path):
    """Claim 4: -log p of the test tokens the base predicted at p >= 0.9, per token and record; a
    token the base did not hold is left out; the headroom control asks nll to leave room."""
    from deft.report.aggregate import confident_tokens, sharpening
    from deft.report.tables import contrasts

    base_p = [0.95, 0.99, 0.5, 0.92] * 25  # 75 held tokens, 25 not
    rng = np.random.default_rng(0)
    rows, recs = [], [record("base", 0, 0.5, kind="base")]
    for pos, p in enumerate(base_p):
        rows.append({"model": "base", "objective": "nll", "seed": 0, "p_y": p, "position": pos})
    for s in (0, 1, 2):
        for obj, shift in (("nll", 0.0), ("deft", 0.5)):  # deft removes half of nll's remaining error
            recs.append(record(obj, s, 0.8))
            for pos, p in enumerate(base_p):
                after = 1 - (1 - p) * rng.uniform(0.5, 0.7) * (1 - shift)
                rows.append({"model": obj, "objective": obj, "seed": s, "p_y": after, "position": pos})
    tokens = pd.DataFrame(rows).assign(regime="strong", backbone="b", domain="arithmetic", noise_kind="none",
                                       noise_rate=0.0, example="ex")
    runs_rows, items = confident_tokens(tokens, tidy(recs))
    assert set(items.item.str.split(":").str[1].astype(int)) == {i for i, p in enumerate(base_p) if p >= 0.9}
    assert len(runs_rows) == 7 and set(runs_rows.metric) == {"confident_token_nll"}
    nll0 = items[(items.objective == "nll") & (items.seed == 0)]
    assert runs_rows[(runs_rows.objective == "nll") & (runs_rows.seed == 0)].value.iloc[0] == pytest.approx(nll0.value.mean())
    table = sharpening(items)
    assert list(table.objective) == ["base", "nll", "deft"] and (table.tokens == 75).all()
    assert table.set_index("objective").mean_p["deft"] > table.set_index("objective").mean_p["nll"] > table.mean_p[0]
    spec = {"regime": "strong", "noise_rate": 0.0, "a": "deft", "b": "nll", "metric": "confident_token_nll",
            "control": {"kind": "headroom", "objective": "nll"}}
    row = contrasts(pd.concat([tidy(recs), runs_rows]), items, [spec]).iloc[0]
    assert row.n_items == 75 and row.verdict == "better" and row.control_holds  # nll left room, deft took it
    saturated = items.assign(value=np.where(items.objective == "nll", 1e-9, items.value))
    row = contrasts(pd.concat([tidy(recs), runs_rows]), saturated, [spec]).iloc[0]
    assert not row.control_holds and row.verdict.startswith("not testable")
