"""The model-strong backbone: fine-tune with ``nll`` on a clean, disjoint prior split until greedy
accuracy on a held-out ``prior_stop`` split reaches the target (or a step cap), then measure the
built backbone once on ``prior_dev``, a third split that took no part in the build.

Stopping at the first check at or above a target selects a check that drew high: the stopping
split's last value overstates the backbone (the 2026-12-03 study's strong prior stopped at 0.891 on
the split that also reported its label, after 0.75 at the check before, and scored 0.828 on test).
The label is therefore read on ``prior_dev``; the stopping value stays in ``stop_history``.

The model then holds a confident, correct prior on the task, as the paper's math backbones do.
The stopping check scores with the ``score`` function it is given (the rule passes
``deft.eval.scoring.score``, the scorer the lm-eval task uses; training does not import the later
evaluation stage); the prior's reported base accuracy comes from lm-eval on the test split (rule
``evaluate_base``).
"""
from __future__ import annotations

from pathlib import Path

from ..io import read_jsonl, write_json_atomic
from .greedy import answer_budget, greedy_responses
from .trainer import train


def greedy_accuracy(model, tokenizer, examples: list[dict], score, max_new_tokens: int | None = None) -> float:
    """Share of ``examples`` answered exactly (``score(domain, response, gold)["exact_match"]``),
    greedy, in the training format, with a budget that cannot cut a valid answer."""
    budget = max_new_tokens or answer_budget(tokenizer, examples)
    responses = greedy_responses(model, tokenizer, examples, budget)
    return sum(score(e["domain"], r, e["answer"])["exact_match"] for e, r in zip(examples, responses)) / len(examples)


def _prompt(example: dict) -> str:
    return example.get("prompt") or example.get("question") or example["id"]


def build(base_dir, prior_path, stop_path, dev_path, out_dir, log_path, summary_path, prior_cfg: dict,
          score) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    stop, dev = read_jsonl(stop_path), read_jsonl(dev_path)
    if not stop or not dev:
        raise ValueError(f"a prior build needs a non-empty stopping split ({stop_path}: {len(stop)} examples) and "
                         f"label split ({dev_path}: {len(dev)}); set data.sizes.prior_stop and prior_dev")
    shared = {_prompt(e) for e in stop} & {_prompt(e) for e in dev}  # ids name their split: compare what is asked
    if shared:
        raise ValueError(f"{stop_path} and {dev_path} share {len(shared)} problems (e.g. {sorted(shared)[0]!r}): the "
                         "label split must be held out of the stop")
    tokenizer = AutoTokenizer.from_pretrained(base_dir)

    def check(model):
        return greedy_accuracy(model, tokenizer, stop, score)

    settings = {"objective": "nll", **prior_cfg["train"]}
    summary = train(base_dir, prior_path, out_dir, log_path, settings,
                    stop_check=(check, prior_cfg["eval_every"], prior_cfg["target"]))
    history = summary["stop_history"]
    summary["reached_target"] = bool(history) and history[-1]["value"] >= prior_cfg["target"]
    summary["target"] = prior_cfg["target"]
    summary["stop_split"] = {"name": Path(stop_path).stem, "examples": len(stop)}
    # The label: the saved backbone, as every later stage loads it, on the split the stop never saw.
    model = AutoModelForCausalLM.from_pretrained(out_dir)
    summary["prior_dev"] = {"exact_match": greedy_accuracy(model, tokenizer, dev, score), "examples": len(dev)}
    write_json_atomic(summary_path, summary)
    return summary
