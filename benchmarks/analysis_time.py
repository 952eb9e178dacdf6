"""The per-run analyses of a shard (forgetting reference hits and held-out gradient-map tokens,
``deft.eval.evaluate.evaluate_to_record``), full forward against cached lower-block states
(``token_stats(top_blocks=...)``), on one core as a shard job runs them.

    python benchmarks/analysis_time.py [--model results/backbones/smollm2-135m]
        [--reference results/reference/backbone=smollm2-135m/reference.jsonl]
        [--test results/data/domain=arithmetic/test.jsonl] [--top-blocks 4] [--threads 1]

Two "runs" stand in for a shard's: copies of the backbone whose top ``--top-blocks`` blocks are
perturbed differently (as partial fine-tuning changes them). Per variant: seconds of
``reference_hits`` and of ``heldout_tokens`` (the grid's objectives), and the largest difference of
p_y from the full forward of the same model; the first cached run computes the lower states, the
second finds them.
"""
from __future__ import annotations

import argparse
import time

import torch

from deft.eval.analysis import heldout_tokens, load_for_analysis
from deft.eval.forgetting import reference_hits
from deft.io import read_jsonl

OBJECTIVES = {"nll": {}, "neg_p": {}, "cayley": {}, "deft": {}}


def perturbed(model_dir, top_blocks: int, seed: int):
    model, tok = load_for_analysis(model_dir)
    torch.manual_seed(seed)
    for p in model.model.layers[len(model.model.layers) - top_blocks:].parameters():
        p.data += 1e-3 * torch.randn_like(p)
    return model, tok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="results/backbones/smollm2-135m")
    ap.add_argument("--reference", default="results/reference/backbone=smollm2-135m/reference.jsonl")
    ap.add_argument("--test", default="results/data/domain=arithmetic/test.jsonl")
    ap.add_argument("--top-blocks", type=int, default=4)
    ap.add_argument("--examples", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    test = read_jsonl(args.test)[:args.examples]
    rows = []
    for run in (1, 2):
        model, tok = perturbed(args.model, args.top_blocks, run)
        full = {}
        for label, top in (("full forward", None), ("lower states cached" if run == 2 else "lower states computed",
                                                     args.top_blocks)):
            t = time.perf_counter()
            hits = reference_hits(model, tok, args.reference, args.examples, top_blocks=top)
            t_ref, t = time.perf_counter() - t, time.perf_counter()
            tokens = heldout_tokens(model, tok, test, OBJECTIVES, "run", top_blocks=top)
            t_tok = time.perf_counter() - t
            if top is None:
                full = {"hits": hits, "tokens": tokens}
            diff = float((tokens.p_y - full["tokens"].p_y).abs().max())
            rows.append((f"run {run}, {label}", t_ref, t_tok, diff, hits["top1"] == full["hits"]["top1"]))
    print(f"reference {args.reference} ({args.examples} examples), held-out {args.test}, top {args.top_blocks} "
          f"blocks, {args.threads} thread(s)\n")
    print("| variant | reference_hits s | heldout_tokens s | max p_y diff | same top-1 hits |")
    print("|---|---|---|---|---|")
    for label, a, b, d, same in rows:
        print(f"| {label} | {a:.1f} | {b:.1f} | {d:.1e} | {same} |")


if __name__ == "__main__":
    main()
