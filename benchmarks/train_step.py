"""Training-step time of the embedded 135M backbone per objective and loss path, as a table.

A plain loop of the same pieces the trainer uses (HeadBypass + linear_terms, or logits + terms),
AdamW, random token batches; reports the median step time over --steps steps after one warm-up.

    python benchmarks/train_step.py --model results/backbones/smollm2-135m --objectives nll deft
"""
from __future__ import annotations

import argparse
import statistics
import time

from deft.io import write_bytes_atomic


def step_times(model_dir, objective, path, batch, seq, steps, chunk):
    import torch
    from transformers import AutoModelForCausalLM

    from deft.train.trainer import HeadBypass, ObjectiveLoss

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    head = HeadBypass(model.get_output_embeddings()) if path == "linear" else None
    if head is not None:
        model.set_output_embeddings(head)
    loss_fn = ObjectiveLoss(objective, {}, head, chunk)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.95), weight_decay=0.01)
    ids = torch.randint(0, model.config.vocab_size, (batch, seq))
    labels = ids.clone()
    labels[:, : seq // 2] = -100
    times = []
    for _ in range(steps + 1):
        t0 = time.perf_counter()
        loss = loss_fn(model(input_ids=ids), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="results/backbones/smollm2-135m")
    ap.add_argument("--objectives", nargs="+", default=["nll", "deft"])
    ap.add_argument("--paths", nargs="+", default=["linear", "logits"])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=512)
    ap.add_argument("--out", default="results/benchmarks/train_step.md")
    args = ap.parse_args()
    rows = [(p, o, step_times(args.model, o, p, args.batch, args.seq, args.steps, args.chunk))
            for p in args.paths for o in args.objectives]
    lines = [f"{args.model}, batch {args.batch} x {args.seq} tokens, CPU fp32, median of {args.steps} steps", "",
             "| loss path | objective | step time (s) |", "|---|---|---|"]
    lines += [f"| {p} | {o} | {t:.2f} |" for p, o, t in rows]
    for p in args.paths:
        t = {o: s for q, o, s in rows if q == p}
        if "nll" in t:
            lines += [f"\n{p}: {o} / nll = {s / t['nll']:.2f}" for o, s in t.items() if o != "nll"]
    table = "\n".join(lines) + "\n"
    write_bytes_atomic(args.out, table.encode())
    print(table)


if __name__ == "__main__":
    main()
