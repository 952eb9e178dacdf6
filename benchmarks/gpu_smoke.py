"""GPU preflight of the paper path, for a session that is lent a GPU (benchmarks/gpu_smoke.sh runs it).

Offline, before any paper job. Fails at once (exit 2) when CUDA is unusable. Then:
  1. Training with paper.yaml's train block (the authors' numerics: bf16 weights and AdamW states
     without an fp32 copy, per-micro-batch normalisation, truncation, warm-up from 0, their
     encoding) through paper.yaml's launcher (accelerate + FSDP, configs/accelerate/fsdp-bf16-weights.yaml)
     on 2 processes where 2 GPUs exist (on one it says that sharding was NOT tested), for nll and
     deft on both loss paths, on a random Llama (``--hidden``, ``--layers``; the tokenizer travels in
     .gpu-smoke/tokenizer, written here by ``prepare``). Asserted from each run's summary: realised
     bf16 parameters and optimizer states, the process count, the sharding FSDP really ran; the
     two paths' first losses agree. Printed: response tokens/s and peak GPU memory per (objective, path).
  2. Save, kill, resume: a deft run killed (SIGKILL to its process tree) once its first complete
     checkpoint is on disk, then rerun: it must resume there and end with the uninterrupted run's
     weights, judged beside a second uninterrupted run (bitwise when the reruns are; never worse
     than 10x their difference, nor off by 1e-2).
  3. A real-shape probe of the loss alone: hidden 4096, vocabulary 128,256 (Llama-3), 2 layers,
     4 x 3072 tokens, bf16, forward + backward for nll and deft on the logits path and the chunked
     linear path: peak GPU memory and tokens/s.
  4. Where vllm and lm-eval import, the trained model through lm-eval's vllm backend.
    python benchmarks/gpu_smoke.py prepare                  # here: writes .gpu-smoke/tokenizer
    python benchmarks/gpu_smoke.py run                      # there (--parts: a subset)
    python benchmarks/gpu_smoke.py run --cpu --hidden 64 ...  # the same on 2 CPU ranks under real FSDP1
                                                              # (tests/fsdp_on_cpu), small shapes
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".gpu-smoke"
PARTS = {"train", "kill-resume", "probe", "vllm"}


def prepare() -> None:
    from deft.train.backbones import embedded_tokenizer

    embedded_tokenizer().save_pretrained(WORK / "tokenizer")
    print("wrote", WORK / "tokenizer")


def build_model(hidden: int, layers: int, vocab: int | None = None, tie: bool = True):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(WORK / "tokenizer")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=vocab or len(tok), hidden_size=hidden, intermediate_size=4 * hidden,
                      num_hidden_layers=layers, num_attention_heads=max(1, hidden // 128),
                      num_key_value_heads=max(1, hidden // 128), max_position_embeddings=4096,
                      tie_word_embeddings=tie, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    return LlamaForCausalLM(cfg), tok


def save_model(hidden: int, layers: int) -> Path:
    model, tok = build_model(hidden, layers)
    out = WORK / f"model-{hidden}x{layers}"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def data(n: int = 2048) -> Path:
    rng = random.Random(0)
    rows = []
    for _ in range(n):
        a, b = rng.randrange(100), rng.randrange(100)
        rows.append({"prompt": f"{a} + {b} =", "answer": f" {a + b}", "format": "raw"})
    path = WORK / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def paper_settings(steps: int, **extra) -> dict:
    """paper.yaml's train block (the authors' numerics), shrunk to a few short steps."""
    import yaml

    train = yaml.safe_load((ROOT / "config/paper.yaml").read_text())["train"]
    train.pop("math_prompt", None)  # a config-level choice (deft.config.train_settings), not a trainer setting
    return {**train, "max_steps": steps, "batch_size": 16, "grad_accum": 2, "max_len": 64, "save_steps": 0,
            "chunk_size": 2048, **extra}


def launch(model: Path, train: Path, name: str, settings: dict, processes: int, launcher: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", launcher,
           "--num_processes", str(processes), "--num_machines", "1", "--main_process_port",
           subprocess.run([sys.executable, "-m", "deft.train.free_port"], capture_output=True, text=True,
                          cwd=ROOT).stdout.strip(),
           "-m", "deft.train.cli", "--model-dir", str(model), "--train-data", str(train), "--out-dir", str(WORK / name),
           "--train-log", str(WORK / f"{name}.jsonl"), "--summary-json", str(WORK / f"{name}.json"),
           "--settings-json", json.dumps(settings)]
    # ROOT first, the caller's path kept (the device tool's carried wheels live on PYTHONPATH)
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": path})


def train_one(model, train, objective, path, steps, processes, launcher, problems) -> dict:
    name = f"{objective}-{path}"
    settings = paper_settings(steps, objective=objective, loss_path=path)
    if launch(model, train, name, settings, processes, launcher).wait() != 0:
        raise SystemExit(f"training {name} failed")
    summary = json.loads((WORK / f"{name}.json").read_text())
    log = [json.loads(line) for line in (WORK / f"{name}.jsonl").read_text().splitlines()]
    real = summary.get("realised") or {}
    if real.get("param_dtype") != ["torch.bfloat16"] or real.get("optimizer_state_dtype") != ["torch.bfloat16"]:
        problems.append(f"{name}: realised weights {real.get('param_dtype')}, optimizer states "
                        f"{real.get('optimizer_state_dtype')}, not bf16")
    if real.get("processes") != processes:
        problems.append(f"{name}: {real.get('processes')} processes realised, not {processes}")
    want = "FULL_SHARD" if processes > 1 else "NO_SHARD"  # FSDP1 turns FULL_SHARD into NO_SHARD on one process
    if real.get("sharding_strategy") != want:
        problems.append(f"{name}: sharding {real.get('sharding_strategy')} realised, not {want}")
    tps = [r["tokens_per_s"] for r in log[1:]] or [log[0]["tokens_per_s"]]  # the first step warms up
    return {"objective": objective, "loss_path": path, "first_loss": log[0]["objective_value"],
            "response_tokens_per_s": sum(tps) / len(tps), "peak_gpu_memory_gb": summary.get("peak_gpu_memory_gb"),
            "distributed": (summary.get("distributed") or {}).get("type"),
            "fsdp": f"v{real.get('fsdp_version')} {real.get('sharding_strategy')}" if real.get("fsdp_version") else None,
            "model": str(WORK / name)}


def kill_and_resume(model, train, processes, launcher, problems) -> None:
    import torch
    from safetensors.torch import load_file

    from deft.train.trainer import complete_checkpoint

    settings = paper_settings(6, objective="deft", loss_path="linear", save_steps=2)
    # Two uninterrupted runs: their difference is the floor that non-deterministic kernels set (on
    # a GPU the resumed run once differed by 1.5e-4; only beside this floor does that say anything).
    for name in ("whole", "whole-again"):
        if launch(model, train, name, settings, processes, launcher).wait() != 0:
            raise SystemExit(f"the uninterrupted run {name} failed")
    proc = launch(model, train, "killed", settings, processes, launcher)
    work = WORK / "killed.work"
    t0 = time.time()
    while time.time() - t0 < 600:
        if any(complete_checkpoint(p) for p in work.glob("checkpoint-*")) or proc.poll() is not None:
            break
        time.sleep(0.1)
    kill_tree(proc)
    print(f"kill-resume: killed at {sorted(p.name for p in work.glob('checkpoint-*'))}")
    if launch(model, train, "killed", settings, processes, launcher).wait() != 0:
        problems.append("kill-resume: the rerun failed")
        return
    summary = json.loads((WORK / "killed.json").read_text())
    if not summary.get("resumed_from"):
        problems.append("kill-resume: the rerun did not resume from a checkpoint (killed too late?)")
    whole, again, resumed = (load_file(WORK / n / "model.safetensors") for n in ("whole", "whole-again", "killed"))
    floor, worst = max_difference(whole, again), max_difference(whole, resumed)
    print(f"kill-resume: resumed from {summary.get('resumed_from')}; max weight difference to the uninterrupted "
          f"run {worst:.3g} ({'bitwise identical' if worst == 0 else 'not identical'}); between two "
          f"uninterrupted runs {floor:.3g} ({'deterministic' if floor == 0 else 'non-deterministic kernels'})")
    if floor == 0 and worst > 0:
        problems.append(f"kill-resume: reruns are bitwise identical but the resumed run differs by {worst:.3g}")
    elif worst > max(1e-2, 10 * floor):
        problems.append(f"kill-resume: weights differ from the uninterrupted run by up to {worst:.3g} "
                        f"(two uninterrupted runs: {floor:.3g})")
    torch.cuda.empty_cache() if torch.cuda.is_available() else None


def max_difference(a: dict, b: dict) -> float:
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL to the launcher and every process below it (torch's elastic agent starts the ranks
    in sessions of their own, so killing the launcher's process group leaves them training)."""
    import psutil

    family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    for p in family:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    proc.wait()
    psutil.wait_procs(family, timeout=30)


def probe(hidden: int, vocab: int, tokens: tuple[int, int], device: str, repeats: int = 3) -> list[dict]:
    """The loss at a real shape: the two loss paths over a 2-layer model's hidden states."""
    import torch

    import deft.losses as L

    model, _ = build_model(hidden, 2, vocab=vocab, tie=False)
    model = model.to(device=device, dtype=torch.bfloat16)
    b, t = tokens
    ids = torch.randint(0, vocab, (b, t), device=device)
    labels = ids[:, 1:].clone()
    rows = []
    for objective in ("nll", "deft"):
        for path in ("logits", "linear"):
            times = []
            if device == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            for _ in range(repeats):
                model.zero_grad(set_to_none=True)
                t0 = time.perf_counter()
                h = model.model(ids).last_hidden_state[:, :-1]
                if path == "logits":
                    loss = L.loss(objective, model.lm_head(h).float(), labels)
                else:
                    loss = L.linear_loss(objective, h, model.lm_head.weight, labels, chunk_size=4096)
                loss.backward()
                if device == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - t0)
            peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
            rows.append({"objective": objective, "loss_path": path, "tokens": b * (t - 1),
                         "tokens_per_s": b * (t - 1) / sorted(times)[len(times) // 2],
                         "peak_gpu_memory_gb": peak, "loss": loss.item()})
    return rows


def run(a) -> int:
    import pandas as pd
    import torch

    if not torch.cuda.is_available() and not a.cpu:
        print(f"CUDA is unusable: torch {torch.__version__} (CUDA {torch.version.cuda}) sees no device "
              f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')!r}); nothing was tested")
        return 2
    n_gpu = torch.cuda.device_count()
    processes = 2 if a.cpu else min(2, n_gpu)
    launcher = str(ROOT / ("configs/accelerate/fsdp-cpu.yaml" if a.cpu else "configs/accelerate/fsdp-bf16-weights.yaml"))
    print(f"devices: {n_gpu} GPU(s) {[torch.cuda.get_device_name(i) for i in range(n_gpu)]}; training on {processes} "
          f"process(es) with {Path(launcher).name}")
    if processes == 1:
        print("ONE GPU: FSDP has nothing to shard across; sharding, the sharded loss path and the state-dict "
              "gather were NOT tested")
    if a.cpu:  # real FSDP1 on the CPU ranks (accelerate alone would run them as MULTI_CPU, unsharded)
        os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests/fsdp_on_cpu"),
                                                    *filter(None, [os.environ.get("PYTHONPATH")])])
    problems: list[str] = []
    parts = set(a.parts.split(","))
    if parts - PARTS:
        raise SystemExit(f"--parts {a.parts!r}: unknown {sorted(parts - PARTS)}; allowed: {','.join(sorted(PARTS))}")
    print("parts:", ",".join(p for p in ("train", "kill-resume", "probe", "vllm") if p in parts))
    model, train = save_model(a.hidden, a.layers), data()
    rows = []
    if "train" in parts:
        rows = [train_one(model, train, o, p, a.steps, processes, launcher, problems)
                for o in ("nll", "deft") for p in ("logits", "linear")]
        table = pd.DataFrame(rows)
        print(table.drop(columns=["model"]).to_markdown(index=False))
        for o in ("nll", "deft"):
            x, y = (table[(table.objective == o) & (table.loss_path == p)].first_loss.iloc[0] for p in ("logits", "linear"))
            if abs(x - y) > 1e-2 * max(1.0, abs(x)):  # bf16 compute: the same loss to bf16 precision
                problems.append(f"{o}: first-step loss logits {x:.5f} vs linear {y:.5f}")
            print(f"{o}: first-step loss logits {x:.5f} vs linear {y:.5f}")
    if "kill-resume" in parts:
        kill_and_resume(model, train, processes, launcher, problems)
    if "probe" in parts:
        shape = (a.probe_hidden, a.probe_vocab, (a.probe_batch, a.probe_len))
        print(f"real-shape probe: hidden {shape[0]}, vocabulary {shape[1]}, 2 layers, {shape[2][0]} x {shape[2][1]} tokens")
        print(pd.DataFrame(probe(*shape, device="cpu" if a.cpu else "cuda")).to_markdown(index=False))
    try:
        if "vllm" not in parts or not rows:
            raise ImportError("not asked for (--parts), or no model was trained")
        import lm_eval  # noqa: F401
        import vllm  # noqa: F401
    except ImportError as err:
        print(f"lm-eval vllm evaluation skipped: {err} (a device tool's machine has no vllm: its GPU wheel is "
              "larger than the 64 MiB that travels; on a machine with vllm installed it runs)")
    else:
        from deft.eval.evaluate import evaluate

        test = WORK / "test.jsonl"
        test.write_text("".join(line + "\n" for line in train.read_text().splitlines()[:64]))
        r = evaluate(rows[-1]["model"], "arithmetic", test, backend="vllm", batch_size=64,
                     settings={"max_model_len": 512, "dtype": "bfloat16", "gpu_memory_utilization": 0.5},
                     prompt_format="raw", max_gen_toks=4)
        print("lm-eval vllm:", r["metrics"], f"{r['n']} items in {r['wall_s']:.1f} s")
    for p in problems:
        print("FAIL:", p)
    print("gpu preflight:", "ok" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["prepare", "run"])
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--probe-hidden", type=int, default=4096)
    ap.add_argument("--probe-vocab", type=int, default=128256)
    ap.add_argument("--probe-batch", type=int, default=4)
    ap.add_argument("--probe-len", type=int, default=3072)
    ap.add_argument("--parts", default=",".join(sorted(PARTS)), help="which checks, comma-separated (default: all)")
    ap.add_argument("--cpu", action="store_true", help="try the script on CPU (2 gloo processes; give small shapes)")
    a = ap.parse_args()
    if a.what == "prepare":
        prepare()
    else:
        sys.exit(run(a))
