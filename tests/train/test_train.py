"""Trainer glue: prompt masking, no truncation, global token normalisation, step logs, resume."""
import json

import pytest
import torch

from deft.train.trainer import HeadBypass, ObjectiveLoss, encode, tokenize_examples, train, warmup_factor


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def test_encode_masks_the_prompt_and_trains_on_answer_plus_end_of_turn(tokenizer):
    ids, labels = encode(tokenizer, "Calculate 4 - 1.\nAnswer with only the final answer.", "3")
    n_prompt = sum(label == -100 for label in labels)
    assert labels[:n_prompt] == [-100] * n_prompt and -100 not in labels[n_prompt:]
    assert tokenizer.decode(ids[n_prompt:]) == "3<|im_end|>"
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Calculate 4 - 1.\nAnswer with only the "
                                             "final answer."}], add_generation_prompt=True, tokenize=False)
    assert tokenizer.decode(ids[:n_prompt]) == prompt  # the same template lm-eval applies
    assert "You are a helpful AI assistant" in prompt


def test_long_examples_are_dropped_never_truncated(tokenizer):
    ex = [{"prompt": "short", "answer": "1"}, {"prompt": "long " * 300, "answer": "2"}]
    rows, dropped = tokenize_examples(tokenizer, ex, max_len=64)
    assert dropped == 1 and len(rows) == 1
    assert tokenizer.decode([t for t in rows[0]["labels"] if t != -100]) == "1<|im_end|>"
    with pytest.raises(ValueError, match="no training example fits max_len=4"):
        tokenize_examples(tokenizer, ex, max_len=4)


class Out:
    def __init__(self, logits):
        self.logits = logits


def test_loss_is_normalised_by_the_steps_token_count_across_micro_batches():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 6, 9, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 9, (4, 6), generator=g)
    labels[:, :2] = -100
    labels[0, 2:5] = -100  # micro-batches with different numbers of response tokens
    fn = ObjectiveLoss("deft", {})
    whole = fn(Out(logits), labels)
    n = (labels[:, 1:] != -100).sum()
    halves = fn(Out(logits[:2]), labels[:2], n) + fn(Out(logits[2:]), labels[2:], n)
    assert torch.allclose(whole, halves, atol=1e-12)
    per_micro_mean = (fn(Out(logits[:2]), labels[:2]) + fn(Out(logits[2:]), labels[2:])) / 2
    assert not torch.allclose(whole, per_micro_mean)  # what the reference code computes


def test_thresholded_objective_divides_by_kept_tokens():
    logits = torch.tensor([[[5.0, 0, 0], [5.0, 0, 0], [0.0, 0, 0], [0.0, 0, 0]]], dtype=torch.float64)
    labels = torch.tensor([[-100, 0, 0, 1]])  # shifted targets: p = 0.987, 0.987 ... and 1/3
    fn = ObjectiveLoss("only_top_p", {"tau": 0.5})
    p = torch.softmax(logits[0, :3], -1)[torch.arange(3), torch.tensor([0, 0, 1])]
    expected = ((1 - p[0]) + (1 - p[1])) / 2
    assert torch.allclose(fn(Out(logits), labels), expected)
    assert fn.summary()["kept_fraction"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("path", ["linear", "logits"])
@pytest.mark.parametrize("objective,params", [("nll", {}), ("deft", {}), ("cayley", {}), ("only_top_p", {"tau": 0.3})])
def test_head_only_at_counted_positions_equals_the_full_head(path, objective, params):
    """The loss and the gradients w.r.t. hidden states and head weight are those of the full
    [tokens x vocab] logits, though the head runs only where a response token is counted."""
    g = torch.Generator().manual_seed(1)
    hidden = torch.randn(3, 7, 5, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(11, 5, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 11, (3, 7), generator=g)
    labels[:, :4] = -100  # prompt
    labels[1, 6] = -100  # padding
    n = (labels[:, 1:] != -100).sum()
    full = ObjectiveLoss(objective, params)(Out(hidden @ weight.T), labels, n)
    grads_full = torch.autograd.grad(full, (hidden, weight))
    head = torch.nn.Linear(5, 11, bias=False)
    head.weight = torch.nn.Parameter(weight.detach().clone())
    counted_fn = ObjectiveLoss(objective, params, HeadBypass(head), chunk_size=2, path=path)
    h2 = hidden.detach().clone().requires_grad_(True)
    counted = counted_fn(Out(h2), labels, n)
    grads = torch.autograd.grad(counted, (h2, head.weight))
    assert torch.allclose(full, counted, atol=1e-12)
    for a, b in zip(grads_full, grads):
        assert torch.allclose(a, b, atol=1e-12)
    assert counted_fn.summary()["response_tokens"] == int(n)


def test_warm_up_never_runs_a_step_at_learning_rate_zero(tiny_model, tmp_path):
    assert [warmup_factor(s, 3) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert [warmup_factor(s, 4, "zero") for s in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]  # verl's
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    lrs = []
    from transformers import TrainerCallback

    class Grab(TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, optimizer=None, **kw):
            lrs.append(optimizer.param_groups[0]["lr"])

    train(tiny_model, data, tmp_path / "m", tmp_path / "l.jsonl",
          {"batch_size": 2, "max_steps": 4, "warmup_ratio": 0.5, "learning_rate": 1e-3}, callbacks=[Grab()])
    assert lrs[0] == pytest.approx(1e-3 / 3) and lrs[1] == pytest.approx(2e-3 / 3) and lrs[2] == pytest.approx(1e-3)
    assert lrs[3] < lrs[2]  # cosine decay after the warm-up
    lrs.clear()  # the authors' (verl's) warm-up, realised by the scheduler: the first step at rate 0
    train(tiny_model, data, tmp_path / "z", tmp_path / "z.jsonl", {"batch_size": 2, "max_steps": 4, "warmup_ratio": 0.5,
          "learning_rate": 1e-3, "warmup_start": "zero"}, callbacks=[Grab()])
    assert lrs[:3] == [0.0, pytest.approx(5e-4), pytest.approx(1e-3)]


def test_partial_fine_tuning_changes_only_the_top_blocks(tiny_model, tmp_path):
    from safetensors.torch import load_file

    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    train(tiny_model, data, tmp_path / "m", tmp_path / "l.jsonl", {"batch_size": 4, "max_steps": 2, "train_blocks": 1})
    before, after = load_file(tiny_model / "model.safetensors"), load_file(tmp_path / "m" / "model.safetensors")
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    n_layers = 1 + max(int(k.split(".")[2]) for k in before if ".layers." in k)
    assert changed and all(k.startswith(f"model.layers.{n_layers - 1}.") or k == "model.norm.weight" for k in changed)
    with pytest.raises(ValueError, match="train_blocks=99 is not allowed; allowed: 1..2"):
        train(tiny_model, data, tmp_path / "x", tmp_path / "x.jsonl", {"max_steps": 1, "train_blocks": 99})


def _rows(n=8):
    answers = ["1", "12345", "7", "999999", "42", "3", "123", "8"]
    return [{"id": str(i), "domain": "arithmetic", "prompt": f"Calculate {i}.", "answer": answers[i % 8]}
            for i in range(n)]


def _grad_of_first_step(tiny_model, tmp_path, batch, accum, name, rows=None, block=0, **settings):
    """The gradient of one weight of ``layers[block]`` just before the first optimizer step (on
    ``rows``, default ``_rows()``); ``settings`` may train on after that step."""
    from transformers import TrainerCallback

    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in (rows or _rows())))
    grads = []

    class Grab(TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, model=None, **kw):
            if not grads:
                grads.append(model.model.layers[block].mlp.up_proj.weight.grad.clone())

    train(tiny_model, data, tmp_path / name, tmp_path / f"{name}.jsonl",
          {"objective": "deft", "batch_size": batch, "grad_accum": accum, "max_steps": 1, "max_grad_norm": 1e9,
           **settings},
          callbacks=[Grab()])
    return grads[0]


def test_gradient_is_independent_of_the_micro_batch_split(tiny_model, tmp_path):
    g1 = _grad_of_first_step(tiny_model, tmp_path, batch=4, accum=1, name="a")
    g2 = _grad_of_first_step(tiny_model, tmp_path, batch=2, accum=2, name="b")
    assert torch.allclose(g1, g2, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("objective", ["deft", "cayley"])
def test_linear_and_logits_paths_give_the_same_gradient(tiny_model, tmp_path, objective):
    g1 = _grad_of_first_step(tiny_model, tmp_path, 4, 1, "lin", loss_path="linear", chunk_size=7, objective=objective)
    g2 = _grad_of_first_step(tiny_model, tmp_path, 4, 1, "log", loss_path="logits", objective=objective)
    assert torch.allclose(g1, g2, rtol=1e-4, atol=1e-7)


def test_gradient_checkpointing_gives_the_same_gradient(tiny_model, tmp_path):
    g1 = _grad_of_first_step(tiny_model, tmp_path, 4, 1, "plain")
    g2 = _grad_of_first_step(tiny_model, tmp_path, 4, 1, "ckpt", gradient_checkpointing=True)
    assert torch.allclose(g1, g2, rtol=1e-4, atol=1e-7)


def test_saved_model_is_an_ordinary_causal_lm(tiny_model, tmp_path):
    from safetensors.torch import load_file

    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    train(tiny_model, data, tmp_path / "m", tmp_path / "l.jsonl", {"batch_size": 4, "max_steps": 2})
    before, after = load_file(tiny_model / "model.safetensors"), load_file(tmp_path / "m" / "model.safetensors")
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_training_writes_a_json_line_per_step_and_a_model(tiny_model, tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    summary = train(tiny_model, data, tmp_path / "model", tmp_path / "log.jsonl",
                    {"objective": "cayley", "batch_size": 2, "seed": 1})
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2, 3, 4] == list(range(1, summary["steps"] + 1))
    for key in ("objective_value", "nll", "mean_p", "mean_gate", "mean_a", "grad_norm", "learning_rate",
                "tokens_per_s"):
        assert all(key in x and x[key] is not None for x in lines), key
    assert 0 < lines[0]["mean_a"] <= 1 and 0 < lines[0]["mean_p"] < 1
    assert (tmp_path / "model" / "model.safetensors").exists()
    assert not (tmp_path / "model.work").exists()


def test_bad_settings_fail_before_work(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="unknown training setting\\(s\\) \\['lr'\\]"):
        train(tiny_model, tmp_path / "none.jsonl", tmp_path / "m", tmp_path / "l", {"lr": 1})
    with pytest.raises(ValueError, match="unknown objective 'cross_entropy'"):
        train(tiny_model, tmp_path / "none.jsonl", tmp_path / "m", tmp_path / "l", {"objective": "cross_entropy"})


def test_cached_trunk_states_give_the_full_forwards_gradients_and_model(tiny_model, tmp_path):
    from safetensors.torch import load_file

    from deft.train import trunk

    def top_block_after(name, **settings):  # layers[-1] is the top block whether or not the trunk is skipped
        grad = _grad_of_first_step(tiny_model, tmp_path, 4, 1, name, block=-1, max_steps=3, train_blocks=1,
                                   learning_rate=1e-3, max_grad_norm=1.0, **settings)
        return grad, load_file(tmp_path / name / "model.safetensors")

    trunk._CACHE.clear()  # counts below are of this test's entries (the cache holds at most 8)
    g_full, w_full = top_block_after("full")
    n_cached = len(trunk._CACHE)
    g_cached, w_cached = top_block_after("cached", trunk_cache=True)
    assert len(trunk._CACHE) == n_cached + 1
    assert torch.allclose(g_full, g_cached, rtol=1e-4, atol=1e-7) and g_full.abs().sum() > 0
    assert w_full.keys() == w_cached.keys()  # an ordinary, complete causal LM is saved
    for k in w_full:
        assert torch.allclose(w_full[k], w_cached[k], rtol=1e-4, atol=1e-6), k
    top_block_after("again", trunk_cache=True, objective="nll")
    assert len(trunk._CACHE) == n_cached + 1  # same backbone and ids: the states are reused


def test_trunk_cache_refuses_what_would_see_a_model_without_its_trunk(tiny_model, tmp_path):
    data = tmp_path / "none.jsonl"
    with pytest.raises(ValueError, match="trunk_cache: true cannot be combined with train_blocks: null"):
        train(tiny_model, data, tmp_path / "m", tmp_path / "l", {"trunk_cache": True})
    with pytest.raises(ValueError, match="save_steps .*gradient_checkpointing"):
        train(tiny_model, data, tmp_path / "m", tmp_path / "l", {"trunk_cache": True, "train_blocks": 1,
                                                                 "save_steps": 2, "gradient_checkpointing": True})
    with pytest.raises(ValueError, match="a held-out stop check"):
        train(tiny_model, data, tmp_path / "m", tmp_path / "l", {"trunk_cache": True, "train_blocks": 1},
              stop_check=(lambda m: 0.0, 1, 1.0))
