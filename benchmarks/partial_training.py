"""Speed levers of the embedded default's partial fine-tuning, measured against the study's own
run (docs/measurements.md): the full forward (fp32) against cached trunk states
(``train.trunk_cache``) and bf16 autocast, on one core as a shard job trains.

    python benchmarks/partial_training.py [--model results/backbones/smollm2-135m-prior]
        [--data results/data/domain=arithmetic] [--objective deft] [--threads 1]

Each variant trains the config's recipe for that backbone (config/config.yaml, train_settings)
on the study's noisy training file, in one process in this order, so the second trunk-cache run
finds the states of the first (as a shard's later runs do). Per variant: seconds of the whole ``train`` call (loading,
tokenising, trunk states, steps, saving) and of its optimizer steps,
the largest per-step difference of the logged batch NLL from the fp32 full forward (the same
batches in the same order), the largest weight difference, and greedy exact match on prior_dev.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
import yaml

import deft.config as dc
from deft.eval.scoring import score
from deft.io import read_jsonl
from deft.train.prior import greedy_accuracy
from deft.train.trainer import train

VARIANTS = [  # (label, extra settings)
    ("full forward, fp32", {}),
    ("trunk cache, fp32 (states computed)", {"trunk_cache": True}),
    ("trunk cache, fp32 (states cached)", {"trunk_cache": True}),
    ("trunk cache, bf16 autocast", {"trunk_cache": True, "bf16": True}),
    ("full forward, bf16 autocast", {"bf16": True}),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="results/backbones/smollm2-135m-prior")
    ap.add_argument("--data", default="results/data/domain=arithmetic")
    ap.add_argument("--noise", default="noise=answer-0.3/seed=0")
    ap.add_argument("--objective", default="deft")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", nargs="*", help="variant labels to run (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = yaml.safe_load(Path("config/config.yaml").read_text())
    backbone = Path(args.model).name
    settings = {**dc.train_settings(config, backbone, "arithmetic"), "objective": args.objective, "seed": 0}
    train_file = Path(args.data) / args.noise / "train.jsonl"
    dev = read_jsonl(Path(args.data) / "prior_dev.jsonl")
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    rows, ref_nll, ref_w = [], None, None
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, extra) in enumerate(VARIANTS):
            if args.only and label not in args.only:
                continue
            out, log = Path(tmp) / f"m{i}", Path(tmp) / f"l{i}.jsonl"
            t0 = time.perf_counter()
            summary = train(args.model, train_file, out, log, {**settings, **extra})
            call_s = time.perf_counter() - t0  # with loading, tokenising and the trunk states
            nll = [json.loads(x)["nll"] for x in log.read_text().splitlines()]
            weights = load_file(out / "model.safetensors")
            if ref_nll is None:
                ref_nll, ref_w = nll, weights
            model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
            rows.append({"variant": label, "train_call_s": call_s, "steps_s": summary["wall_s"],
                         "max_step_nll_diff": max(abs(a - b) for a, b in zip(nll, ref_nll)),
                         "max_weight_diff": max(float((weights[k] - ref_w[k]).abs().max()) for k in ref_w),
                         "prior_dev_exact_match": greedy_accuracy(model, tokenizer, dev, score)})
            print(rows[-1], flush=True)
    print(f"\n{backbone}, {args.objective}, {train_file}, {settings['train_blocks']} top blocks, "
          f"{args.threads} thread(s), lr {settings['learning_rate']}\n")
    import pandas as pd

    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".4g"))


if __name__ == "__main__":
    main()
