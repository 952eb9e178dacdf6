"""The objective family against its math: gradients, limits, identities, hand-computed values."""
import math

import pytest
import torch
import torch.nn.functional as F

import deft.losses as L

NAMES = ["nll", "neg_p", "neg_p_pow", "only_top_p", "only_bottom_p", "only_top_logp",
         "only_bottom_logp", "dft", "eaft", "cayley", "deft"]
# Parameters that make every objective keep some tokens and drop others on random logits.
PARAMS = {"only_top_p": {"tau": 0.05}, "only_bottom_p": {"tau": 0.05},
          "only_top_logp": {"tau": 0.05}, "only_bottom_logp": {"tau": 0.05},
          "neg_p_pow": {"k": 2.5}, "eaft": {"alpha": 1.5, "k": 5}}


def batch(dtype=torch.float64, B=3, T=7, V=11, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(B, T, V, generator=g, dtype=torch.float64) * scale).to(dtype)
    labels = torch.randint(0, V, (B, T), generator=g)
    labels[0, :2] = -100
    labels[2, -1] = -100
    # make some targets the argmax so thresholded objectives keep both kinds of tokens
    labels[1, :3] = logits[1, :3].argmax(-1)
    return logits, labels


def test_registry_lists_the_eleven_names():
    assert sorted(L.OBJECTIVES) == sorted(NAMES)
    assert L.OBJECTIVES["neg_p_pow"]["k"] == 10
    assert dict(L.OBJECTIVES["eaft"]) == {"alpha": 1.0, "k": 20}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("num_items", [None, 13.0])
def test_autograd_gradient_equals_gate_times_error(name, num_items):
    logits, labels = batch()
    logits.requires_grad_(True)
    params = PARAMS.get(name, {})
    loss = L.loss(name, logits, labels, num_items=num_items, **params)
    (grad,) = torch.autograd.grad(loss, logits)
    w = L.gate(name, logits, labels, **params)
    keep = L.terms(name, logits, labels, **params).keep.reshape(labels.shape)
    n = keep.sum() if num_items is None else num_items
    onehot = F.one_hot(labels.clamp(min=0), logits.shape[-1]).double()
    expected = w[..., None] * (logits.detach().softmax(-1) - onehot) / n
    assert torch.allclose(grad, expected, atol=1e-10, rtol=0)
    assert (w[labels == -100] == 0).all() and grad[labels == -100].abs().max() == 0


@pytest.mark.parametrize("name", NAMES)
def test_per_token_is_zero_where_not_counted_and_loss_is_its_mean(name):
    logits, labels = batch()
    params = PARAMS.get(name, {})
    t = L.terms(name, logits, labels, **params)
    pt = L.per_token(name, logits, labels, **params)
    assert pt.shape == labels.shape
    assert (pt[labels == -100] == 0).all()
    assert torch.allclose(L.loss(name, logits, labels, **params), pt.sum() / t.keep.sum())


def test_thresholded_objectives_divide_by_kept_tokens_only():
    logits, labels = batch()
    p = logits.softmax(-1).gather(-1, labels.clamp(min=0)[..., None]).squeeze(-1)
    kept = (labels != -100) & (p >= 0.05)
    assert 0 < kept.sum() < (labels != -100).sum()
    expected = ((1 - p) * kept).sum() / kept.sum()
    assert torch.allclose(L.loss("only_top_p", logits, labels, tau=0.05), expected)
    dropped = (labels != -100) & (p <= 0.05)
    expected_b = (-p.log() * dropped).sum() / dropped.sum()
    assert torch.allclose(L.loss("only_bottom_logp", logits, labels, tau=0.05), expected_b)


def test_nll_equals_cross_entropy():
    logits, labels = batch()
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
    assert torch.allclose(L.loss("nll", logits, labels), ce, atol=1e-12)


def _value_and_grad(name, logits, labels, **params):
    x = logits.clone().requires_grad_(True)
    v = L.loss(name, x, labels, **params)
    return v.detach(), torch.autograd.grad(v, x)[0]


def test_neg_p_pow_limits():
    logits, labels = batch()
    v0, g0 = _value_and_grad("nll", logits, labels)
    v, g = _value_and_grad("neg_p_pow", logits, labels, k=1e-6)
    assert torch.allclose(v, v0, rtol=1e-5) and torch.allclose(g, g0, atol=1e-6)
    v1, g1 = _value_and_grad("neg_p", logits, labels)
    v, g = _value_and_grad("neg_p_pow", logits, labels, k=1)
    assert torch.allclose(v, v1, atol=1e-14) and torch.allclose(g, g1, atol=1e-14)


def test_dft_and_neg_p_share_gradients_not_values():
    logits, labels = batch()
    vd, gd = _value_and_grad("dft", logits, labels)
    vp, gp = _value_and_grad("neg_p", logits, labels)
    assert torch.allclose(gd, gp, atol=1e-14)
    assert not torch.allclose(vd, vp)


def test_deft_exponent_bounds():
    logits, labels = batch(V=50, scale=4.0)
    t = L.terms("deft", logits, labels)
    pi = logits.softmax(-1).reshape(-1, 50)
    p = pi.gather(-1, labels.clamp(min=0).reshape(-1, 1)).squeeze(-1)
    assert torch.allclose(t.a, (pi**2).sum(-1), atol=1e-12)
    assert (t.a >= 1 / 50 - 1e-12).all() and (t.a <= 1).all()
    assert (t.a >= p**2 - 1e-12).all()
    # uniform logits -> a = 1/V exactly; one dominant logit -> a -> 1
    uni = L.terms("deft", torch.zeros(1, 50, dtype=torch.float64), torch.tensor([3]))
    assert torch.allclose(uni.a, torch.tensor([1 / 50], dtype=torch.float64))
    peak = torch.zeros(1, 50, dtype=torch.float64)
    peak[0, 7] = 100
    assert L.terms("deft", peak, torch.tensor([7])).a.item() == pytest.approx(1.0)


def test_cayley_exponent_hits_both_clamps():
    # p ~ 1 everywhere -> f = 0.5, a = 0.5 + 0.5 * 1 = 1 (upper clamp active for p -> 1)
    z = torch.tensor([[100.0, 0, 0, 0]], dtype=torch.float64)
    assert L.terms("cayley", z, torch.tensor([0])).a.item() == pytest.approx(1.0)
    # p ~ 0 everywhere -> f ~ 0 and a ~ 0: lower clamp 0.001
    z = torch.tensor([[0.0, 100, 0, 0], [0.0, 100, 0, 0]], dtype=torch.float64)
    assert torch.allclose(L.terms("cayley", z, torch.tensor([0, 2])).a, torch.tensor(0.001, dtype=torch.float64))
    # f uses the mean p over counted tokens only
    z = torch.tensor([[2.0, 0, 0, 0], [0.0, 0, 0, 0]], dtype=torch.float64)
    t = L.terms("cayley", z, torch.tensor([0, -100]))
    p = math.exp(2) / (math.exp(2) + 3)
    f = 0.5 * p
    assert t.a[0].item() == pytest.approx(f + (1 - f) * p / (2 - p))


# ---- a 3-token, 4-word case computed by hand (scalar math, no torch) ----------------------
Z = [[2.0, 0.5, -1.0, 0.0], [0.1, 0.2, 0.3, 3.0], [1.0, 1.0, 1.0, 1.0]]
Y = [0, 1, 2]


def _softmax(row):
    m = max(row)
    e = [math.exp(v - m) for v in row]
    return [v / sum(e) for v in e]


def _hand(name):
    pis = [_softmax(r) for r in Z]
    ps = [pi[y] for pi, y in zip(pis, Y)]
    if name == "nll":
        return [-math.log(p) for p in ps]
    if name == "neg_p":
        return [1 - p for p in ps]
    if name == "neg_p_pow":  # k = 10
        return [(1 - p**10) / 10 for p in ps]
    if name == "dft":
        return [-p * math.log(p) for p in ps]
    if name == "deft":
        return [(1 - p ** sum(q * q for q in pi)) / sum(q * q for q in pi) for p, pi in zip(ps, pis)]
    if name == "cayley":
        f = 0.5 * sum(ps) / 3
        a = [min(1, max(0.001, f + (1 - f) * p / (2 - p))) for p in ps]
        return [(1 - p**ai) / ai for p, ai in zip(ps, a)]
    if name == "eaft":  # k = 20 > V: all 4 logits, normalised by ln 4 (the code clamps k to V)
        hs = [-sum(q * math.log(q) for q in pi) / math.log(4) for pi in pis]
        return [-h * math.log(p) for h, p in zip(hs, ps)]
    tau = 0.5
    keep = [p >= tau if "top" in name else p <= tau for p in ps]
    base = [1 - p for p in ps] if name.endswith("_p") else [-math.log(p) for p in ps]
    return [b if k else 0.0 for b, k in zip(base, keep)]


@pytest.mark.parametrize("name", NAMES)
def test_hand_computed_three_tokens_four_words(name):
    got = L.per_token(name, torch.tensor(Z, dtype=torch.float64), torch.tensor(Y))
    assert got.tolist() == pytest.approx(_hand(name), abs=1e-12)


def test_eaft_topk_restricts_the_entropy():
    z = torch.tensor([[5.0, 5.0, -9.0, -9.0, -9.0]], dtype=torch.float64)
    w = L.gate("eaft", z, torch.tensor([0]), k=2, alpha=1.0)
    assert w.item() == pytest.approx(1.0)  # the top-2 are tied: maximal top-2 entropy
    w2 = L.gate("eaft", z, torch.tensor([0]), k=2, alpha=2.0)
    assert w2.item() == pytest.approx(1.0)


@pytest.mark.parametrize("name", NAMES)
def test_bf16_matches_fp32(name):
    logits, labels = batch(dtype=torch.float32, B=4, T=16, V=64, scale=2.0)
    params = PARAMS.get(name, {"tau": 0.05} if "only" in name else {})
    ref = L.loss(name, logits, labels, **params)
    got = L.loss(name, logits.bfloat16(), labels, **params)
    assert got.dtype == torch.float32
    assert torch.allclose(got, ref, rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_extreme_logits_stay_finite(name):
    V = 262_144
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(3, V, generator=g) * 1e4
    logits[0] = 0.0
    labels = torch.tensor([5, int(logits[1].argmax()), int(logits[2].argmin())])
    x = logits.requires_grad_(True)
    v = L.loss(name, x, labels, **PARAMS.get(name, {}))
    (g_,) = torch.autograd.grad(v, x)
    assert torch.isfinite(v) and torch.isfinite(g_).all()


def test_deft_gate_has_no_epsilon_bias_for_large_vocab():
    # uniform prediction over V = 151,936: a = 1/V, p = 1/V, gate = p^a must be exact
    V = 151_936
    w = L.gate("deft", torch.zeros(1, V), torch.tensor([0]))
    assert w.item() == pytest.approx((1 / V) ** (1 / V), rel=1e-6)


@pytest.mark.parametrize("bad,match", [
    (("nope", {}), "unknown objective 'nope'; allowed: \\['cayley'"),
    (("neg_p_pow", {"k": 0}), "k=0 is not allowed; k must be a finite number > 0"),
    (("neg_p_pow", {"k": -1.0}), "k=-1.0"),
    (("only_top_p", {"tau": 1.5}), "tau must be a number in \\[0, 1\\]"),
    (("eaft", {"alpha": -0.1}), "alpha=-0.1 is not allowed"),
    (("eaft", {"k": 1}), "k must be an integer >= 2"),
    (("deft", {"k": 3}), "unknown parameter\\(s\\) \\['k'\\]; allowed: none"),
    (("only_top_p", {"tau": "0.5"}), "tau='0.5' is not allowed"),
])
def test_bad_names_and_parameters_raise_naming_what_is_allowed(bad, match):
    name, params = bad
    logits, labels = batch()
    with pytest.raises(ValueError, match=match):
        L.loss(name, logits, labels, **params)


def test_shape_mismatch_and_out_of_range_labels_raise():
    logits, labels = batch()
    with pytest.raises(ValueError, match="disagree"):
        L.loss("nll", logits[:, :-1], labels)
    with pytest.raises(ValueError, match="labels must lie in"):
        L.loss("nll", logits, labels + 100)
