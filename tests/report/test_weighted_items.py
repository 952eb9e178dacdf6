"""Intervals estimate the number the table shows: per-item weights for the paper's unweighted means
over sets (math) and sources (the m1 file), and a record whose items do not give its number is refused."""
import json

import numpy as np
import pandas as pd
import pytest

from deft.eval.items import item_metrics, item_weights
from deft.report.aggregate import item_scores
from deft.report.tables import cells

MATH_SETS = ["deft_math500", "deft_minerva_math", "deft_olympiadbench", "deft_aime24", "deft_amc23"]


def test_paper_metrics_say_how_their_number_is_built():
    math = item_metrics(["deft_math"], ["avg_at_k"])
    assert math == {"avg_at_k": {"tasks": MATH_SETS, "key": "avg_at_k", "strata": "task"}}
    med = item_metrics(["deft_medical_m1", "deft_medical"], ["acc", "acc_items", "deft_medical/acc"])
    assert med["acc"] == {"tasks": ["deft_medical_m1"], "key": "acc_items", "strata": "source"}
    assert med["acc_items"] == {"tasks": ["deft_medical_m1"], "key": "acc_items", "strata": None}
    assert med["deft_medical/acc"]["strata"] == "task" and len(med["deft_medical/acc"]["tasks"]) == 4
    assert item_metrics(["deft_arithmetic"], ["exact_match"])["exact_match"]["strata"] is None


def test_weights_give_the_unweighted_mean_over_sets():
    # 3 items of one set (all right), 1 of another (wrong): the set mean is (1 + 0) / 2, not 3 / 4
    samples = [{"task": "a", "doc_id": i, "avg_at_k": 1.0} for i in range(3)] + [{"task": "b", "doc_id": 0, "avg_at_k": 0.0}]
    rows = item_weights(samples, {"tasks": ["a", "b"], "key": "avg_at_k", "strata": "task"}, "avg_at_k")
    assert [w for *_, w in rows] == pytest.approx([1 / 6, 1 / 6, 1 / 6, 1 / 2])
    assert sum(v * w for _, v, w in rows) == pytest.approx(0.5)
    plain = item_weights(samples, None, "avg_at_k")  # a record without the spec: equal weights
    assert sum(v * w for _, v, w in plain) == pytest.approx(0.75)


def _record(tmp_path, seed, metrics, samples, spec):
    folder = tmp_path / f"seed{seed}"
    folder.mkdir()
    (folder / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    return {"_path": str(folder / "record.json"), "kind": "run", "metrics": metrics, "eval": {"item_metrics": spec},
            "run": {"regime": "r", "backbone": "b", "domain": "medical-llama", "objective": "deft",
                    "noise_kind": "none", "noise_rate": 0.0, "seed": seed}}


def test_m1_accuracy_is_scored_on_m1_items_by_source_not_on_the_hub_sets(tmp_path):
    spec = item_metrics(["deft_medical_m1", "deft_medical"], ["acc", "deft_medical/acc"])
    m1 = [{"task": "deft_medical_m1", "doc_id": i, "acc_items": float(i < 2), "source": "MedQA" if i < 3 else "PubMedQA"}
          for i in range(4)]  # MedQA 2/3, PubMedQA 0/1: the number is (2/3 + 0) / 2
    hub = [{"task": t, "doc_id": 0, "acc": 1.0} for t in spec["deft_medical/acc"]["tasks"]]
    rec = _record(tmp_path, 0, {"acc": 1 / 3, "deft_medical/acc": 1.0}, m1 + hub, spec)
    items = item_scores([rec])
    acc = items[items.metric == "acc"]
    assert set(acc.item) == {f"deft_medical_m1:{i}" for i in range(4)}
    assert (acc.value * acc.weight).sum() == pytest.approx(1 / 3)
    bad = _record(tmp_path, 1, {"acc": 0.5, "deft_medical/acc": 1.0}, m1 + hub, spec)
    with pytest.raises(ValueError, match="items of 'acc' average 0.333333, the record says 0.500000"):
        item_scores([bad])


def test_cell_mean_is_the_unweighted_mean_of_the_sets(tmp_path):
    spec = {"avg_at_k": {"tasks": ["a", "b"], "key": "avg_at_k", "strata": "task"}}
    recs = []
    for seed, b_score in ((0, 0.0), (1, 1.0)):
        samples = [{"task": "a", "doc_id": i, "avg_at_k": 1.0} for i in range(3)] + \
                  [{"task": "b", "doc_id": 0, "avg_at_k": b_score}]
        recs.append(_record(tmp_path, seed, {"avg_at_k": (1 + b_score) / 2}, samples, spec))
    items = item_scores(recs)
    runs = pd.DataFrame([{**r["run"], "kind": "run", "metric": "avg_at_k", "value": r["metrics"]["avg_at_k"]} for r in recs])
    c = cells(runs, items).iloc[0]
    assert c["mean"] == pytest.approx(0.75)  # (0.5 + 1.0) / 2, the records' numbers; pooled items would say 0.875
    assert c.ci_low < 0.75 < c.ci_high and np.isfinite(c.ci_low)


def test_a_constant_nonzero_difference_gets_its_sign_flagged_exact():
    from deft.report.tables import _fmt, _verdict

    a, b = np.ones((3, 8)), np.zeros((3, 8))  # every item right vs every item wrong: no variance at all
    assert _verdict("exact_match", 1.0, np.nan, np.nan, a, b) == "better (exact)"
    assert _verdict("exact_match", -1.0, np.nan, np.nan, b, a) == "worse (exact)"
    assert _verdict("exact_match", 0.0, np.nan, np.nan, a, a) == "identical"
    assert _fmt(0.5, np.nan, np.nan) == "0.500 (no interval)"


def test_contrasts_say_each_seeds_difference_and_whether_they_agree():
    from deft.report.tables import _seed_differences, _seeds_agree

    b = np.zeros((3, 4))
    a = np.array([[-1, 0, 0, 0], [-1, -1, 0, 0], [0, 0, 0, -1]], dtype=float)  # every seed favours b
    assert _seed_differences(a, b) == "-0.25 -0.5 -0.25" and _seeds_agree(a, b) is True
    a[2] = 1.0
    assert _seeds_agree(a, b) is False and _seeds_agree(a[:1], b[:1]) is None


def test_a_response_that_fills_the_budget_is_counted_as_not_stopped(tiny_model):
    from transformers import AutoTokenizer

    from deft.eval.evaluate import response_checks

    tok = AutoTokenizer.from_pretrained(tiny_model)
    cut = "1 2 3 4 5 6 7 8 9 10 11 12"
    budget = len(tok(cut, add_special_tokens=False)["input_ids"])
    samples = [{"responses": [cut]}, {"responses": ["42"]}, {"responses": ["7", cut]}]  # 2 of 4 responses cut
    assert response_checks(samples, tok, budget)["did_not_stop"] == 0.5
    assert "did_not_stop" not in response_checks(samples)  # no tokenizer: not claimed
