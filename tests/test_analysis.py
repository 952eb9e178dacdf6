"""Token statistics, confident-conflict shares and the forgetting rate on inputs with known answers."""
import math

import pandas as pd
import pytest
import torch

from deft.analysis import conflict_shares, forgetting_rate, token_stats
from deft.train import encode


def test_forgetting_rate_counts_only_previously_correct_tokens():
    before = [True, True, True, True, False, False]
    after = [True, False, True, False, True, False]
    assert forgetting_rate(before, after) == 0.5
    assert math.isnan(forgetting_rate([False], [True]))
    with pytest.raises(ValueError):
        forgetting_rate([True], [True, False])


def test_conflict_shares_split_the_gate_mass():
    stats = pd.DataFrame({"example": ["a", "a", "b", "c"], "gate_nll": [1.0, 1.0, 1.0, 1.0],
                          "gate_deft": [0.1, 0.1, 0.4, 0.4]})
    t = conflict_shares(stats, {"a"}, ["nll", "deft"]).set_index("objective")
    assert t.loc["nll", "gate_share_corrupted"] == 0.5 and t.loc["nll", "token_share_corrupted"] == 0.5
    assert t.loc["deft", "gate_share_corrupted"] == pytest.approx(0.2)
    assert t.loc["deft", "gate_share_clean"] == pytest.approx(0.8)


def test_token_stats_match_the_losses_on_a_tiny_model(tiny_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import deft.losses as L

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    examples = [{"id": "x", "prompt": "Calculate 2 + 2.", "answer": "4"},
                {"id": "y", "prompt": "Say something long please.", "answer": "12345"}]
    stats = token_stats(model, tok, examples, {"nll": {}, "deft": {}}, batch=2)
    assert list(stats.example) == ["x", "x", "y", "y", "y", "y", "y", "y"]  # answer tokens + end of turn
    assert (stats.gate_nll == 1).all()
    assert ((stats.p_y > 0) & (stats.p_y < 1)).all() and (stats.entropy > 0).all()
    # the gradient magnitude is gate * ||pi - e_y||: for nll it is the norm of the logit gradient
    x = torch.tensor(stats.grad_nll.to_numpy())
    assert ((x > 0) & (x < math.sqrt(2))).all()
    ids, labels = encode(tok, examples[0]["prompt"], "4")
    logits = model(input_ids=torch.tensor([ids])).logits[0, :-1]
    y = torch.tensor(labels[1:])
    w = L.gate("deft", logits[y != -100], y[y != -100])
    assert torch.allclose(torch.tensor(stats.gate_deft.to_numpy()[:2]).double(), w.double(), atol=1e-6)
