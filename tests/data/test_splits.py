"""Domain builders: one deduplicated pool cut into splits (same distribution, no canonical key in
two splits), requested sizes, determinism, prompts in both formats."""
import json

import pytest
from scipy.stats import chi2_contingency

from deft.data.domains import DOMAINS, INSTRUCTION
from deft.data.splits import build_splits, histograms, make

SIZES = {"test": 24, "prior_dev": 8, "prior_stop": 8, "prior": 40, "train": 40}


@pytest.fixture(scope="module")
def arithmetic():
    return build_splits("arithmetic", SIZES, seed=0)


@pytest.fixture(scope="module")
def figfont():
    return build_splits("figfont", {"test": 12, "train": 20}, seed=0, params={"fonts": ["mini", "short"]})


def test_sizes_and_ids(arithmetic):
    assert {k: len(v) for k, v in arithmetic.items()} == SIZES
    ids = [e["id"] for rows in arithmetic.values() for e in rows]
    assert len(set(ids)) == len(ids)


def test_arithmetic_splits_share_no_question(arithmetic):
    seen = {}
    for split, rows in arithmetic.items():
        for e in rows:
            assert e["question"] not in seen, (split, seen.get(e["question"]))
            seen[e["question"]] = split
    for e in arithmetic["train"]:
        assert e["prompt"] == f"{e['question']}\n{INSTRUCTION['arithmetic']}"
        assert str(int(e["answer"])) == e["answer"]


def _twin(question: str) -> str:
    a, op, b = question.removeprefix("Calculate ").rstrip(".").split()
    return f"Calculate {b} {op} {a}."


def test_commuted_twins_are_one_problem():
    key = DOMAINS["arithmetic"].canonical_key
    assert key({"meta": {"expression": "4 + 7"}}) == key({"meta": {"expression": "7 + 4"}}) == "4 + 7"
    assert key({"meta": {"expression": "3 * 12"}}) == key({"meta": {"expression": "12 * 3"}})
    assert key({"meta": {"expression": "4 - 7"}}) != key({"meta": {"expression": "7 - 4"}})


@pytest.fixture(scope="module")
def large():
    return build_splits("arithmetic", {"test": 256, "prior_dev": 64, "prior": 600, "train": 256}, seed=3,
                        params={"min_digits": 1, "max_digits": 2})


def test_no_canonical_key_in_two_splits(large):
    """Not the question string: "4 + 7" in test and "7 + 4" in train would be the same problem."""
    owner = {}
    for split, rows in large.items():
        for e in rows:
            a, op, b = e["question"].removeprefix("Calculate ").rstrip(".").split()
            key = (op, *sorted((a, b))) if op == "+" else (op, a, b)
            assert owner.setdefault(key, split) == split, (e["question"], owner[key], split)
            if op == "+" and a != b:
                assert _twin(e["question"]) not in {x["question"] for x in rows if x is not e}


def test_train_and_test_follow_one_distribution(large):
    """The difficulty classes (operand digits x operator) of train and test are a sample of one pool:
    a chi-square test of homogeneity does not reject, and the manifest-style histograms cover every
    class of the pool. (Claiming test first used up the small one-digit space: 34/64 of test vs 3/128 of train.)"""
    h = histograms(large)
    classes = sorted(set().union(*h.values()))
    table = [[h[s].get(c, 0) for c in classes] for s in ("train", "test", "prior")]
    assert chi2_contingency([[v + 0.5 for v in row] for row in table]).pvalue > 0.01, h
    shares = {s: h[s].get("1-digit +", 0) / len(large[s]) for s in ("train", "test", "prior")}
    assert max(shares.values()) - min(shares.values()) < 0.05, shares


def test_raw_format_is_compact_and_trains_the_answer():
    rows = build_splits("arithmetic", {"test": 8, "train": 8}, seed=0, prompt_format="raw")["train"]
    for e in rows:
        assert e["format"] == "raw" and e["prompt"] == e["question"].removeprefix("Calculate ").rstrip(".") + " ="
        assert e["target"] == " " + e["answer"]
    with pytest.raises(ValueError, match="prompt_format 'yaml' is not allowed for domain 'arithmetic'; allowed"):
        build_splits("arithmetic", {"test": 2}, seed=0, prompt_format="yaml")


def test_figfont_splits_share_no_word(figfont):
    train = {e["answer"] for e in figfont["train"]}
    test = {e["answer"] for e in figfont["test"]}
    assert not train & test
    assert all(e["answer"].isalpha() and e["answer"].isupper() for e in figfont["test"])


def test_deterministic(arithmetic, tmp_path):
    again = build_splits("arithmetic", SIZES, seed=0)
    assert again == arithmetic
    assert build_splits("arithmetic", SIZES, seed=1)["test"] != arithmetic["test"]
    m1 = make("arithmetic", {}, {"test": 8, "train": 8}, 0, tmp_path / "a")
    m2 = make("arithmetic", {}, {"test": 8, "train": 8}, 0, tmp_path / "b")
    assert m1["sha256"] == m2["sha256"]
    assert (tmp_path / "a" / "test.jsonl").read_bytes() == (tmp_path / "b" / "test.jsonl").read_bytes()


def test_unknown_domain_and_too_small_space():
    with pytest.raises(ValueError, match="domain 'chess' is not allowed; allowed: one of \\['arithmetic', 'figfont'"):
        build_splits("chess", {"test": 1}, 0)
    with pytest.raises(ValueError, match="domain 'medical' has no offline generator; give data.domains.medical.hub"):
        build_splits("medical", {"test": 1}, 0)
    with pytest.raises(ValueError, match="yields only 66 distinct problems"):
        build_splits("arithmetic", {"test": 500}, 0, {"max_digits": 1, "operators": ["+"]})


def test_an_offline_variant_uses_its_kind_and_its_own_sizes(tmp_path):
    """A reference-only domain (``arithmetic-mult``): the arithmetic generator with its own settings,
    only a test split, prompts with the arithmetic instruction."""
    manifest = make("arithmetic-mult", {"operators": ["*"], "max_digits": 1, "sizes": {"train": 0, "prior": 0,
                                                                                      "prior_dev": 0}},
                    {"train": 128, "test": 8, "prior": 1536, "prior_dev": 32}, 0, tmp_path)
    assert manifest["counts"] == {"test": 8, "prior_dev": 0, "prior_stop": 0, "prior": 0, "train": 0}
    assert manifest["difficulty"]["test"] == {"1-digit *": 8}
    rows = [json.loads(line) for line in (tmp_path / "test.jsonl").open()]
    assert all(" * " in r["question"] and r["prompt"].endswith("Answer with only the final answer.") for r in rows)
    assert rows[0]["id"] == "arithmetic-mult-test-00000" and (tmp_path / "train.jsonl").read_text() == ""
