"""A prior build stops on one split and is labelled on another (issue #26: the split that chose the
stopping step reported its own lucky draw as the label). Both are refused before any model loads
when they are missing or overlap."""
import json

import pytest

from deft.train.prior import build


def _write(path, ids):
    path.write_text("".join(json.dumps({"id": i, "domain": "arithmetic", "prompt": "1 + 1 =", "answer": "2"}) + "\n"
                            for i in ids))
    return path


@pytest.mark.parametrize("stop_ids,dev_ids,match", [
    (["s0", "s1"], ["s1", "d0"], "share 1 problems .*: the label split must be held out of the stop"),
    ([], ["d0"], r"needs a non-empty stopping split \(.*prior_stop.jsonl: 0 examples\)"),
    (["s0"], [], r"label split \(.*prior_dev.jsonl: 0\)"),
])
def test_a_stop_split_that_is_empty_or_overlaps_the_label_split_is_refused_before_loading(tmp_path, stop_ids, dev_ids,
                                                                                        match):
    stop, dev = _write(tmp_path / "prior_stop.jsonl", stop_ids), _write(tmp_path / "prior_dev.jsonl", dev_ids)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=match):
        build(tmp_path / "no-such-backbone", tmp_path / "prior.jsonl", stop, dev, out, tmp_path / "log.jsonl",
              tmp_path / "summary.json", {"train": {}, "eval_every": 1, "target": 0.5}, score=None)
    assert not out.exists()


def test_the_label_is_the_saved_backbone_on_prior_dev_and_the_stop_value_stays_in_its_history(tmp_path, monkeypatch):
    """The stopping check sees only prior_stop; after the build, the model loaded from the saved
    folder (what every later stage loads) is scored once on prior_dev, and that is the label."""
    import transformers

    import deft.train.prior as prior

    stop = _write(tmp_path / "prior_stop.jsonl", ["s0", "s1"])
    dev = tmp_path / "prior_dev.jsonl"
    dev.write_text("".join(json.dumps({"id": f"d{i}", "domain": "arithmetic", "prompt": f"{i} + 5 =", "answer": "x"})
                           + "\n" for i in range(4)))
    out = tmp_path / "out"
    seen = []

    def fake_accuracy(model, tokenizer, examples, score, max_new_tokens=None):
        seen.append((model, [e["id"] for e in examples]))
        return 0.9 if examples[0]["id"].startswith("s") else 0.25  # the stop split draws high

    def fake_train(base_dir, data, out_dir, log, settings, stop_check):
        check, every, target = stop_check
        assert (every, target, settings["objective"]) == (16, 0.85, "nll")
        return {"stop_history": [{"step": 16, "value": check("training model")}]}

    monkeypatch.setattr(prior, "greedy_accuracy", fake_accuracy)
    monkeypatch.setattr(prior, "train", fake_train)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda path: "tokenizer")
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", lambda path: f"loaded from {path}")
    summary = build(tmp_path / "base", tmp_path / "prior.jsonl", stop, dev, out, tmp_path / "log.jsonl",
                    tmp_path / "summary.json", {"train": {}, "eval_every": 16, "target": 0.85}, score=None)
    assert seen == [("training model", ["s0", "s1"]), (f"loaded from {out}", ["d0", "d1", "d2", "d3"])]
    assert summary["prior_dev"] == {"exact_match": 0.25, "examples": 4}
    assert summary["stop_history"] == [{"step": 16, "value": 0.9}] and summary["reached_target"] is True
    assert summary["stop_split"] == {"name": "prior_stop", "examples": 2}
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
