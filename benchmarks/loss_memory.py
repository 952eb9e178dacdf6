"""Peak extra memory and time of the loss (forward + backward) on CPU, as a printed table.

Cases, for N tokens, hidden size H and vocabulary V (fp32):
  ref_deft    reference-style DEFT: materialised logits, fp32 log_softmax and softmax
  ce          F.cross_entropy on materialised logits
  linear_nll  deft.losses.linear_loss("nll", ...)  (chunked, logits never materialised)
  linear_deft deft.losses.linear_loss("deft", ...)

Each case runs in a fresh process; extra memory = peak RSS - RSS once the inputs exist; time = the
median of --repeats forward+backward passes. Writes the table to results/benchmarks/loss_memory.md.

    python benchmarks/loss_memory.py --vocab 49152 151936 --repeats 3
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

from deft.io import write_bytes_atomic


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def run_case(case: str, n: int, h: int, v: int, repeats: int, chunk: int) -> dict:
    import torch
    import torch.nn.functional as F

    import deft.losses as L

    torch.manual_seed(0)
    hidden = (torch.randn(n, h) * 0.05).requires_grad_(True)
    weight = (torch.randn(v, h) * 0.05).requires_grad_(True)
    labels = torch.randint(0, v, (n,))

    def ref_deft():
        logits = hidden @ weight.T
        logp = F.log_softmax(logits.float(), -1)
        probs = F.softmax(logits.float(), -1)
        a = (probs * probs).sum(-1).detach()
        p = logp.gather(-1, labels[:, None]).squeeze(-1).exp()
        return ((1 - p.pow(a)) / (a + 1e-6)).mean()

    fns = {
        "ref_deft": ref_deft,
        "ce": lambda: F.cross_entropy(hidden @ weight.T, labels),
        "linear_nll": lambda: L.linear_loss("nll", hidden, weight, labels, chunk_size=chunk),
        "linear_deft": lambda: L.linear_loss("deft", hidden, weight, labels, chunk_size=chunk),
    }
    base = rss_mib()
    times = []
    for _ in range(repeats):
        hidden.grad = weight.grad = None
        t0 = time.perf_counter()
        fns[case]().backward()
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"case": case, "V": v, "extra_mib": peak - base, "time_s": statistics.median(times)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--hidden", type=int, default=896)
    ap.add_argument("--vocab", type=int, nargs="+", default=[49152, 151936])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=512)
    ap.add_argument("--cases", nargs="+", default=["ref_deft", "ce", "linear_nll", "linear_deft"])
    ap.add_argument("--out", default="results/benchmarks/loss_memory.md")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        case, v = args.one.split(":")
        print(json.dumps(run_case(case, args.tokens, args.hidden, int(v), args.repeats, args.chunk)))
        return
    rows = []
    for v in args.vocab:
        for case in args.cases:
            cmd = [sys.executable, __file__, "--one", f"{case}:{v}", "--tokens", str(args.tokens), "--hidden",
                   str(args.hidden), "--repeats", str(args.repeats), "--chunk", str(args.chunk)]
            rows.append(json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout))
            print(rows[-1], file=sys.stderr, flush=True)
    lines = [f"N = {args.tokens}, H = {args.hidden}, fp32, CPU, chunk = {args.chunk}, median of {args.repeats}", "",
             "| V | case | peak extra memory (MiB) | time fwd+bwd (s) |", "|---|---|---|---|"]
    lines += [f"| {r['V']} | {r['case']} | {r['extra_mib']:.0f} | {r['time_s']:.2f} |" for r in rows]
    for v in args.vocab:
        by = {r["case"]: r for r in rows if r["V"] == v}
        if {"ref_deft", "ce", "linear_nll", "linear_deft"} <= set(by):
            d = by["linear_deft"]
            lines.append(f"\nV = {v}: linear_deft memory = {d['extra_mib'] / by['ref_deft']['extra_mib']:.2f} x ref_deft, "
                         f"{d['extra_mib'] / by['ce']['extra_mib']:.2f} x ce; time = "
                         f"{d['time_s'] / by['linear_nll']['time_s']:.2f} x linear_nll, "
                         f"{d['time_s'] / by['ce']['time_s']:.2f} x ce")
    table = "\n".join(lines) + "\n"
    write_bytes_atomic(args.out, table.encode())
    print(table)


if __name__ == "__main__":
    main()
