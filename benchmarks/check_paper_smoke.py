"""Checks what `make paper-smoke` wrote (config/paper-smoke.yaml), and prints one line per record:
every cell has its base and run records from lm-eval's vllm backend under the authors' protocol;
math with 16 samples per item, the family wrapper, the authors' stops and the capped budget;
medical with the m1 file per source and the Hub group; figfont; training through accelerate's FSDP config on 2 processes
with the authors' numerics and both loss paths
(accelerate runs an FSDP config as MULTI_CPU data parallelism on a CPU-only machine; under
tests/fsdp_on_cpu, which make paper-smoke and slurm-smoke put on PYTHONPATH, it is real FSDP1 and
the realised sharding must be FULL_SHARD). Exits 1 naming what is missing.
With --slurm (`make slurm-smoke`), every record and train summary must also name the SLURM job it ran
under, and `sacct` must know that job as COMPLETED.
    python benchmarks/check_paper_smoke.py .paper-smoke/results [--slurm]
"""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def sacct_state(job_id: str) -> str:
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-j", job_id, "-o", "State"], capture_output=True, text=True)
    return out.stdout.strip() or f"unknown to sacct ({out.stderr.strip()})"


def main(results: str, slurm: bool = False) -> int:
    root = Path(results)
    problems, rows, launchers, rows_jobs = [], [], set(), []

    def need(ok, what):
        if not ok:
            problems.append(what)
        return ok

    records = sorted(root.glob("base/**/record.json")) + sorted(root.glob("runs/**/record.json"))
    domains = {}
    for path in records:
        r = json.loads(path.read_text())
        d, kind = r["run"]["domain"], r["kind"]
        domains.setdefault(d, set()).add(kind)
        ev = r["eval"]
        samples = read_jsonl(path.with_name("samples.jsonl"))
        n_resp = sorted({len(s["responses"]) if isinstance(s["responses"], list) else 1 for s in samples})
        need(ev["backend"] == "vllm", f"{path}: backend {ev['backend']}, not vllm")
        need(r.get("protocol") == "authors", f"{path}: protocol {r.get('protocol')!r}, not 'authors'")
        need(ev.get("max_model_len") == 1152, f"{path}: max_model_len {ev.get('max_model_len')}, not the backbone's 1152")
        if d == "math":
            need(n_resp == [16], f"{path}: {n_resp} samples per math item, not 16")
            need(ev["prompt_wrapper"] == "llama-base-boxed-with-bos", f"{path}: math wrapper {ev['prompt_wrapper']}")
            need(ev.get("analysis_wrapper") == "llama-base-boxed-with-bos",  # token analyses as training encodes
                 f"{path}: token analyses encoded with {ev.get('analysis_wrapper')!r}, not the trained wrapper")
            need("<|eot_id|>" in (ev.get("until") or []), f"{path}: the authors' math stops are missing")
            need(ev["max_gen_toks"] == 128, f"{path}: math budget {ev['max_gen_toks']}, not 4096 capped to 128")
            need("avg_at_k" in r["metrics"], f"{path}: no avg_at_k")
        if d.startswith("medical"):
            sources = (ev.get("by_source") or {}).get("deft_medical_m1", {})
            need(len(sources) >= 2, f"{path}: m1 accuracy per source missing ({sources})")
            need({"acc", "acc_items", "deft_medical/acc"} <= set(r["metrics"]), f"{path}: medical metrics {r['metrics']}")
            need(ev["prompt_wrapper"] == "medical-llama", f"{path}: medical wrapper {ev['prompt_wrapper']}")
        if d.startswith("figfont"):
            need("exact_match" in r["metrics"], f"{path}: figfont has no exact_match")
        if slurm:
            for what, job in (("evaluation", r["provenance"].get("job")),
                              ("training", (r["train"] or {}).get("job") if kind == "run" else {"job_id": None})):
                if kind == "base" and what == "training":
                    continue
                if need(job and job.get("job_id"), f"{path}: the {what} names no SLURM job ({job})"):
                    state = sacct_state(job["job_id"])
                    need(state == "COMPLETED", f"{path}: {what} job {job['job_id']} is {state} in sacct")
                    rows_jobs.append(job["job_id"])
        if kind == "run":
            s = r["train"]["settings"]
            need((s["loss_normalisation"], s["master_weights"], s["overlong"]) == ("authors", "bf16", "truncate"),
                 f"{path}: training numerics are not the authors' ({s})")
            dist = r["train"].get("distributed") or {}
            # accelerate 1.15 sets FSDP only for accelerator devices: an FSDP config on a CPU-only
            # machine runs as MULTI_CPU (DDP over gloo), silently; docs/paper-scale.md says so.
            need(dist.get("processes") == 2 and dist.get("type") in ("FSDP", "MULTI_CPU"),
                 f"{path}: trained under {dist}, not 2 data-parallel processes")
            launchers.add(dist.get("type"))
            real = r["train"].get("realised") or {}  # read back after set-up (deft.train.realised)
            need(real.get("param_dtype") == ["torch.bfloat16"] and real.get("optimizer_state_dtype") == ["torch.bfloat16"],
                 f"{path}: realised weights {real.get('param_dtype')} and optimizer states "
                 f"{real.get('optimizer_state_dtype')}, not the authors' bf16")
            need(real.get("processes") == 2, f"{path}: {real.get('processes')} processes realised, not 2")
            if dist.get("type") == "FSDP":  # under tests/fsdp_on_cpu: really sharded over the 2 ranks
                need(real.get("sharding_strategy") == "FULL_SHARD",
                     f"{path}: sharding {real.get('sharding_strategy')} realised, not FULL_SHARD")
            steps = read_jsonl(path.with_name("train_log.jsonl"))
            need(len(steps) == r["train"]["steps"] > 0, f"{path}: {len(steps)} step lines for {r['train']['steps']} steps")
            rows.append({"domain": d, "kind": kind, "loss_path": s["loss_path"], "items": r["n_test"],
                         "samples/item": n_resp[-1], **{k: round(v, 3) for k, v in r["metrics"].items()}})
        else:
            rows.append({"domain": d, "kind": kind, "items": r["n_test"], "samples/item": n_resp[-1],
                         **{k: round(v, 3) for k, v in r["metrics"].items()}})
    need({"math", "medical-llama", "figfont-llama"} <= set(domains), f"cells with records: {sorted(domains)}")
    need(all(v == {"base", "run"} for v in domains.values()), f"base and run records per cell: {domains}")
    paths = {r["loss_path"] for r in rows if "loss_path" in r}
    need(paths == {"linear", "logits"}, f"loss paths trained: {sorted(paths)}, not both")
    print(pd.DataFrame(rows).to_markdown(index=False))
    print(f"training ran as {sorted(launchers)} on 2 processes (configs/accelerate/fsdp-cpu.yaml asks for FSDP)")
    if slurm:
        print(f"SLURM jobs named by the records: {len(set(rows_jobs))} ({', '.join(sorted(set(rows_jobs), key=int))})")
    for p in problems:
        print("FAIL:", p)
    print("paper-smoke records:", "ok" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--slurm"]
    sys.exit(main(args[0] if args else ".paper-smoke/results", slurm="--slurm" in sys.argv[1:]))
