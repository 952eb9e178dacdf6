"""Token statistics, confident-conflict shares and the forgetting rate on inputs with known answers."""
import math

import pandas as pd
import pytest
import torch

from deft.eval.analysis import conflict_shares, token_classes, token_stats
from deft.eval.forgetting import forgetting_rate
from deft.train.trainer import encode


def test_prior_task_delta_counts_only_answers_the_base_reproduced():
    """An own answer cut by the generation budget is one the base never reproduces (its end of
    turn is not the arg-max): over all examples it would shrink a total loss of -1 to -0.375."""
    from deft.eval.forgetting import held_delta

    before = {"exact": [True] * 3 + [False] * 5}
    assert held_delta(before, {"exact": [False] * 8}) == -1.0
    assert held_delta(before, {"exact": [True, False, True] + [True] * 5}) == pytest.approx(-1 / 3)
    assert math.isnan(held_delta({"exact": [False, False]}, {"exact": [True, True]}))
    with pytest.raises(ValueError, match="reference examples differ"):
        held_delta(before, {"exact": [True]})


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


def test_conflict_shares_split_the_gradient_norm_by_token_class():
    stats = pd.DataFrame({"example": ["a", "a", "a", "b", "b"],
                          "token_class": ["changed", "unchanged", "end", "clean", "clean"],
                          "gate_nll": [1.0] * 5, "grad_nll": [1.0, 0.2, 0.3, 0.5, 1.0],
                          "gate_deft": [0.1, 0.9, 0.9, 0.5, 0.5], "grad_deft": [0.1, 0.1, 0.2, 0.3, 0.3]})
    t = conflict_shares(stats, {"a"}, ["nll", "deft"]).set_index("objective")
    assert t.loc["nll", "token_share_changed"] == 0.2 and t.loc["nll", "grad_share_changed"] == pytest.approx(1 / 3)
    assert t.loc["deft", "grad_share_changed"] == pytest.approx(0.1)
    assert t.loc["deft", "grad_share_end"] == pytest.approx(0.2)
    assert t.loc["deft", "grad_share_corrupted"] == pytest.approx(0.4)
    # the gate mass counts every token of the corrupted example, the end of turn included
    assert t.loc["deft", "gate_share_corrupted"] == pytest.approx(1.9 / 2.9)


def test_token_classes_mark_the_changed_answer_tokens(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    e = {"id": "x", "prompt": "Calculate 40 + 5.", "answer": "12395"}
    assert [tok.decode([t]) for t in encode(tok, e["prompt"], "12395")[1] if t != -100][:5] == list("12395")
    assert token_classes(tok, e, "12345") == ["unchanged"] * 3 + ["changed", "unchanged", "end"]
    assert token_classes(tok, e, "45") == ["changed"] * 5 + ["end"]  # shorter original: the rest is new
    assert token_classes(tok, e, None) == ["clean"] * 6
    # the compact raw format trains `target` (" 12395" + EOS): the original is rebuilt there too
    raw = {"id": "y", "prompt": "40 + 5 =", "answer": "12395", "target": " 12395", "format": "raw"}
    classes = token_classes(tok, raw, "12345")
    assert classes.count("changed") == 1 and classes[-1] == "end" and classes.count("unchanged") == 4


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


class Bigram(torch.nn.Module):
    """A model whose next token is a fixed function of the current one (else token 0), shaped as a
    causal LM is: ``model`` (hidden states: the next token, one-hot) then ``lm_head``."""

    def __init__(self, table: dict, vocab: int):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # for the device lookup
        self.table, self.vocab = table, vocab
        self.model = lambda input_ids, attention_mask=None: type("Out", (), {"last_hidden_state": self.hidden(input_ids)})
        self.lm_head = lambda h: 10.0 * h

    def hidden(self, input_ids):
        nxt = torch.tensor([[self.table.get(int(t), 0) for t in row] for row in input_ids])
        return torch.nn.functional.one_hot(nxt, self.vocab).float()

    def forward(self, input_ids, attention_mask=None):
        return type("Out", (), {"logits": self.lm_head(self.hidden(input_ids))})


def test_exact_match_without_generating_equals_greedy_generation(tiny_model, tmp_path):
    """A model that greedily answers "12" then ends its turn: teacher-forced hits say exact on "12",
    not on "13" or "1" (which greedy decoding would not stop after)."""
    import json

    from transformers import AutoTokenizer

    from deft.eval.forgetting import reference_hits, task_accuracy

    tok = AutoTokenizer.from_pretrained(tiny_model)
    prompt = "Calculate 5 + 7."
    ids, labels = encode(tok, prompt, "12")
    start = labels.index(next(t for t in labels if t != -100)) - 1  # last prompt token
    chain = ids[start:]  # last prompt token, the answer's tokens, end of turn
    assert len(set(chain)) == len(chain)
    model = Bigram(dict(zip(chain, chain[1:])), len(tok))
    seq = ids[: start + 1]
    while len(seq) < len(ids) + 3 and seq[-1] != tok.eos_token_id:  # greedy decoding
        seq.append(int(model(torch.tensor([seq])).logits[0, -1].argmax()))
    assert tok.decode(seq[start + 1:]) == "12" + tok.eos_token
    rows = [{"id": a, "prompt": prompt, "answer": a} for a in ("12", "13", "1")]
    (tmp_path / "ref.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    hits = reference_hits(model, tok, tmp_path / "ref.jsonl")
    assert hits["exact"] == [True, False, False]
    assert task_accuracy(hits) == pytest.approx(1 / 3)
    assert len(hits["top1"]) == sum(len([t for t in encode(tok, prompt, a)[1] if t != -100]) for a in ("12", "13", "1"))


def test_token_stats_from_cached_lower_states_equal_the_full_forward(tiny_model):
    """The analyses of a partially fine-tuned run reuse the lower blocks' states: same numbers as
    the full forward, reused only for a model whose lower weights are the same bit for bit."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from deft.train import trunk

    trunk._CACHE.clear()  # counts below are of this test's entries (the cache holds at most 8)
    tok = AutoTokenizer.from_pretrained(tiny_model)
    examples = [{"id": f"e{i}", "prompt": f"Calculate {i} + {i + 3}.", "answer": str(2 * i + 3)} for i in range(6)]
    objectives = {"nll": {}, "deft": {}}

    def model(seed=None, block=None):
        m = AutoModelForCausalLM.from_pretrained(tiny_model)
        if block is not None:  # what fine-tuning of that block would do
            torch.manual_seed(seed)
            w = m.model.layers[block].mlp.up_proj.weight
            w.data += 0.5 * torch.randn_like(w)
        return m

    for lower_changed in (False, True):
        m = model(1, 0 if lower_changed else -1)
        full = token_stats(m, tok, examples, objectives, batch=4)
        n = len(trunk._CACHE)
        top = token_stats(m, tok, examples, objectives, batch=4, top_blocks=1)
        pd.testing.assert_frame_equal(full, top, rtol=1e-5, atol=1e-6)
        assert len(trunk._CACHE) == n + 1
    # a second "run" fine-tuned in the top block only hits the cache of the first and is still right
    n = len(trunk._CACHE)
    other = model(2, -1)
    top = token_stats(other, tok, examples, objectives, batch=4, top_blocks=1)
    assert len(trunk._CACHE) == n
    pd.testing.assert_frame_equal(token_stats(other, tok, examples, objectives, batch=4), top, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="top_blocks=9"):
        token_stats(other, tok, examples, objectives, top_blocks=9)


def test_token_analyses_encode_as_training_does_with_a_family_wrapper(tiny_model):
    """At paper scale Llama math trains inside the family's raw wrapper, not the chat template:
    the token statistics (gradient maps, confident conflicts) must score that encoding."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from deft.train.trainer import encode_example

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    e = {"id": "x", "prompt": "What is 2 + 2?", "answer": "4"}
    wrapper = "llama-base-boxed-with-bos"
    ids, labels = encode_example(tok, e, wrapper)
    assert ids != encode_example(tok, e)[0]  # the wrapper changes what the model is given
    stats = token_stats(model, tok, [e], {"nll": {}}, wrapper=wrapper)
    logits = model(input_ids=torch.tensor([ids])).logits[0, :-1]
    y = torch.tensor(labels[1:])
    p = torch.softmax(logits[y != -100], -1).gather(-1, y[y != -100][:, None]).squeeze(-1)
    assert torch.allclose(torch.tensor(stats.p_y.to_numpy()).double(), p.double(), atol=1e-6)
    assert len(token_classes(tok, e, "5", wrapper)) == len(stats)
