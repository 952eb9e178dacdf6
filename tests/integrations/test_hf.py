"""deft.integrations.hf: Transformers' compute_loss_func contract (shift, normalisation over the
whole step), gradient accumulation and two processes equal one big batch, and DeftTrainer's chunked
path equal to the logits path."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import deft.losses as L
from deft.integrations.hf import HeadBypass, ObjectiveLossFunc, compute_loss_func

from . import _steps

SCRIPT = Path(_steps.__file__)


@pytest.fixture(scope="module")
def batch(tiny_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq

    tok = AutoTokenizer.from_pretrained(tiny_model)
    rows = _steps.encoded(tok)
    b = DataCollatorForSeq2Seq(tok, return_tensors="pt")([rows[i] for i in range(len(rows))])
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(tiny_model), b


def test_nll_equals_the_models_own_loss_and_deft_is_the_shifted_objective(batch):
    model, b = batch
    with torch.no_grad():
        own = model(**b).loss
        out = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
    assert (b["labels"] == -100).any() and (b["labels"] != -100).sum() > 10  # prompts and padding masked
    assert compute_loss_func("nll")(out, b["labels"]).item() == pytest.approx(own.item(), rel=1e-6)
    expected = L.loss("deft", out.logits[:, :-1], b["labels"][:, 1:])
    assert compute_loss_func("deft")(out, b["labels"]).item() == pytest.approx(expected.item(), rel=1e-6)
    # num_items_in_batch (the step's target tokens) is the divisor: twice the tokens, half the loss
    n = int((b["labels"][:, 1:] != -100).sum())
    assert compute_loss_func("deft")(out, b["labels"], num_items_in_batch=torch.tensor(2 * n)).item() == \
        pytest.approx(expected.item() / 2, rel=1e-6)
    assert compute_loss_func("eaft", alpha=0.5).params == {"alpha": 0.5}


def test_chunked_head_equals_the_logits_path_in_value_and_gradient(batch):
    model, b = batch
    head = model.get_output_embeddings()
    losses, grads = [], []
    for fn, bypass in ((compute_loss_func("deft"), None), (None, HeadBypass(head))):
        model.zero_grad()
        if bypass is not None:
            model.set_output_embeddings(bypass)
            fn = ObjectiveLossFunc("deft", head=bypass, chunk_size=3)
        out = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
        loss = fn(out, b["labels"])
        loss.backward()
        losses.append(loss.item())
        grads.append(head.weight.grad.clone())
        if bypass is not None:
            model.set_output_embeddings(head)
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    err = (grads[0] - grads[1]).abs().max() / grads[0].abs().max()
    assert err < 1e-4, err


def test_bad_objective_or_missing_labels_fail_clearly(batch):
    with pytest.raises(ValueError, match="unknown objective 'defft'"):
        compute_loss_func("defft")
    with pytest.raises(ValueError, match="unknown parameter"):
        compute_loss_func("deft", alpha=1.0)
    model, b = batch
    with pytest.raises(ValueError, match="needs labels"):
        compute_loss_func("deft")(model(input_ids=b["input_ids"]), None)


def _close(a, b, rtol=2e-4):
    """Weight changes equal up to float noise, relative to the largest change (which is not zero)."""
    scale = max(v.abs().max().item() for v in a.values())
    assert scale > 1e-6
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    return worst <= rtol * scale, worst / scale


@pytest.mark.parametrize("trainer", ["func", "deft"])
def test_gradient_accumulation_equals_one_big_batch(tiny_model, tmp_path, trainer):
    one = _steps.step(tiny_model, 4, 1, "deft", trainer, tmp_path / "a")
    accumulated = _steps.step(tiny_model, 2, 2, "deft", trainer, tmp_path / "b")
    ok, err = _close(one, accumulated)
    assert ok, f"2 x 2 accumulated vs 4 in one batch: relative difference {err:.2e}"
    if trainer == "deft":  # the chunked DeftTrainer = the Trainer with compute_loss_func
        ok, err = _close(one, _steps.step(tiny_model, 4, 1, "deft", "func", tmp_path / "c"))
        assert ok, err
    # the test can fail: each micro-batch's own token mean (a loss that ignores num_items_in_batch) differs
    ok, err = _close(accumulated, _steps.step(tiny_model, 2, 2, "deft", "func_mean", tmp_path / "d"))
    assert not ok, err


@pytest.mark.slow
def test_two_processes_equal_one_process_on_the_whole_batch(tiny_model, tmp_path):
    from deft.train.free_port import free_port

    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(SCRIPT.parents[2])}
    out = tmp_path / "two.pt"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_addr", "127.0.0.1", "--master_port", str(free_port()), str(SCRIPT),
                           str(tiny_model), str(out), "2", "1", "deft", "func"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "'world': 2" in proc.stdout
    one = _steps.step(tiny_model, 4, 1, "deft", "func", tmp_path / "one")
    ok, err = _close(one, torch.load(out))
    assert ok, f"2 gloo processes x 2 vs 1 process x 4: relative difference {err:.2e}"


def test_heads_the_chunked_path_cannot_reproduce_are_refused():
    """Soft-capped logits (Gemma 2) or a head that is not a plain Linear (a LoRA wrapper): applying
    the weight alone would train on other logits than the model's, silently."""
    from transformers import Gemma2Config, Gemma2ForCausalLM

    from deft.integrations.hf import linear_head

    gemma = Gemma2ForCausalLM(Gemma2Config(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                           num_attention_heads=1, num_key_value_heads=1, head_dim=16,
                                           final_logit_softcapping=30.0))
    with pytest.raises(ValueError, match="soft-caps its logits"):
        linear_head(gemma)

    class Wrapped(torch.nn.Module):  # stands for peft's lora.Linear around the head
        def __init__(self, base):
            super().__init__()
            self.base_layer, self.weight = base, base.weight

    gemma.config.final_logit_softcapping = None
    gemma.set_output_embeddings(Wrapped(gemma.get_output_embeddings()))
    with pytest.raises(ValueError, match="LM head of type Wrapped"):
        linear_head(gemma)


@pytest.mark.parametrize("path", ["linear", "logits"])
def test_the_loss_uses_the_head_weight_its_forward_saw(path):
    """FSDP1 (use_orig_params) gives the head module the gathered weight as a plain tensor during
    the forward only and puts this rank's 1-D shard back afterwards, before the Trainer calls the
    loss: the loss must use (and send gradients to) the weight of the forward, not the shard."""
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(2, 5, 4, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 7, (2, 5), generator=g)
    head = torch.nn.Linear(4, 7, bias=False).double()
    bypass = HeadBypass(head)
    gathered = head.weight.detach().clone().requires_grad_(True)
    del bypass._parameters["weight"]
    bypass.weight = gathered  # what FSDP sets for the forward
    out = bypass(hidden)
    bypass.weight = torch.nn.Parameter(torch.zeros(14, dtype=torch.float64))  # this rank's shard, after it
    loss = ObjectiveLossFunc("deft", head=bypass, path=path)(type("O", (), {"logits": out})(), labels)
    loss.backward()
    expected = L.loss("deft", (hidden @ head.weight.detach().T)[:, :-1], labels[:, 1:])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-10)
    assert gathered.grad is not None and gathered.grad.abs().sum() > 0
    assert bypass.forward_weight is None  # taken once: no reference kept to the gathered weight
