"""The nll pilot that chose the embedded recipe (docs/embedded-study.md, "Recipe"): fine-tune with nll under a few
settings and print held-out greedy exact match (strict, trained format) per setting, with time.

    python benchmarks/recipe_pilot.py BASE_MODEL DATA_DIR [--prior] [--threads 2]

BASE_MODEL: a backbone folder (results/backbones/smollm2-135m); DATA_DIR: a domain's split folder
(results/data/domain=arithmetic). Without --prior it fine-tunes on train.jsonl and scores
prior_dev.jsonl (since issue #26 train.jsonl is the 512-example pool the seeds draw from: give a
seed's 256 with --train results/data/domain=arithmetic/noise=clean/seed=0/train.jsonl); with --prior it trains on prior.jsonl and prints prior_dev accuracy every few
steps (how many steps an early and a full prior need). Settings are chosen on prior_dev (held out
from training and from the test set: choosing on test would tune the recipe to the test items);
``--noise`` trains on a noisy training file instead (``--train`` names it).
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from deft.eval.scoring import score
from deft.io import read_jsonl
from deft.train.prior import greedy_accuracy
from deft.train.trainer import train


def _setting(blocks, lr, cached=False):
    """(label, settings) of one pilot row: 32 steps (2 epochs of 256 at batch 16), the top ``blocks``
    (None: every parameter), ``cached``: on cached trunk states (train.trunk_cache; same gradients,
    the frozen blocks run once)."""
    where = "full" if blocks is None else f"top{blocks}{'c' if cached else ''}"
    cfg = {"learning_rate": lr, "batch_size": 16, "epochs": 2}
    if blocks is not None:
        cfg["train_blocks"] = blocks
    if cached:
        cfg["trunk_cache"] = True
    return f"{where} lr {lr:.0e} bs16 x2ep".replace("e-0", "e-"), cfg


SETTINGS = ([_setting(None, lr) for lr in (1e-5, 3e-5, 1e-4, 3e-4)]
            + [_setting(4, lr) for lr in (1e-5, 3e-5, 1e-4, 3e-4)]
            + [_setting(8, lr) for lr in (1e-4, 3e-4)]
            + [_setting(k, lr, cached=True) for k, lr in ((8, 3e-5), (12, 3e-5), (8, 1e-4), (8, 3e-4), (16, 1e-4),
                                                          (16, 3e-5))])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("data", type=Path)
    ap.add_argument("--prior", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default=None, help="comma-separated labels of SETTINGS to run")
    ap.add_argument("--train", type=Path, default=None, help="training file (default DATA/train.jsonl)")
    ap.add_argument("--prior-lr", type=float, default=1e-4)
    ap.add_argument("--prior-batch", type=int, default=32)
    ap.add_argument("--prior-steps", type=int, default=96)
    ap.add_argument("--eval-every", type=int, default=8)
    ap.add_argument("--base", action="store_true", help="also score the model before fine-tuning")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(a.model)
    base = {"objective": "nll", "warmup_ratio": 0.1, "lr_scheduler": "cosine", "weight_decay": 0.0,
            "adam_beta1": 0.9, "adam_beta2": 0.95, "max_len": 64, "seed": a.seed}
    with tempfile.TemporaryDirectory() as tmp:
        if a.prior:
            dev = read_jsonl(a.data / "prior_dev.jsonl")
            t0 = time.perf_counter()
            hist = []
            s = train(a.model, a.data / "prior.jsonl", Path(tmp) / "m", Path(tmp) / "l.jsonl",
                      {**base, "learning_rate": a.prior_lr, "batch_size": a.prior_batch, "max_steps": a.prior_steps,
                       "warmup_ratio": 0.05},
                      stop_check=(lambda m: greedy_accuracy(m, tok, dev, score), a.eval_every, 1.01))
            hist = s["stop_history"]
            print("| step | prior_dev exact match |\n|---|---|")
            for h in hist:
                print(f"| {h['step']} | {h['value']:.3f} |", flush=True)
            print(f"wall {time.perf_counter() - t0:.0f} s")
            return
        test = read_jsonl(a.data / "prior_dev.jsonl")
        print("| setting | steps | prior_dev exact match | train wall s |\n|---|---|---|---|")
        if a.base:
            from transformers import AutoModelForCausalLM
            acc = greedy_accuracy(AutoModelForCausalLM.from_pretrained(a.model), tok, test, score)
            print(f"| base | 0 | {acc:.3f} | 0 |", flush=True)
        for label, cfg in SETTINGS:
            if a.only and label not in a.only.split(","):
                continue
            s = train(a.model, a.train or a.data / "train.jsonl", Path(tmp) / label.replace(" ", "_"), Path(tmp) / "l.jsonl",
                      {**base, **cfg})
            from transformers import AutoModelForCausalLM
            m = AutoModelForCausalLM.from_pretrained(Path(tmp) / label.replace(" ", "_"))
            acc = greedy_accuracy(m, tok, test, score)
            print(f"| {label} | {s['steps']} | {acc:.3f} | {s['wall_s']:.0f} |", flush=True)
            print(json.dumps({"label": label, "acc": acc, "wall": s["wall_s"]}), flush=True)


if __name__ == "__main__":
    main()
