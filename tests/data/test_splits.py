"""Domain builders: disjoint splits, requested sizes, determinism, prompts with the instruction."""
import json

import pytest

from deft.data.domains import INSTRUCTION
from deft.data.splits import build_splits, make

SIZES = {"test": 24, "prior_dev": 8, "prior": 40, "train": 40}


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
    with pytest.raises(ValueError, match="could only find"):
        build_splits("arithmetic", {"test": 500}, 0, {"max_digits": 1, "operators": ["+"]})


def test_an_offline_variant_uses_its_kind_and_its_own_sizes(tmp_path):
    """A reference-only domain (``arithmetic-mult``): the arithmetic generator with its own settings,
    only a test split, prompts with the arithmetic instruction."""
    manifest = make("arithmetic-mult", {"operators": ["*"], "max_digits": 1, "sizes": {"train": 0, "prior": 0,
                                                                                      "prior_dev": 0}},
                    {"train": 128, "test": 8, "prior": 1536, "prior_dev": 32}, 0, tmp_path)
    assert manifest["counts"] == {"test": 8, "prior_dev": 0, "prior": 0, "train": 0}
    rows = [json.loads(line) for line in (tmp_path / "test.jsonl").open()]
    assert all(" * " in r["question"] and r["prompt"].endswith("Answer with only the final answer.") for r in rows)
    assert rows[0]["id"] == "arithmetic-mult-test-00000" and (tmp_path / "train.jsonl").read_text() == ""
