#!/usr/bin/env bash
# The GPU preflight of the paper path (benchmarks/gpu_smoke.py: the authors' training block on 2
# processes where 2 GPUs exist, realised bf16 checked, both loss paths, save + kill + resume, a
# real-shape loss probe; exit 2 without CUDA), one short script for a session that is lent a GPU.
# Here first:   .venv/bin/python benchmarks/gpu_smoke.py prepare   (writes .gpu-smoke/)
# What travels (the device tool's README): the working tree plus carried ignored paths, 64 MiB in
# all; carry .gpu-smoke (the tokenizer, ~2 MB). The machine has torch, transformers and accelerate,
# no network, no vllm (its GPU wheel is larger than 64 MiB: the vllm step then says it was skipped).
# Device call:  bash benchmarks/gpu_smoke.sh   with carry [".gpu-smoke"], timeout_s 540.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
test -f .gpu-smoke/tokenizer/tokenizer.json || { echo "run 'python benchmarks/gpu_smoke.py prepare' here first"; exit 2; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 benchmarks/gpu_smoke.py run "$@" 2>&1 | tee "${OUT:-.gpu-smoke}/gpu_smoke.log"
