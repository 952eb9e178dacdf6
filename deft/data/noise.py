"""Controlled label noise for training sets.

``inject(examples, rate, kind, seed)`` corrupts exactly round(rate * N) examples:

* ``answer``  - the final answer is replaced by a plausible wrong one chosen by the example's
  domain (arithmetic: off by a non-zero offset; figfont: another word of the same length). This
  is the paper's "confident conflict": the model may well know the right answer.
* ``shuffle`` - the response is swapped for another example's (one with a different answer).

Determinism and nesting: which examples are corrupted is a prefix of one permutation drawn from
``seed`` alone, and each example's corruption is drawn from (seed, its index) alone, so the
corrupted set at rate 0.3 contains the one at rate 0.1 with identical corrupted answers.
Test sets never pass through here.

``draw(pool, n, seed)``: with ``data.train_sample`` each run seed first draws its ``n`` training
examples from the train pool (from ``seed`` alone, so a seed's clean and noisy sets hold the same
examples and the noise cost is paired), so that the intervals over seeds cover the sampling of
the training set, not only its noise and order.
"""
from __future__ import annotations

import random

from .domains import DOMAINS, kind_of

NOISE_KINDS = ("answer", "shuffle")


def check_rate_and_kind(rate, kind) -> None:
    if kind == "none" and rate == 0:
        return
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
        raise ValueError(f"noise rate {rate!r} is not allowed; it must be a number in [0, 1)")
    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {kind!r}; allowed: {list(NOISE_KINDS)}")


def corrupted_indices(n: int, rate: float, seed: int) -> list[int]:
    order = list(range(n))
    random.Random(f"noise-order:{seed}").shuffle(order)
    return sorted(order[: round(rate * n)])


def _wrong_answer(examples, i, kind, seed) -> str:
    ex = examples[i]
    rng = random.Random(f"noise-value:{seed}:{kind}:{i}")
    if kind == "answer":
        pool = [e["answer"] for e in examples]
        return DOMAINS[kind_of(ex["domain"])].corrupt(ex["answer"], rng, pool)
    others = [j for j in range(len(examples)) if examples[j]["answer"] != ex["answer"]]
    if not others:
        raise ValueError("shuffle noise needs at least two distinct answers in the training set")
    return examples[rng.choice(others)]["answer"]


def inject(examples: list[dict], rate: float, kind: str, seed: int) -> tuple[list[dict], dict]:
    """Return (noisy copy of ``examples``, audit). Each example needs ``domain`` and ``answer``."""
    check_rate_and_kind(rate, kind)
    noisy = [dict(e) for e in examples]
    changes = []
    for i in corrupted_indices(len(examples), rate, seed):
        wrong = _wrong_answer(examples, i, kind, seed)
        assert wrong != examples[i]["answer"], (i, wrong)
        noisy[i]["answer"] = wrong
        if "target" in examples[i]:  # compact format: the trained text ends with the answer
            target, answer = examples[i]["target"], examples[i]["answer"]
            if not target.endswith(answer):
                raise ValueError(f"example {examples[i].get('id')}: target {target!r} does not end with its answer")
            noisy[i]["target"] = target[: len(target) - len(answer)] + wrong
        changes.append({"index": i, "id": examples[i].get("id"), "original": examples[i]["answer"],
                        "corrupted": wrong})
    audit = {
        "rate": rate,
        "kind": kind,
        "seed": seed,
        "n_examples": len(examples),
        "n_corrupted": len(changes),
        "realized_rate": len(changes) / len(examples) if examples else 0.0,
        "corrupted": changes,
    }
    return noisy, audit


def draw(pool: list[dict], n: int, seed: int) -> list[dict]:
    """``n`` examples of ``pool`` drawn without replacement from ``seed`` alone, in the drawn order."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(pool):
        raise ValueError(f"train sample {n!r} is not allowed; it must be an integer in [1, {len(pool)}] "
                         "(the train pool's size)")
    return random.Random(f"train-sample:{seed}").sample(pool, n)


def make_noisy(train_path, kind: str, rate: float, seed: int, out_train, out_audit, sample: int | None = None) -> dict:
    """Pipeline stage: write the noisy training set and its audit (with the file's sha256); with
    ``sample``, the seed's draw of that many examples from the pool at ``train_path`` first."""
    from ..io import dumps_jsonl, read_jsonl, sha256, write_bytes_atomic, write_json_atomic

    examples = read_jsonl(train_path)
    pool_size = len(examples)
    if sample is not None:
        examples = draw(examples, sample, seed)
    noisy, audit = inject(examples, rate, kind, seed)
    audit["sample"] = {"pool": pool_size, "drawn": len(examples) if sample is not None else None,
                       "ids": [e.get("id") for e in examples] if sample is not None else None}
    data = dumps_jsonl(noisy)
    audit["train_sha256"] = sha256(data)
    write_bytes_atomic(out_train, data)
    write_json_atomic(out_audit, audit)
    return audit
