"""Greedy generation in the training format: one loop for the prior's stopping check, the
forgetting reference sets and the pilot (lm-eval does the scored evaluation)."""
from __future__ import annotations

import torch


@torch.no_grad()
def greedy_responses(model, tokenizer, examples: list[dict], max_new_tokens: int = 32, batch: int = 32) -> list[str]:
    """Greedy answers of ``model`` to ``examples``, formatted as training formats them (the chat
    template's generation prompt, or a raw prompt with the tokenizer's special tokens), decoded
    without special tokens. Leaves the model in the mode it found it in."""
    was_training = model.training
    model.eval()
    tokenizer.padding_side = "left"
    out = []
    for i in range(0, len(examples), batch):
        chunk = examples[i:i + batch]
        raw = chunk[0].get("format") == "raw"
        texts = [e["prompt"] if raw else tokenizer.apply_chat_template(
            [{"role": "user", "content": e["prompt"]}], add_generation_prompt=True, tokenize=False) for e in chunk]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=raw).to(model.device)
        ids = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        out += [tokenizer.decode(r, skip_special_tokens=True) for r in ids[:, enc["input_ids"].shape[1]:]]
    model.train(was_training)
    return out


def answer_budget(tokenizer, examples: list[dict]) -> int:
    """New tokens that cannot cut a valid answer of ``examples`` in their format: the longest gold
    response (``target`` or ``answer``) in tokens, plus its end-of-sequence token."""
    return 1 + max(len(tokenizer(e.get("target", e["answer"]), add_special_tokens=False)["input_ids"])
                   for e in examples)
