"""GPU check of the paper path, for a session that is lent a GPU (benchmarks/gpu_smoke.sh runs it).

Offline, on one GPU: a random Llama (``--hidden``, ``--layers``; the tokenizer travels in
.gpu-smoke/tokenizer, written here by ``prepare``) is trained a few steps through
``accelerate launch`` under FSDP (configs/accelerate/fsdp.yaml, 1 process) for nll and deft with
the logits and the chunked linear loss paths; the two paths' first-step losses must agree. Prints
tokens/s and peak GPU memory per (objective, path). Then, where vllm and lm-eval import, evaluates
the trained model through lm-eval's vllm backend on 64 arithmetic prompts.
    python benchmarks/gpu_smoke.py prepare            # here: writes .gpu-smoke/tokenizer
    python benchmarks/gpu_smoke.py run [--hidden 1024 --layers 16 --steps 8]   # there
"""
import argparse
import json
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".gpu-smoke"


def prepare() -> None:
    from deft.train.backbones import embedded_tokenizer

    embedded_tokenizer().save_pretrained(WORK / "tokenizer")
    print("wrote", WORK / "tokenizer")


def build_model(hidden: int, layers: int) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(WORK / "tokenizer")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
                      num_attention_heads=hidden // 64, num_key_value_heads=hidden // 64, max_position_embeddings=2048,
                      tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    out = WORK / f"model-{hidden}x{layers}"
    LlamaForCausalLM(cfg).save_pretrained(out)
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


def train_one(model: Path, train: Path, objective: str, path: str, steps: int, launcher: str) -> dict:
    name = f"{objective}-{path}"
    settings = {"objective": objective, "loss_path": path, "batch_size": 64, "grad_accum": 1, "max_steps": steps,
                "bf16": True, "max_len": 64, "learning_rate": 1e-5, "chunk_size": 2048}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", launcher,
           "--num_processes", "1", "--num_machines", "1", "-m", "deft.train.cli", "--model-dir", str(model),
           "--train-data", str(train), "--out-dir", str(WORK / name), "--train-log", str(WORK / f"{name}.jsonl"),
           "--summary-json", str(WORK / f"{name}.json"), "--settings-json", json.dumps(settings)]
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    summary = json.loads((WORK / f"{name}.json").read_text())
    log = [json.loads(line) for line in (WORK / f"{name}.jsonl").read_text().splitlines()]
    tps = [r["tokens_per_s"] for r in log[1:]] or [log[0]["tokens_per_s"]]  # the first step warms up
    return {"objective": objective, "loss_path": path, "first_loss": log[0]["objective_value"],
            "response_tokens_per_s": sum(tps) / len(tps), "peak_gpu_memory_gb": summary.get("peak_gpu_memory_gb"),
            "distributed": summary.get("distributed"), "model": str(WORK / name)}


def run(hidden: int, layers: int, steps: int, launcher: str) -> int:
    import pandas as pd

    model, train = build_model(hidden, layers), data()
    rows = [train_one(model, train, o, p, steps, launcher) for o in ("nll", "deft") for p in ("logits", "linear")]
    table = pd.DataFrame(rows)
    print(table.drop(columns=["model"]).to_markdown(index=False))
    ok = True
    for o in ("nll", "deft"):
        a, b = (table[(table.objective == o) & (table.loss_path == p)].first_loss.iloc[0] for p in ("logits", "linear"))
        same = abs(a - b) <= 1e-2 * max(1.0, abs(a))  # bf16 compute: the same loss to bf16 precision
        print(f"{o}: first-step loss logits {a:.5f} vs linear {b:.5f}: {'same' if same else 'DIFFERENT'}")
        ok &= same
    try:
        import lm_eval  # noqa: F401
        import vllm  # noqa: F401
    except ImportError as err:
        print(f"lm-eval vllm evaluation skipped: {err} (the vllm GPU wheel is larger than what the device tool "
              "carries, 64 MiB; on a machine with vllm installed it runs)")
        return 0 if ok else 1
    from deft.eval.evaluate import evaluate

    test = WORK / "test.jsonl"
    test.write_text("".join(line + "\n" for line in train.read_text().splitlines()[:64]))
    r = evaluate(rows[-1]["model"], "arithmetic", test, backend="vllm", batch_size=64,
                 settings={"max_model_len": 512, "dtype": "bfloat16", "gpu_memory_utilization": 0.5},
                 prompt_format="raw", max_gen_toks=4)
    print("lm-eval vllm:", r["metrics"], f"{r['n']} items in {r['wall_s']:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["prepare", "run"])
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--launcher", default=str(ROOT / "configs/accelerate/fsdp.yaml"),
                    help="accelerate config (configs/accelerate/fsdp-cpu.yaml tries the script on a CPU)")
    a = ap.parse_args()
    if a.what == "prepare":
        prepare()
    else:
        sys.exit(run(a.hidden, a.layers, a.steps, a.launcher))
