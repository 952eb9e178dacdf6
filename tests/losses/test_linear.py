"""The chunked linear path equals the plain path on materialised logits, for every objective."""
import pytest
import torch

import deft.losses as L
from tests.losses.test_objectives import NAMES, PARAMS


def problem(N=37, H=16, V=29, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    hidden = (torch.randn(N, H, generator=g, dtype=torch.float64) * 0.7).to(dtype)
    weight = (torch.randn(V, H, generator=g, dtype=torch.float64) * 0.7).to(dtype)
    labels = torch.randint(0, V, (N,), generator=g)
    labels[::5] = -100
    labels[-1] = (hidden[-1].double() @ weight.double().T).argmax()
    return hidden, weight, labels


def grads(fn, hidden, weight):
    h = hidden.clone().requires_grad_(True)
    w = weight.clone().requires_grad_(True)
    value = fn(h, w)
    gh, gw = torch.autograd.grad(value, (h, w))
    return value.detach(), gh, gw


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("chunk", [1, 8, 10, 64])  # 10 does not divide N = 37
@pytest.mark.parametrize("num_items", [None, 50.0])
def test_value_and_gradients_equal_the_plain_path_fp64(name, chunk, num_items):
    hidden, weight, labels = problem()
    params = PARAMS.get(name, {})
    plain = grads(lambda h, w: L.loss(name, h @ w.T, labels, num_items=num_items, **params), hidden, weight)
    chunked = grads(lambda h, w: L.linear_loss(name, h, w, labels, num_items=num_items, chunk_size=chunk, **params),
                    hidden, weight)
    for a, b in zip(plain, chunked):
        assert torch.allclose(a, b, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_fp32_tight_and_bf16_loose(name):
    params = PARAMS.get(name, {})
    hidden, weight, labels = problem(N=64, H=32, V=101, dtype=torch.float32)
    ref = grads(lambda h, w: L.loss(name, h @ w.T, labels, **params), hidden, weight)
    got = grads(lambda h, w: L.linear_loss(name, h, w, labels, chunk_size=24, **params), hidden, weight)
    for a, b in zip(ref, got):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-4)
    bf = grads(lambda h, w: L.linear_loss(name, h, w, labels, chunk_size=24, **params), hidden.bfloat16(),
               weight.bfloat16())
    assert bf[1].dtype == torch.bfloat16 and bf[2].dtype == torch.bfloat16
    assert torch.allclose(bf[0], ref[0], rtol=3e-2, atol=3e-3)
    for a, b in zip(ref[1:], bf[1:]):
        assert (a - b.float()).norm() <= 0.05 * a.norm() + 1e-4


def test_single_token_and_all_ignored():
    hidden, weight, labels = problem(N=1)
    labels[0] = 3
    for name in NAMES:
        a = L.loss(name, hidden @ weight.T, labels, **PARAMS.get(name, {}))
        b = L.linear_loss(name, hidden, weight, labels, **PARAMS.get(name, {}))
        assert torch.allclose(a, b, atol=1e-12)
    labels[0] = -100
    assert L.linear_loss("deft", hidden, weight, labels) == 0


def test_tied_weights_accumulate_both_uses():
    hidden, weight, labels = problem()
    emb = weight.clone().requires_grad_(True)
    h = hidden.clone().requires_grad_(True)
    # the head shares its weight with an input embedding (tied embeddings)
    used = emb[labels.clamp(min=0)].sum() * 0.1
    (used + L.linear_loss("deft", h, emb, labels)).backward()
    emb2 = weight.clone().requires_grad_(True)
    (emb2[labels.clamp(min=0)].sum() * 0.1 + L.loss("deft", h.detach() @ emb2.T, labels)).backward()
    assert torch.allclose(emb.grad, emb2.grad, atol=1e-12)


def test_terms_match_the_plain_terms():
    hidden, weight, labels = problem()
    _, t = L.linear_terms("cayley", hidden, weight, labels, chunk_size=7)
    ref = L.terms("cayley", hidden @ weight.T, labels)
    for key in ("gate", "a", "logp"):
        assert torch.allclose(getattr(t, key), getattr(ref, key), atol=1e-12)
    assert torch.equal(t.keep, ref.keep)


def test_bad_shapes_and_chunk_size():
    hidden, weight, labels = problem()
    with pytest.raises(ValueError, match="disagree"):
        L.linear_loss("nll", hidden, weight[:, :-1], labels)
    with pytest.raises(ValueError, match="chunk_size=0 is not allowed"):
        L.linear_loss("nll", hidden, weight, labels, chunk_size=0)


def test_a_frozen_head_gets_no_gradient_and_the_hidden_gradient_is_unchanged():
    """LoRA / partial fine-tuning: the [V, H] weight gradient is neither computed nor returned."""
    torch.manual_seed(0)
    h = torch.randn(12, 8, dtype=torch.float64, requires_grad=True)
    w = torch.randn(40, 8, dtype=torch.float64)
    y = torch.randint(0, 40, (12,))
    L.linear_loss("deft", h, w, y, chunk_size=5).backward()
    ref = h.detach().clone().requires_grad_(True)
    L.loss("deft", ref @ w.T, y).backward()
    assert w.grad is None and torch.allclose(h.grad, ref.grad)
