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
    (["s0", "s1"], ["s1", "d0"], "share examples: the label split must be held out of the stop"),
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
