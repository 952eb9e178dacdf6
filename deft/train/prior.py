"""The model-strong backbone: fine-tune with ``nll`` on a clean, disjoint prior split until greedy
accuracy on a held-out ``prior_dev`` split reaches the target (or a step cap).

The model then holds a confident, correct prior on the task, as the paper's math backbones do.
The stopping check scores with the ``score`` function it is given (the rule passes
``deft.eval.scoring.score``, the scorer the lm-eval task uses; training does not import the later
evaluation stage); the prior's reported base accuracy comes from lm-eval on the test split (rule
``evaluate_base``).
"""
from __future__ import annotations

from ..io import read_jsonl, write_json_atomic
from .greedy import answer_budget, greedy_responses
from .trainer import train


def greedy_accuracy(model, tokenizer, examples: list[dict], score, max_new_tokens: int | None = None) -> float:
    """Share of ``examples`` answered exactly (``score(domain, response, gold)["exact_match"]``),
    greedy, in the training format, with a budget that cannot cut a valid answer."""
    budget = max_new_tokens or answer_budget(tokenizer, examples)
    responses = greedy_responses(model, tokenizer, examples, budget)
    return sum(score(e["domain"], r, e["answer"])["exact_match"] for e, r in zip(examples, responses)) / len(examples)


def build(base_dir, prior_path, dev_path, out_dir, log_path, summary_path, prior_cfg: dict, score) -> dict:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    dev = read_jsonl(dev_path)

    def check(model):
        return greedy_accuracy(model, tokenizer, dev, score)

    settings = {"objective": "nll", **prior_cfg["train"]}
    summary = train(base_dir, prior_path, out_dir, log_path, settings,
                    stop_check=(check, prior_cfg["eval_every"], prior_cfg["target"]))
    history = summary["stop_history"]
    summary["reached_target"] = bool(history) and history[-1]["value"] >= prior_cfg["target"]
    summary["target"] = prior_cfg["target"]
    write_json_atomic(summary_path, summary)
    return summary
