"""Forgetting on a reference the fine-tuning does not target (config ``analysis.reference``: one
domain per backbone, never one it is fine-tuned on).

The reference set holds that domain's test prompts with either their gold answers or, by default,
the backbone's own greedy answers (``model_reference``): a backbone holds what it says by
construction (except an answer cut by the generation budget, whose end of turn it never predicts;
``held_delta`` leaves those out), so every one of its answer tokens counts, where a small model's gold-answer hits
on a task it cannot do would be a handful of tokens (SmolLM2-135M holds 0 of 64 one-digit
products exactly). The run record keeps the model's per-token top-1 hits and per-example greedy
exact matches on it; ``forgetting_rate`` is the share of the base model's held tokens lost.
"""
from __future__ import annotations

import torch

from ..io import dumps_jsonl, read_jsonl, write_bytes_atomic
from ..train.greedy import greedy_responses
from .analysis import token_stats

REFERENCE_ANSWERS = ("model", "gold")


def forgetting_rate(top1_before, top1_after) -> float:
    """Share of tokens correct (top-1 == target) before fine-tuning that are no longer correct after."""
    before = torch.as_tensor(top1_before, dtype=torch.bool)
    after = torch.as_tensor(top1_after, dtype=torch.bool)
    if before.shape != after.shape:
        raise ValueError(f"before {tuple(before.shape)} and after {tuple(after.shape)} must cover the same tokens")
    n = int(before.sum())
    return float((before & ~after).sum()) / n if n else float("nan")


def reference_hits(model, tokenizer, reference_path, n_examples: int = 64, top_blocks: int | None = None) -> dict:
    """Per response token of the first ``n_examples`` of a clean reference set, whether the model's
    top-1 prediction is the target (``top1``, for the token-level forgetting rate); per example,
    whether all of them are (``exact``).

    ``exact`` is greedy exact-match accuracy without generating: greedy decoding reproduces the
    answer and its end-of-turn token if and only if the target is the arg-max at every position
    given the answer's own prefix (induction over positions), which is what ``top1`` checks.
    ``top_blocks``: as in ``deft.eval.analysis.token_stats``.
    """
    stats = token_stats(model, tokenizer, read_jsonl(reference_path)[:n_examples], {}, batch=4, top_blocks=top_blocks)
    exact = stats.groupby("example", sort=False).top1.all()
    return {"top1": [bool(x) for x in stats.top1], "exact": [bool(x) for x in exact]}


def task_accuracy(hits: dict) -> float:
    """Greedy exact-match accuracy on the reference set (see ``reference_hits``)."""
    return sum(hits["exact"]) / len(hits["exact"]) if hits["exact"] else float("nan")


def held_delta(before: dict, after: dict) -> float:
    """Change in greedy exact match on the reference examples the base model answered exactly
    (``before``/``after``: reference hits of the base model and of the fine-tuned one): -1 when
    the run lost every one of them. Examples the base did not reproduce - an own answer cut by the
    generation budget, whose end-of-turn target the base never predicts - cannot be lost and are
    left out (over all examples they would only shrink the change towards 0)."""
    if len(before["exact"]) != len(after["exact"]):
        raise ValueError(f"before {len(before['exact'])} and after {len(after['exact'])} reference examples differ")
    held = [a for b, a in zip(before["exact"], after["exact"]) if b]
    return sum(held) / len(held) - 1.0 if held else float("nan")


def model_reference(model_dir, test_path, out_path, n_examples: int = 64, max_new_tokens: int = 32) -> list[dict]:
    """Pipeline stage: the backbone's reference set - the first ``n_examples`` prompts of a domain's
    test split, each with the backbone's own greedy answer as ``answer`` (the gold one kept as
    ``gold_answer``)."""
    from .analysis import load_for_analysis

    examples = read_jsonl(test_path)[:n_examples]
    model, tok = load_for_analysis(model_dir)
    answers = greedy_responses(model, tok, examples, max_new_tokens)
    rows = [{**e, "gold_answer": e["answer"], "answer": a.strip(), **({"target": a} if e.get("format") == "raw" else {})}
            for e, a in zip(examples, answers)]
    write_bytes_atomic(out_path, dumps_jsonl(rows))
    return rows
