# Config checks beyond the schema, the grid, and input functions. No rules here.
import json
import os
import re
import sys

import deft.config as dc
from snakemake.settings.types import DeploymentMethod

dc.check(config)
RUNS = dc.runs(config)
# Pre-registered contrasts outside a reduced grid (e.g. --config 'grid={"regimes": ["strong"]}')
# are left out, said here and listed in the contrasts table as such; a misspelt one is refused above.
CONTRASTS, LEFT_OUT_CONTRASTS = dc.grid_contrasts(config)
for _c, _why in LEFT_OUT_CONTRASTS:
    print(f"note: contrast {_c['a']} - {_c['b']} ({_c['regime']}, noise {_c['noise_rate']}) is left out: {_why}",
          file=sys.stderr)
RUN_KEYS = "backbone={backbone}/domain={domain}/objective={objective}/noise={noise}/seed={seed}"
BASE_KEYS = "backbone={backbone}/domain={domain}"
ENV = "../envs/deft.yaml"
# The environment's python when rules run in conda envs, else the one running Snakemake (a venv
# need not be activated).
PYTHON = "python" if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method else sys.executable
TRAIN_COMMAND = dc.train_command(config, PYTHON)
MULTI_GPU = dc.launch_settings(config)["kind"] != "python"
TRAIN_GPUS = config["launch"]["num_processes"] if MULTI_GPU else 0
TRAIN_ENV = "../envs/train-gpu.yaml" if MULTI_GPU else ENV  # deft.yaml pins CPU torch
ANALYSIS_EXAMPLES = config.get("analysis", {}).get("examples", 64)
# Categories of `snakemake --report` (outputs marked report() in the rule files).
TABLES, FIGURES = "Tables", "Figures"
EVAL_ENV = "../envs/vllm.yaml" if config["evaluate"]["backend"] == "vllm" else ENV
# GPUs a job asks for (resource `gpu`, which the SLURM executor turns into --gpus; CPU-only rules ask
# for none): a training run's processes, vLLM's tensor x data parallel ranks, and one for the
# analyses that load a backbone at scale (bf16 on the GPU, in the training environment).
_VLLM = config["evaluate"].get("settings", {})
EVAL_GPUS = _VLLM.get("tensor_parallel_size", 1) * _VLLM.get("data_parallel_size", 1) \
    if config["evaluate"]["backend"] == "vllm" else 0
ANALYSIS_GPUS = 1 if MULTI_GPU else 0


def _command_line_targets():
    """The targets on Snakemake's command line, or None where they cannot be told (Snakemake reads
    the Snakefile before it hands its targets to the DAG, so they are parsed here from sys.argv)."""
    if not sys.argv or "snakemake" not in sys.argv[0]:
        return None
    from snakemake.cli import get_argument_parser

    try:
        return get_argument_parser().parse_known_args(sys.argv[1:])[0].targets
    except (Exception, SystemExit):
        return None


# `snakemake figures` and nothing else: tables, figures and report from the run records under
# results/ only. The Snakefile then defines no rule that writes a record, so none is ever planned
# however the records' modification times fall (a fresh clone has arbitrary ones) and whatever is
# absent (models, data); a missing record is an error naming it.
FROM_CACHE = _command_line_targets() == ["figures"]


def run_file(name, root="results/runs"):
    """A file of one run, e.g. run_file('record.json'), or under another root (logs, benchmarks)."""
    return "/".join([root, RUN_KEYS, name] if name else [root, RUN_KEYS])


def base_file(name, root="results/base"):
    return "/".join([root, BASE_KEYS, name])
BACKBONE_NAMES = list(config["backbones"])
DOMAIN_NAMES = list(config["data"]["domains"])


wildcard_constraints:
    backbone="|".join(map(re.escape, BACKBONE_NAMES)),
    domain="|".join(map(re.escape, DOMAIN_NAMES)),
    objective="[a-z_]+",
    noise=r"clean|(answer|shuffle)-[0-9.e-]+",
    seed=r"-?\d+",


def run_paths(pattern):
    return [pattern.format(**r) for r in RUNS]


def reference_test(wc):
    """The clean reference set of the backbone's forgetting measures: its own greedy answers to its
    analysis.reference domain's test prompts (reference_answers: model), or that test split with
    gold answers (gold); none where the config names no reference for the backbone."""
    ref = dc.reference_domain(config, wc.backbone)
    if not ref:
        return []
    if config.get("analysis", {}).get("reference_answers", "model") == "model":
        return [f"results/reference/backbone={wc.backbone}/reference.jsonl"]
    return [f"results/data/domain={ref}/test.jsonl"]


def forgetting_figures():
    refs = config.get("analysis", {}).get("reference", {})
    return ["results/figures/forgetting.png"] if any(b in refs for b, _ in base_cells()) else []


def table_files(stem):
    """A table's CSV, Markdown and LaTeX files."""
    return multiext(f"results/tables/{stem}", ".csv", ".md", ".tex")


def analysis_paths():
    """Token statistics per (backbone, domain, noise setting) of the grid, on the seed-0 data."""
    cells = sorted({(r["backbone"], r["domain"], r["noise"]) for r in RUNS})
    return [f"results/analysis/backbone={b}/domain={d}/noise={n}/token_stats.csv" for b, d, n in cells]


def prepare_backbone_names():
    return [n for n, s in config["backbones"].items() if s["source"] != "prior"]


def prior_input(wc):
    spec = config["backbones"][wc.backbone]
    data = f"results/data/domain={spec['domain']}"
    return {"model": backbone_dir(spec["base"]), "prior": f"{data}/prior.jsonl", "stop": f"{data}/prior_stop.jsonl",
            "dev": f"{data}/prior_dev.jsonl"}


def prior_summary(wc):
    """A built prior's summary (its prior_dev accuracy, measured after the build, enters the regime check)."""
    return [f"results/priors/{wc.backbone}/summary.json"] if config["backbones"][wc.backbone]["source"] == "prior" else []


def base_cells():
    return sorted({(r["backbone"], r["domain"]) for r in RUNS})


def backbone_dir(name):
    return f"results/backbones/{name}"


def train_input(wc):
    return {"model": backbone_dir(wc.backbone),
            "data": f"results/data/domain={wc.domain}/noise={wc.noise}/seed={wc.seed}/train.jsonl"}


def identity(wc, objective=None):
    kind, rate = dc.parse_noise(wc.get("noise", "clean"))
    obj = objective or wc.objective
    return {"backbone": wc.backbone, "domain": wc.domain, "regime": dc.regime_of(config, wc.backbone, wc.domain),
            "objective": obj, "params": {} if obj == "base" else dc.objective_params(config, obj),
            "noise_kind": kind, "noise_rate": rate, "seed": int(wc.get("seed", 0))}


def run_config(wc):
    """The slice of the config one run depends on (its hash is recorded)."""
    return {"train": dc.train_settings(config, wc.backbone, wc.domain), "data": config["data"],
            "evaluate": config["evaluate"],
            "backbone": config["backbones"][wc.backbone],
            "params": dc.objective_params(config, wc.objective) if "objective" in wc.keys() else {}}


def eval_settings(wc):
    """lm-eval settings of a cell: config `evaluate` and deft.config.evaluate_settings (the domain's
    paper tasks, prompt format or family wrapper, the backbone's context, budget and stops)."""
    cell = dc.evaluate_settings(config, wc.backbone, wc.domain)
    return {**config["evaluate"], **{k: v for k, v in cell.items() if k != "model_args"}}


# ---- launch.shard: one job per (backbone, domain, seed) ----------------------------------------
SHARD = bool(dc.launch_settings(config).get("shard"))


class _Wildcards(dict):
    """A run's keys with attribute access, as the input functions above expect of wildcards."""

    __getattr__ = dict.__getitem__


def _shard_members(backbone, domain, seed):
    return [r for r in RUNS if (r["backbone"], r["domain"], str(r["seed"])) == (backbone, domain, str(seed))]


def shard_groups(backbone, domain):
    """The cell's seeds grouped by the runs their shards hold, as (seeds, {(objective, noise)}): the
    grid's seeds hold every run, the further seeds of a contrast (`seeds:` in analysis.contrasts) only
    its cells. One rule per group, since a rule's outputs are one pattern for every seed."""
    members = {}
    for r in RUNS:
        if (r["backbone"], r["domain"]) == (backbone, domain):
            members.setdefault(r["seed"], set()).add((r["objective"], r["noise"]))
    groups = {}
    for seed, runs in members.items():
        groups.setdefault(frozenset(runs), []).append(seed)
    return sorted(((sorted(seeds), set(runs)) for runs, seeds in groups.items()), key=lambda g: g[0][0])


def shard_outputs(backbone, domain, name, runs):
    """The `name` file of each (objective, noise) in `runs`, with {seed} left as the wildcard."""
    return [run_file(name).format(backbone=backbone, domain=domain, objective=o, noise=n, seed="{seed}")
            for o, n in sorted(runs)]


def shard_inputs(backbone, domain):
    def inputs(wc):
        members = _shard_members(backbone, domain, wc.seed)
        data = [f"results/data/domain={domain}/noise={r['noise']}/seed={wc.seed}/{f}"
                for r in members for f in ("train.jsonl", "audit.json")]
        return {"model": backbone_dir(backbone), "test": f"results/data/domain={domain}/test.jsonl",
                "base": base_file("record.json").format(backbone=backbone, domain=domain),
                "data": sorted(set(data)), "reference": reference_test(_Wildcards(backbone=backbone))}

    return inputs


def shard_runs(backbone, domain):
    """What rules train and evaluate would be given, per run of a shard of the cell."""
    return lambda wc: _shard_run_params(backbone, domain, wc.seed)


def _shard_run_params(backbone, domain, seed):
    out = []
    for r in _shard_members(backbone, domain, seed):
        w = _Wildcards(backbone=r["backbone"], domain=r["domain"], objective=r["objective"], noise=r["noise"],
                       seed=str(r["seed"]))
        data = f"results/data/domain={w.domain}/noise={w.noise}/seed={w.seed}"
        out.append({
            "identity": identity(w), "noise": w.noise, "train": f"{data}/train.jsonl", "audit": f"{data}/audit.json",
            "settings": {**dc.train_settings(config, w.backbone, w.domain), "objective": w.objective,
                         "params": dc.objective_params(config, w.objective), "seed": int(w.seed)},
            "token_objectives": {w.objective: dc.objective_params(config, w.objective)},
            "config_slice": run_config(w), "eval_cfg": eval_settings(w),
            "outputs": {k: run_file(f).format(**w) for k, f in (("log", "train_log.jsonl"), ("summary", "train.json"),
                        ("record", "record.json"), ("samples", "samples.jsonl"), ("tokens", "tokens.csv"))}})
    return out


# ---- cached files: what git tracks under results/, what `figures` reads -----------------------
# The small files of a study that git tracks under results/ (.gitignore, deft.report.regenerate.CACHED).
RUN_CACHED = ("record.json", "train.json", "train_log.jsonl", "samples.jsonl", "tokens.csv")
BASE_CACHED = ("record.json", "samples.jsonl", "tokens.csv")
STUDY_BACKBONES = sorted({backbone_dir(b) for b, _ in base_cells()})


def cached_files():
    """Every cached file of the grid: run and base records with the files beside them, token
    statistics, the priors' summaries and logs, the reference sets."""
    out = [p for name in RUN_CACHED for p in run_paths(run_file(name))]
    out += [base_file(name).format(backbone=b, domain=d) for b, d in base_cells() for name in BASE_CACHED]
    out += analysis_paths()
    for b in sorted({b for b, _ in base_cells()}):
        out += prior_summary(_Wildcards(backbone=b))
        out += [f"results/priors/{b}/train_log.jsonl"] if config["backbones"][b]["source"] == "prior" else []
        out += [p for p in reference_test(_Wildcards(backbone=b)) if p.startswith("results/reference/")]
    return out


def check_cached():
    """For `snakemake figures`: every file the tables read must be under results/ already."""
    need = [p for name in RUN_CACHED if name != "train.json" for p in run_paths(run_file(name))]
    need += [base_file(name).format(backbone=b, domain=d) for b, d in base_cells() for name in BASE_CACHED]
    need += analysis_paths()
    missing = [p for p in need if not os.path.exists(p)]
    if missing:
        raise ValueError(f"snakemake figures reads the run records under results/ and trains nothing, but "
                         f"{len(missing)} of the {len(need)} files of this grid are missing, e.g. {missing[0]}; "
                         "run the study first (snakemake --cores 2, or the cell's `records` target)")


if FROM_CACHE:
    check_cached()
