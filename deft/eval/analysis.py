"""Token-level analyses of the paper's argument: where each objective puts its gradient.

``token_stats`` runs a model over (prompt, answer) examples and returns one row per response token:
target probability p_y, predictive entropy H(pi), whether the target is the top-1 prediction,
and per objective the gate w and the normalised gradient magnitude w * ||pi - e_y||_2 (the norm of
the logit gradient of that token, up to the 1/num_items factor). Gates come from
``deft.losses.terms``, the same code the trainer uses.

``conflict_shares`` splits each objective's total gate mass into corrupted vs clean examples (the
"confident conflict" analysis); ``forgetting_rate`` is the share of reference tokens that were the
model's top-1 prediction before fine-tuning and are not after.
"""
from __future__ import annotations

import pandas as pd
import torch

import deft.losses as L

from ..train.trainer import encode_example


@torch.no_grad()
def token_stats(model, tokenizer, examples: list[dict], objectives: dict[str, dict], batch: int = 16) -> pd.DataFrame:
    """One row per response token of ``examples`` (each with id, prompt, answer) under ``model``
    (on whatever device the model is)."""
    model.eval()
    device = next(model.parameters()).device
    rows = []
    for i in range(0, len(examples), batch):
        chunk = examples[i:i + batch]
        enc = [encode_example(tokenizer, e) for e in chunk]
        n = max(len(ids) for ids, _ in enc)
        ids = torch.tensor([x + [tokenizer.pad_token_id] * (n - len(x)) for x, _ in enc])
        labels = torch.tensor([y + [-100] * (n - len(y)) for _, y in enc])
        mask = (ids != tokenizer.pad_token_id) | (torch.arange(n) < torch.tensor([len(x) for x, _ in enc])[:, None])
        logits = model(input_ids=ids.to(device), attention_mask=mask.long().to(device)).logits[:, :-1]
        y = labels[:, 1:].to(device)
        valid = y != -100
        z = logits[valid].float()  # response positions only: fp32 [tokens x vocab], not [batch x length x vocab]
        del logits
        t = y[valid]
        logpi = torch.log_softmax(z, -1)
        pi = logpi.exp()
        p = pi.gather(-1, t[:, None]).squeeze(-1)
        entropy = -(pi * logpi).sum(-1)
        err_norm = ((pi * pi).sum(-1) - 2 * p + 1).clamp(min=0).sqrt()
        frame = {"p_y": p, "entropy": entropy, "top1": z.argmax(-1) == t}
        for name, params in objectives.items():
            w = L.gate(name, z, t, **params)
            frame[f"gate_{name}"] = w
            frame[f"grad_{name}"] = w * err_norm
        valid = valid.cpu()
        example = torch.arange(len(chunk))[:, None].expand_as(valid)[valid]
        position = torch.arange(valid.shape[1])[None, :].expand_as(valid)[valid]
        df = pd.DataFrame({k: v.cpu().numpy() for k, v in frame.items()})
        df.insert(0, "position", position.numpy())
        df.insert(0, "example", [chunk[j]["id"] for j in example.tolist()])
        rows.append(df)
    return pd.concat(rows, ignore_index=True)


def conflict_shares(stats: pd.DataFrame, corrupted_ids: set, objectives) -> pd.DataFrame:
    """Per objective: the share of total gate mass on tokens of corrupted vs clean examples, next to
    the share of tokens that are corrupted (what an objective that ignores confidence would give)."""
    bad = stats.example.isin(corrupted_ids)
    out = []
    for name in objectives:
        g = stats[f"gate_{name}"]
        total = g.sum()
        out.append({"objective": name, "token_share_corrupted": bad.mean(),
                    "gate_share_corrupted": g[bad].sum() / total if total else float("nan"),
                    "gate_share_clean": g[~bad].sum() / total if total else float("nan")})
    return pd.DataFrame(out)


def forgetting_rate(top1_before, top1_after) -> float:
    """Share of tokens correct (top-1 == target) before fine-tuning that are no longer correct after."""
    before = torch.as_tensor(top1_before, dtype=torch.bool)
    after = torch.as_tensor(top1_after, dtype=torch.bool)
    if before.shape != after.shape:
        raise ValueError(f"before {tuple(before.shape)} and after {tuple(after.shape)} must cover the same tokens")
    n = int(before.sum())
    return float((before & ~after).sum()) / n if n else float("nan")


def token_stats_stage(model_dir, train_path, audit_path, objectives: dict, n_examples: int, out_csv,
                      identity: dict) -> pd.DataFrame:
    """Pipeline stage: token statistics of the first ``n_examples`` of a (noisy) training set under
    the model before fine-tuning, each token marked with whether its example was corrupted."""
    import json

    from ..io import read_jsonl, write_bytes_atomic

    examples = read_jsonl(train_path)[:n_examples]
    corrupted = {c["id"] for c in json.loads(open(audit_path).read())["corrupted"]}
    model, tok = load_for_analysis(model_dir)
    stats = token_stats(model, tok, examples, objectives)
    stats.insert(0, "corrupted", stats.example.isin(corrupted))
    for key, value in reversed(list(identity.items())):
        stats.insert(0, key, value)
    write_bytes_atomic(out_csv, stats.to_csv(index=False).encode())
    return stats


def collect_token_stats(paths, out_csv) -> pd.DataFrame:
    """One tidy CSV of the per-cell token statistics (``token_stats_stage`` outputs)."""
    from ..io import write_bytes_atomic

    df = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    write_bytes_atomic(out_csv, df.to_csv(index=False).encode())
    return df


def load_for_analysis(model_dir):
    """(model, tokenizer) for token statistics: fp32 on CPU, bf16 on a GPU when there is one."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cuda = torch.cuda.is_available()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16 if cuda else torch.float32)
    return model.to("cuda" if cuda else "cpu"), AutoTokenizer.from_pretrained(model_dir)


def reference_hits(model, tokenizer, reference_path, n_examples: int = 64) -> dict:
    """Per response token of the first ``n_examples`` of a clean reference set, whether the model's
    top-1 prediction is the target (``top1``, for the token-level forgetting rate); per example,
    whether all of them are (``exact``).

    ``exact`` is greedy exact-match accuracy without generating: greedy decoding reproduces the
    answer and its end-of-turn token if and only if the target is the arg-max at every position
    given the answer's own prefix (induction over positions), which is what ``top1`` checks.
    """
    from ..io import read_jsonl

    stats = token_stats(model, tokenizer, read_jsonl(reference_path)[:n_examples], {}, batch=4)
    exact = stats.groupby("example", sort=False).top1.all()
    return {"top1": [bool(x) for x in stats.top1], "exact": [bool(x) for x in exact]}


def task_accuracy(hits: dict) -> float:
    """Greedy exact-match accuracy on the reference set (see ``reference_hits``)."""
    return sum(hits["exact"]) / len(hits["exact"]) if hits["exact"] else float("nan")


def heldout_tokens(model, tokenizer, examples: list[dict], objectives: dict[str, dict], model_label: str) -> pd.DataFrame:
    """Long-format gradient-map rows: one row per (response token, objective) with p_y, entropy,
    gate and gate * ||pi - e_y||; ``model`` says whose predictions these are (``base`` before
    fine-tuning, else the objective the model was fine-tuned with)."""
    stats = token_stats(model, tokenizer, examples, objectives, batch=4)
    parts = [pd.DataFrame({"model": model_label, "objective": name, "example": stats.example,
                           "position": stats.position, "p_y": stats.p_y, "entropy": stats.entropy,
                           "gate": stats[f"gate_{name}"], "grad": stats[f"grad_{name}"]})
             for name in objectives]
    return pd.concat(parts, ignore_index=True)
