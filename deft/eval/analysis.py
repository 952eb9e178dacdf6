"""Token-level analyses of the paper's argument: where each objective puts its gradient.

``token_stats`` runs a model over (prompt, answer) examples and returns one row per response token:
target probability p_y, predictive entropy H(pi), whether the target is the top-1 prediction,
and per objective the gate w and the normalised gradient magnitude w * ||pi - e_y||_2 (the norm of
the logit gradient of that token, up to the 1/num_items factor). Gates come from
``deft.losses.terms``, the same code the trainer uses.

``conflict_shares`` splits each objective's logit-gradient norm over the changed answer tokens,
unchanged tokens and end-of-turn tokens of corrupted examples and the clean examples (the
"confident conflict" analysis). Forgetting lives in ``deft.eval.forgetting``.
"""
from __future__ import annotations

import pandas as pd
import torch

import deft.losses as L

from ..train import trunk
from ..train.trainer import encode_example


@torch.no_grad()
def token_stats(model, tokenizer, examples: list[dict], objectives: dict[str, dict], batch: int = 16,
                wrapper: str | None = None, top_blocks: int | None = None, encoding: str = "suite") -> pd.DataFrame:
    """One row per response token of ``examples`` (each with id, prompt, answer) under ``model``
    (on whatever device the model is), each encoded as training encodes it (``wrapper``: the
    cell's ``train_settings`` prompt wrapper, e.g. a family's math wrapper at paper scale, and its
    ``encoding``).

    The LM head runs only at the positions that predict a response token. ``top_blocks`` (a
    fine-tuning's ``train_blocks``): the lower blocks' states come from ``deft.train.trunk.lower_states``,
    computed once per process for these inputs and lower weights, so the runs of a shard that
    froze them run only the top blocks here (a model whose lower blocks differ gets its own)."""
    model.eval()
    device = next(model.parameters()).device
    batches = []
    for i in range(0, len(examples), batch):
        chunk = examples[i:i + batch]
        enc = [encode_example(tokenizer, e, wrapper, encoding) for e in chunk]
        n = max(len(ids) for ids, _ in enc)
        ids = torch.tensor([x + [tokenizer.pad_token_id] * (n - len(x)) for x, _ in enc])
        labels = torch.tensor([y + [-100] * (n - len(y)) for _, y in enc])
        mask = ((ids != tokenizer.pad_token_id) | (torch.arange(n) < torch.tensor([len(x) for x, _ in enc])[:, None])).long()
        batches.append((chunk, ids, labels, mask))
    lower = trunk.lower_states(model, [(ids, mask) for _, ids, _, mask in batches], top_blocks) if top_blocks else None
    rows = []
    for b, (chunk, ids, labels, mask) in enumerate(batches):
        y = labels[:, 1:].to(device)
        valid = y != -100
        z = _response_logits(model, ids.to(device), mask.to(device), valid, top_blocks,
                             None if lower is None else lower[b])
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


TOKEN_CLASSES = ("changed", "unchanged", "end", "clean")


def token_classes(tokenizer, example: dict, original_answer: str | None, wrapper: str | None = None,
                  encoding: str = "suite") -> list[str]:
    """The class of each response token of ``example`` (its training encoding): ``clean`` for an
    uncorrupted example (``original_answer`` None); for a corrupted one ``changed`` where its
    token differs from the uncorrupted answer's token at that position (or the original is shorter),
    ``unchanged`` where it is the same, and ``end`` for end-of-turn, special and whitespace tokens
    (they close the answer whatever it says). ``wrapper``, ``encoding`` as in ``token_stats``."""
    _, labels = encode_example(tokenizer, example, wrapper, encoding)
    noisy = [t for t in labels if t != -100]
    if original_answer is None:
        return ["clean"] * len(noisy)
    original = {**example, "answer": original_answer}
    if "target" in example:  # compact format: the trained text is the target, which ends with the answer
        target, answer = example["target"], example["answer"]
        prefix = target[: len(target) - len(answer)] if target.endswith(answer) else ""
        original["target"] = prefix + original_answer  # as deft.data.noise.inject rewrote it
    _, orig_labels = encode_example(tokenizer, original, wrapper, encoding)
    orig = [t for t in orig_labels if t != -100]
    special = set(tokenizer.all_special_ids)
    out = []
    for i, t in enumerate(noisy):
        if t in special or not tokenizer.decode([t]).strip():
            out.append("end")
        else:
            out.append("unchanged" if i < len(orig) and orig[i] == t else "changed")
    return out


def conflict_shares(stats: pd.DataFrame, corrupted_ids: set, objectives) -> pd.DataFrame:
    """Per objective, where its update goes on noisy training data: the share of the total
    logit-gradient norm (``grad_*``: gate x ||pi - e_y||) on each token class of corrupted examples
    (``changed`` answer tokens, ``unchanged`` ones, ``end`` of turn), beside each class's share of
    tokens (what an objective blind to confidence gives, up to ||pi - e_y||); and the share of the
    gate mass on all tokens of corrupted examples (the coarser earlier measure). Without a
    ``token_class`` column (token statistics written before it existed) only the example-level
    shares are given."""
    bad = stats.example.isin(corrupted_ids)
    classes = stats.token_class if "token_class" in stats else None
    out = []
    for name in objectives:
        g, grad = stats[f"gate_{name}"], stats.get(f"grad_{name}")
        total_g = g.sum()
        row = {"objective": name, "token_share_corrupted": bad.mean(),
               "gate_share_corrupted": g[bad].sum() / total_g if total_g else float("nan"),
               "gate_share_clean": g[~bad].sum() / total_g if total_g else float("nan")}
        if grad is not None:
            total = grad.sum()
            row["grad_share_corrupted"] = grad[bad].sum() / total if total else float("nan")
            if classes is not None:
                for c in TOKEN_CLASSES[:3]:
                    row[f"token_share_{c}"] = (classes == c).mean()
                    row[f"grad_share_{c}"] = grad[classes == c].sum() / total if total else float("nan")
        out.append(row)
    return pd.DataFrame(out)


def token_stats_stage(model_dir, train_path, audit_path, objectives: dict, n_examples: int, out_csv,
                      identity: dict, wrapper: str | None = None, encoding: str = "suite") -> pd.DataFrame:
    """Pipeline stage: token statistics of the first ``n_examples`` of a (noisy) training set under
    the model before fine-tuning, encoded as training encodes them (``wrapper``), each token marked
    with whether its example was corrupted and its ``token_class`` (``token_classes``)."""
    import json

    from ..io import read_jsonl, write_bytes_atomic

    examples = read_jsonl(train_path)[:n_examples]
    original = {c["id"]: c["original"] for c in json.loads(open(audit_path).read())["corrupted"]}
    model, tok = load_for_analysis(model_dir)
    stats = token_stats(model, tok, examples, objectives, wrapper=wrapper, encoding=encoding)
    stats.insert(0, "token_class", [c for e in examples
                                    for c in token_classes(tok, e, original.get(e["id"]), wrapper, encoding)])
    stats.insert(0, "corrupted", stats.example.isin(set(original)))
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


def _response_logits(model, ids, mask, valid, top_blocks=None, lower=None) -> torch.Tensor:
    """fp32 logits [response tokens x vocab] of the positions ``valid`` marks (those predicting a
    response token): the LM head, about a fifth of the small model, skips the prompt. With
    ``lower`` (the states below the top ``top_blocks`` blocks) only the top blocks run."""
    if lower is None:
        h = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
    else:
        n = len(model.model.layers)
        with trunk.blocks(model, slice(n - top_blocks, n)):
            h = model.model(inputs_embeds=lower, attention_mask=mask).last_hidden_state
    return model.lm_head(h[:, :-1][valid]).float()


def load_for_analysis(model_dir):
    """(model, tokenizer) for token statistics: fp32 on CPU, bf16 on a GPU when there is one."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cuda = torch.cuda.is_available()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16 if cuda else torch.float32)
    return model.to("cuda" if cuda else "cpu"), AutoTokenizer.from_pretrained(model_dir)


def heldout_tokens(model, tokenizer, examples: list[dict], objectives: dict[str, dict], model_label: str,
                   wrapper: str | None = None, top_blocks: int | None = None, encoding: str = "suite") -> pd.DataFrame:
    """Long-format gradient-map rows: one row per (response token, objective) with p_y, entropy,
    gate and gate * ||pi - e_y||; ``model`` says whose predictions these are (``base`` before
    fine-tuning, else the objective the model was fine-tuned with). The examples are encoded as
    training encodes them (``wrapper``), since the map shows where a training update would go."""
    stats = token_stats(model, tokenizer, examples, objectives, batch=4, wrapper=wrapper, top_blocks=top_blocks,
                        encoding=encoding)
    parts = [pd.DataFrame({"model": model_label, "objective": name, "example": stats.example,
                           "position": stats.position, "p_y": stats.p_y, "entropy": stats.entropy,
                           "gate": stats[f"gate_{name}"], "grad": stats[f"grad_{name}"]})
             for name in objectives]
    return pd.concat(parts, ignore_index=True)
