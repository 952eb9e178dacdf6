"""Writes workflow/envs/vllm-constraints.txt: every package of the GPU evaluation environment
(workflow/envs/vllm.yaml) at one exact version, resolved by pip without installing anything
(`pip install --dry-run --report`), as constraints.txt does for .venv. `make vllm-constraints`.
    python workflow/envs/pin_vllm_env.py REPORT.json OUT.txt
"""
import json
import sys

report, out = sys.argv[1], sys.argv[2]
pins = sorted((i["metadata"]["name"], i["metadata"]["version"].split("+")[0])  # torch's +cpu local tag: the
              for i in json.load(open(report))["install"])                      # GPU machine takes PyPI's CUDA build
pins = [(n, v) for n, v in pins if not n.lower().startswith("deft")]
with open(out, "w") as f:
    f.write("# Exact versions of the GPU evaluation environment (workflow/envs/vllm.yaml), resolved by\n"
            "# `make vllm-constraints` (pip --dry-run: vllm, lm-eval[vllm], ray for data parallelism).\n")
    f.writelines(f"{n}=={v}\n" for n, v in pins)
print(f"{len(pins)} pins -> {out}")
