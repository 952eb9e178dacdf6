"""Checks of a pipeline configuration that its JSON schema cannot express, and the grid.

``check(config)`` raises ValueError naming the key, the bad value and what is allowed; the
Snakefile calls it (after ``validate(config, schema)``) before any job is planned.
``runs(config)`` expands the grid into one dict per training run.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import deft.losses as L

from .data.domains import DOMAINS

CLEAN = "clean"


def noise_label(kind: str, rate: float) -> str:
    """Path label of a noise setting: 'clean' at rate 0, else e.g. 'answer-0.3'."""
    return CLEAN if rate == 0 else f"{kind}-{float(rate):g}"


def parse_noise(label: str) -> tuple[str, float]:
    if label == CLEAN:
        return "none", 0.0
    kind, rate = label.rsplit("-", 1)
    return kind, float(rate)


def train_sample(config: dict, domain: str) -> int | None:
    """How many training examples each seed draws from ``domain``'s train pool (data.train_sample);
    None: the whole split, for every seed (also always for a hub dataset, which is used as given)."""
    if "hub" in config["data"]["domains"].get(domain, {}):
        return None
    return config["data"].get("train_sample")


def domain_sizes(config: dict, domain: str) -> dict:
    """A domain's split sizes: data.sizes with the domain's own ``sizes`` over them (as
    deft.data.splits.make builds them)."""
    return {**config["data"]["sizes"], **config["data"]["domains"].get(domain, {}).get("sizes", {})}


def _fail(key, value, allowed):
    raise ValueError(f"config: {key} = {value!r} is not allowed; {allowed}")


def _no_duplicates(key, values):
    dup = [v for v, n in Counter(map(str, values)).items() if n > 1]
    if dup:
        raise ValueError(f"config: {key} has duplicate entries {dup}; list each value once")


def check(config: dict) -> None:
    backbones, regimes, data = config["backbones"], config["regimes"], config["data"]
    # Objectives of the config's plugins: imported, checked against the suite's contract, and exported
    # to the processes the pipeline starts (deft.losses.plugins), before any objective name is checked.
    try:
        L.plugins.load(config.get("plugins", []))
    except ValueError as err:
        raise ValueError(f"config: {err}") from None
    for name, spec in backbones.items():
        src = spec["source"]
        need = {"prior": ["base", "domain"], "hub": ["id"], "local": ["path"]}.get(src, [])
        for key in need:
            if key not in spec:
                raise ValueError(f"config: backbones.{name} (source {src}) needs the key {key!r}")
        if src == "prior":
            if spec["base"] not in backbones or backbones[spec["base"]]["source"] == "prior":
                _fail(f"backbones.{name}.base", spec["base"],
                      f"allowed: a non-prior backbone of this config {sorted(b for b in backbones if b != name)}")
            if spec["domain"] not in data["domains"]:
                _fail(f"backbones.{name}.domain", spec["domain"], f"allowed: {sorted(data['domains'])}")
            sizes = domain_sizes(config, spec["domain"])
            if "prior" not in config or any(sizes.get(s, 0) < 1 for s in ("prior", "prior_dev", "prior_stop")):
                raise ValueError(f"config: backbones.{name} is a prior backbone: set `prior:` and the sizes "
                                 f"prior, prior_dev and prior_stop of its domain {spec['domain']!r} (data.sizes or "
                                 f"data.domains.{spec['domain']}.sizes; each >= 1; given {sizes})")
        if src == "local" and not Path(spec["path"]).is_dir():
            raise ValueError(f"config: backbones.{name}.path = {spec['path']!r} is not an existing folder")
    for name, params in data["domains"].items():
        kind = name.split("-", 1)[0]
        if kind not in DOMAINS:
            _fail("data.domains", name, f"allowed: {sorted(DOMAINS)}, optionally followed by -<variant>")
        if "hub" not in params and not DOMAINS[kind].offline:
            raise ValueError(f"config: data.domains.{name}: a {kind} domain needs `hub:` (a dataset id and its "
                             "fields); it has no offline generator")
        extra = {"hub", "eval_task", "eval_data", "sizes", "prompt_format"}
        for key in set(params) - DOMAINS[kind].params - extra:
            _fail(f"data.domains.{name}", key, f"allowed keys: {sorted(DOMAINS[kind].params | extra)}")
        if "hub" in params:
            from .data.hub import check_spec

            check_spec(name, params["hub"])
        if "eval_task" in params or "eval_data" in params:
            from .eval.tasks import TASKS_DIR

            known = sorted(p.stem for p in (TASKS_DIR / "paper").glob("deft_*.yaml") if not p.stem.endswith("_base"))
            tasks = params.get("eval_task") or []
            for task in [tasks] if isinstance(tasks, str) else tasks:
                if task not in known:
                    _fail(f"data.domains.{name}.eval_task", task, f"allowed: {known}")
            for task in params.get("eval_data", {}):  # task -> local file or hub id of its test data
                if task not in known:
                    _fail(f"data.domains.{name}.eval_data", task, f"allowed: {known}")
    if data.get("train_sample") is not None:  # each seed draws this many from a generated train pool
        for regime, r in config.get("regimes", {}).items():
            params = data["domains"].get(r["domain"], {})
            where = "data.domains.{}.sizes.train".format(r["domain"]) if "train" in params.get("sizes", {}) \
                else "data.sizes.train"
            pool = domain_sizes(config, r["domain"]).get("train", 0)
            if train_sample(config, r["domain"]) is not None and data["train_sample"] > pool:
                _fail("data.train_sample", data["train_sample"], f"allowed: at most the train pool of "
                      f"{r['domain']!r} (regime {regime}: {where} = {pool})")
    launch = launch_settings(config)
    if launch["kind"] == "accelerate":
        cfg = launch.get("config_file")
        if not cfg or not Path(cfg).is_file():
            _fail("launch.config_file", cfg, "allowed: an accelerate config file, e.g. configs/accelerate/fsdp.yaml")
        _check_master_weights(config, cfg)
    if launch.get("shard") and launch["kind"] != "python":
        _fail("launch.shard", True, f"allowed: true only with launch.kind python (not {launch['kind']!r})")
    if launch["kind"] != "python" and "num_processes" not in launch:
        raise ValueError(f"config: launch.kind {launch['kind']!r} needs launch.num_processes (processes on the node)")
    for name, r in regimes.items():
        if r["backbone"] not in backbones:
            _fail(f"regimes.{name}.backbone", r["backbone"], f"allowed: {sorted(backbones)}")
        if r["domain"] not in data["domains"]:
            _fail(f"regimes.{name}.domain", r["domain"], f"allowed: {sorted(data['domains'])}")
    _check_references(config)
    grid = config["grid"]
    for key in ("regimes", "objectives", "noise_kinds", "noise_rates", "seeds"):
        _no_duplicates(f"grid.{key}", grid[key])
    for i, name in enumerate(grid["regimes"]):
        if name not in regimes:
            _fail(f"grid.regimes[{i}]", name, f"allowed: {sorted(regimes)}")
    for i, name in enumerate(grid["objectives"]):
        if name not in L.OBJECTIVES:
            _fail(f"grid.objectives[{i}]", name, f"allowed: {sorted(L.OBJECTIVES)}")
    for name, params in config.get("objective_params", {}).items():
        if name not in L.OBJECTIVES:
            _fail("objective_params", name, f"allowed: {sorted(L.OBJECTIVES)}")
        try:
            L.resolve(name, params)
        except ValueError as err:
            raise ValueError(f"config: objective_params.{name}: {err}") from None
    _check_contrasts(config)
    for name in grid["regimes"]:
        settings = train_settings(config, regimes[name]["backbone"], regimes[name]["domain"])
        if settings.get("trunk_cache"):
            from .train.trunk import check_settings

            try:
                check_settings(settings, processes=1 if launch["kind"] == "python" else launch["num_processes"])
            except ValueError as err:
                raise ValueError(f"config: regime {name}: {err}") from None
    cells = Counter((regimes[r]["backbone"], regimes[r]["domain"]) for r in grid["regimes"])
    twice = [c for c, n in cells.items() if n > 1]
    if twice:
        raise ValueError(f"config: grid.regimes name the same (backbone, domain) cell twice: {twice}")


def _check_master_weights(config: dict, launcher: str) -> None:
    """bf16 master weights under an FSDP1 launcher with mixed precision: accelerate upcasts the
    weights (and so the AdamW states) to fp32, and the run would not be what its record says."""
    import yaml

    acc = yaml.safe_load(Path(launcher).read_text()) or {}
    upcasts = acc.get("distributed_type") == "FSDP" and str(acc.get("mixed_precision", "no")) != "no" \
        and int((acc.get("fsdp_config") or {}).get("fsdp_version", 1)) == 1
    bf16 = [r for r in config["grid"]["regimes"] if r in config["regimes"] and train_settings(
        config, config["regimes"][r]["backbone"], config["regimes"][r]["domain"]).get("master_weights") == "bf16"]
    if upcasts and bf16:
        _fail("launch.config_file", launcher, f"with train.master_weights bf16 (regimes {bf16}) an accelerate FSDP1 "
              "config with mixed_precision: 'no' (this one upcasts the weights to fp32), e.g. "
              "configs/accelerate/fsdp-bf16-weights.yaml")


def _check_contrasts(config: dict) -> None:
    """Each pre-registered contrast must name a regime label of the config and known objectives (a
    misspelling is refused); one outside the grid, a noise rate the grid lacks included, is left out
    and said so (``grid_contrasts``): a grid reduced on the command line defines fewer rates."""
    labels = sorted({r.get("regime", name) for name, r in config["regimes"].items()})
    for i, c in enumerate(config.get("analysis", {}).get("contrasts", [])):
        if c["regime"] not in labels:
            _fail(f"analysis.contrasts[{i}].regime", c["regime"], f"allowed: a regime label of the config {labels}")
        for side in ("a", "b"):
            if c[side] not in L.OBJECTIVES:
                _fail(f"analysis.contrasts[{i}].{side}", c[side], f"allowed: {sorted(L.OBJECTIVES)}")
        control = c.get("control")
        if control is not None:  # the positive control beside it (deft.report.tables.positive_control)
            from .report.tables import CONTROLS

            where = f"analysis.contrasts[{i}].control"
            if not isinstance(control, dict) or control.get("kind") not in CONTROLS:
                _fail(f"{where}.kind", (control or {}).get("kind") if isinstance(control, dict) else control,
                      f"allowed: {list(CONTROLS)}")
            if control.get("objective") not in L.OBJECTIVES:
                _fail(f"{where}.objective", control.get("objective"), f"allowed: {sorted(L.OBJECTIVES)}")
            if control["kind"] == "noise_cost" and not c["noise_rate"] > 0:
                _fail(f"{where}.kind", "noise_cost", "allowed only for a contrast at a noise rate above 0")


def grid_contrasts(config: dict) -> tuple[list[dict], list[tuple[dict, str]]]:
    """The pre-registered contrasts this grid can estimate, and (contrast, reason) for each it
    cannot: a reduced grid (e.g. ``--config 'grid={"regimes": ["strong"]}'``) keeps the contrasts of
    the cells it contains and leaves out the others, saying why."""
    grid = config["grid"]
    cells = [config["regimes"][r] for r in grid["regimes"]]
    labels = [r.get("regime", name) for name, r in zip(grid["regimes"], cells)]
    kept, left_out = [], []
    for c in config.get("analysis", {}).get("contrasts", []):
        rates = {0.0, *(rate for label, r in zip(labels, cells) if label == c["regime"]
                        for rate in r.get("noise_rates", grid["noise_rates"]))}
        missing = [o for o in (c["a"], c["b"]) if o not in grid["objectives"]]
        if c["regime"] not in labels:
            left_out.append((c, f"regime {c['regime']} is not in grid.regimes {grid['regimes']}"))
        elif missing:
            left_out.append((c, f"objective {missing[0]} is not in grid.objectives {grid['objectives']}"))
        elif c["noise_rate"] not in rates:
            left_out.append((c, f"noise rate {c['noise_rate']} is not among the cell's rates {sorted(rates)}"))
        else:
            kept.append(c)
    return kept, left_out


def domain_prompt_format(config: dict, domain: str) -> str:
    """A domain's prompt format: its hub spec's, its own, else ``data.prompt_format`` (chat)."""
    spec = config["data"]["domains"][domain]
    return spec.get("hub", {}).get("prompt_format") or spec.get("prompt_format") \
        or config["data"].get("prompt_format", "chat")


def prior_settings(config: dict, backbone: str) -> dict:
    """The config's ``prior:`` with the backbone's own overrides (``train`` merged key by key)."""
    base, own = config.get("prior", {}), config["backbones"][backbone].get("prior", {})
    return {**base, **own, "train": {**base.get("train", {}), **own.get("train", {})}}


def regime_of(config: dict, backbone: str, domain: str) -> str | None:
    """The regime label of a (backbone, domain) cell: its ``regime:`` or the entry's name."""
    for name, r in config["regimes"].items():
        if (r["backbone"], r["domain"]) == (backbone, domain):
            return r.get("regime", name)
    return None


def contrast_seeds(seeds: list, n: int | None) -> list:
    """The seeds a contrast with ``seeds: n`` runs on: the grid's seeds, then the next integers
    after their largest until there are ``n`` (none added when the grid already has ``n``)."""
    out = list(seeds)
    while n is not None and len(out) < n:
        out.append(max([int(s) for s in out], default=-1) + 1)
    return out


def contrast_cells(contrast: dict) -> list[tuple[str, float]]:
    """(objective, noise rate) of every run a contrast and its positive control read, in one regime:
    a and b at the contrast's rate; the control's objective at that rate (above_zero, headroom), on
    clean data (beats_base) or both (noise_cost)."""
    rate = contrast["noise_rate"]
    cells = [(contrast["a"], rate), (contrast["b"], rate)]
    control = contrast.get("control")
    if control:
        rates = {"noise_cost": [0.0, rate], "beats_base": [0.0]}.get(control["kind"], [rate])
        cells += [(control["objective"], r) for r in rates]
    return list(dict.fromkeys(cells))


def runs(config: dict) -> list[dict]:
    """One dict per training run: backbone, domain, regime, objective, noise label, seed. The grid,
    then, for each pre-registered contrast with ``seeds: n`` (more than grid.seeds holds), its cells
    (``contrast_cells``) on the further seeds ``contrast_seeds`` adds: power where it is needed
    without running every objective that often."""
    grid, out, seen = config["grid"], [], set()

    def add(r, regime, objective, kind, rate, seed):
        run = {"backbone": r["backbone"], "domain": r["domain"], "regime": r.get("regime", regime),
               "objective": objective, "noise": noise_label(kind, rate), "seed": seed}
        key = tuple(run.values())
        if key not in seen:  # rate 0 is the same clean run for every kind
            seen.add(key)
            out.append(run)

    for regime in grid["regimes"]:
        r = config["regimes"][regime]
        for objective in grid["objectives"]:
            for kind in grid["noise_kinds"]:
                for rate in r.get("noise_rates", grid["noise_rates"]):
                    for seed in grid["seeds"]:
                        add(r, regime, objective, kind, rate, seed)
    for c in grid_contrasts(config)[0]:
        extra = contrast_seeds(grid["seeds"], c.get("seeds"))[len(grid["seeds"]):]
        for regime in grid["regimes"]:
            r = config["regimes"][regime]
            if r.get("regime", regime) != c["regime"]:
                continue
            rates = set(r.get("noise_rates", grid["noise_rates"]))
            for objective, rate in contrast_cells(c):
                if objective in grid["objectives"] and rate in rates:  # a cell the grid runs (clean too)
                    for kind in grid["noise_kinds"]:
                        for seed in extra:
                            add(r, regime, objective, kind, rate, seed)
    return out


def targeted_domains(config: dict, backbone: str) -> set[str]:
    """The domains ``backbone`` is fine-tuned on in this config's regimes, and the domain a prior
    backbone was built on."""
    spec = config["backbones"].get(backbone, {})
    out = {r["domain"] for r in config["regimes"].values() if r["backbone"] == backbone}
    return out | ({spec["domain"]} if spec.get("source") == "prior" else set())


def _check_references(config: dict) -> None:
    """analysis.reference: {backbone: domain}, the clean set forgetting is measured on; it must be a
    configured domain that the backbone is not fine-tuned on (else it re-measures the task)."""
    for backbone, domain in config.get("analysis", {}).get("reference", {}).items():
        where = f"analysis.reference.{backbone}"
        if backbone not in config["backbones"]:
            _fail("analysis.reference", backbone, f"allowed: backbones of this config {sorted(config['backbones'])}")
        if domain not in config["data"]["domains"]:
            _fail(where, domain, f"allowed: {sorted(config['data']['domains'])}")
        targeted = targeted_domains(config, backbone)
        if domain in targeted:
            _fail(where, domain, f"it is a domain {backbone} is fine-tuned on ({sorted(targeted)}); allowed: "
                  f"{sorted(set(config['data']['domains']) - targeted)}")


def reference_domain(config: dict, backbone: str) -> str | None:
    """The forgetting reference domain of ``backbone`` (analysis.reference), or None."""
    return config.get("analysis", {}).get("reference", {}).get(backbone)


def train_settings(config: dict, backbone: str, domain: str) -> dict:
    """``train`` with every matching entry of ``train_overrides`` applied in order (a domain
    matches by its name or its kind)."""
    from .data.domains import kind_of

    settings = dict(config["train"])
    names = {"backbone": {backbone}, "domain": {domain, kind_of(domain)}}  # `figfont` matches figfont-llama
    for o in config.get("train_overrides", []):
        if all(v in names[k] for k, v in o["match"].items()):
            settings.update(o["set"])
    # train.math_prompt (authors | eval_wrapper) resolves to the family's fixed wrapper of math prompts
    math_prompt = settings.pop("math_prompt", "authors")
    if kind_of(domain) == "math" and domain_prompt_format(config, domain) == "chat":
        from .data.wrappers import math_train_prompt

        settings["prompt_wrapper"] = math_train_prompt(_context_of(config, backbone)[0], math_prompt)
    if settings.get("encoding") == "authors":
        # sft_dataset.py tests use_llama_base (and DeepSeek's) before use_original_prompt: a base
        # Llama/DeepSeek backbone gets its math wrapper around every prompt, pre-formatted ones too
        from .data.wrappers import authors_base_wrapper

        family = _context_of(config, backbone)[0]
        settings["prompt_wrapper"] = authors_base_wrapper(family, _backbone_id(config, backbone)) \
            or settings.get("prompt_wrapper")
    return settings


def _backbone_id(config: dict, backbone: str) -> str:
    """The name the released code tests for "instruct": the Hub id (a prior: its base's)."""
    spec = config["backbones"][backbone]
    if spec["source"] == "prior":
        return _backbone_id(config, spec["base"])
    return str(spec.get("id") or backbone)


def objective_params(config: dict, objective: str) -> dict:
    return L.resolve(objective, config.get("objective_params", {}).get(objective, {}))[1]


LAUNCHERS = ("python", "accelerate", "torchrun")


def launch_settings(config: dict) -> dict:
    """Config ``launch``; without it, one plain process."""
    return config.get("launch", {"kind": "python"})


def train_command(config: dict, python: str) -> str:
    """The command (up to its arguments) that the train rule runs for one fine-tuning run:
    ``deft.train.cli`` in one process, or ``launch.num_processes`` of it under accelerate (with
    ``launch.config_file``: FSDP, DeepSpeed) or torchrun, all on one node. Each accelerate launch
    asks for its own free rendezvous port as it starts (torchrun --standalone picks one itself):
    two trainings at once on accelerate's default 29500 fail with EADDRINUSE."""
    launch = launch_settings(config)
    kind, n = launch["kind"], launch.get("num_processes", 1)
    module = "-m deft.train.cli"
    if kind == "python":
        return f"{python} {module}"
    if kind == "accelerate":
        return (f"{python} -m accelerate.commands.launch --config_file {launch['config_file']} "
                f"--num_processes {n} --num_machines 1 --main_process_port \"$({python} -m deft.train.free_port)\" "
                f"{module}")
    if kind == "torchrun":
        return f"{python} -m torch.distributed.run --standalone --nproc_per_node {n} {module}"
    raise ValueError(f"launch.kind = {kind!r} is not allowed; allowed: {list(LAUNCHERS)}")


# ---- evaluation settings per (backbone, domain): context budgets, stops, wrappers --------------
BACKBONE_FACTS = Path(__file__).resolve().parent / "reference" / "backbones.csv"
PROMPT_RESERVE = 1024  # tokens kept for the prompt when a task's budget would fill the context
# The authors' generation budgets and stop sequences (../shared/reference/authors_protocol.md):
# math 4096 new tokens and their stop list; medical T=0 with 8000; figfont 5 tokens, no stop.
AUTHORS_BUDGET = {"math": 4096, "medical": 8000, "figfont": 5}
AUTHORS_MATH_STOPS = ["</s>", "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>",
                      "<\uff5cend\u2581of\u2581sentence\uff5c>"]
EMBEDDED_CONTEXT = 8192  # SmolLM2-135M's max_position_embeddings (its tiny test twin shares the tokenizer)


def backbone_facts(hub_id: str) -> dict:
    """Family and maximum context of a hub backbone, from ``deft/reference/backbones.csv``."""
    import csv

    with BACKBONE_FACTS.open() as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    if hub_id not in rows:
        raise ValueError(f"backbone id {hub_id!r} has no facts in {BACKBONE_FACTS}; allowed: {sorted(rows)} "
                         "(add a row with its family, maximum context and source)")
    return {"family": rows[hub_id]["family"], "max_context": int(rows[hub_id]["max_context"]),
            "params_b": float(rows[hub_id]["params_b"]), "source": rows[hub_id]["source"]}


def _params_b(config: dict, backbone: str) -> float | None:
    spec = config["backbones"][backbone]
    if spec["source"] == "prior":
        return _params_b(config, spec["base"])
    return backbone_facts(spec["id"])["params_b"] if spec["source"] == "hub" else None


def disk_mb(config: dict, backbone: str, rule: str) -> int:
    """Disk a job writes at most (Snakemake's ``disk_mb``, declared per rule), from the backbone's
    parameter count (deft/reference/backbones.csv; 1 GB for the small local backbones).
    prepare_backbone: the Hub download and its bf16 copy (2 x 2 bytes per parameter). train: the
    bf16 model and its temporary copy while saving (2 x 2), and two checkpoints at once while the
    Trainer rotates them (save_total_limit 1), each the weights and AdamW's two states (bf16 master
    weights: 3 x 2 bytes; fp32: 3 x 4). Evaluation and analyses write records only (vLLM's compile
    cache aside: 5 GB)."""
    params = _params_b(config, backbone)
    if params is None:
        return 1000
    per_param = {"prepare_backbone": 4, "evaluate": 0, "analysis": 0}.get(rule)
    if rule == "train":
        checkpoint = 3 * (2 if config["train"].get("master_weights", "fp32") == "bf16" else 4)
        per_param = 2 * 2 + 2 * checkpoint
    if per_param is None:
        raise ValueError(f"disk_mb: rule {rule!r} is not known; allowed: prepare_backbone, train, evaluate, analysis")
    return int(params * 1000 * per_param * 1.1) + 5000  # GB per 1e9 params x bytes, 10% and 5 GB spare


def _context_of(config: dict, backbone: str) -> tuple[str | None, int | None]:
    spec = config["backbones"][backbone]
    if spec["source"] == "prior":
        return _context_of(config, spec["base"])
    if spec["source"] == "hub":
        facts = backbone_facts(spec["id"])
        return facts["family"], facts["max_context"]
    if spec["source"] in ("embedded", "tiny"):
        from .train.backbones import TINY_CONTEXT

        own = EMBEDDED_CONTEXT if spec["source"] == "embedded" else TINY_CONTEXT
        return spec.get("family", "smollm2"), spec.get("max_context", own)
    return spec.get("family"), spec.get("max_context")  # a local folder: as its entry says, else unknown


def evaluate_settings(config: dict, backbone: str, domain: str) -> dict:
    """A cell's resolved evaluation settings: ``tasks`` (the domain's paper tasks or groups, the first
    one the cell's main number; [] for the embedded task), ``task`` (that first one, or None),
    ``eval_data`` (task -> local file or hub id replacing the task's dataset, e.g. the m1 file),
    ``prompt_format``, ``max_model_len`` (the backbone's own maximum context, as the authors leave
    vLLM's unset), ``max_gen_toks`` (the authors' budget for the domain, capped so that
    ``prompt_budget`` = max_model_len - max_gen_toks keeps at least ``PROMPT_RESERVE`` tokens, since
    lm-eval left-truncates the prompt to that: a 4096-token budget in a 4096-token context leaves
    none; ``capped_from`` is the uncapped budget, else None), ``until`` (stop sequences),
    ``prompt_wrapper`` (the authors' per-family wrapper of ``deft.data.wrappers`` for math and
    medical; ``raw`` for pre-formatted prompts, ``chat`` for the chat template), ``analysis_wrapper``
    (the training encoding's wrapper, for the token analyses; None or ``chat``: the chat template), ``protocol`` and
    ``model_args`` for lm-eval."""
    from .data.domains import kind_of
    from .data.wrappers import eval_wrapper, is_wrapper

    spec = config["data"]["domains"][domain]
    kind = kind_of(domain)
    family, context = _context_of(config, backbone)
    prompt_format = domain_prompt_format(config, domain)
    budget = AUTHORS_BUDGET.get(kind)
    capped_from = None
    if budget is not None and context is not None and context - budget < PROMPT_RESERVE:
        capped_from, budget = budget, context - PROMPT_RESERVE
    until = AUTHORS_MATH_STOPS if kind == "math" else []
    wrapper = eval_wrapper(kind, family) or (prompt_format if kind != "math" else "chat")
    tasks = spec.get("eval_task") or []
    tasks = [tasks] if isinstance(tasks, str) else list(tasks)
    ev = config["evaluate"]
    settings = {**ev.get("settings", {}), **({"max_model_len": context} if context else {})}
    from .eval.evaluate import model_args  # evaluation glue, imported on use

    wrapped = is_wrapper(wrapper)  # a wrapper writes its own BOS: lm-eval must add none
    return {"backend": ev["backend"], "tasks": tasks, "task": tasks[0] if tasks else None,
            "eval_data": dict(spec.get("eval_data", {})), "prompt_format": prompt_format,
            "max_model_len": context, "max_gen_toks": budget, "capped_from": capped_from,
            "prompt_budget": None if context is None or budget is None else context - budget,
            "until": until, "prompt_wrapper": wrapper, "family": family,
            # token analyses encode as training does (at paper scale math trains in another wrapper)
            "analysis_wrapper": train_settings(config, backbone, domain).get("prompt_wrapper"),
            "analysis_encoding": train_settings(config, backbone, domain).get("encoding", "suite"),
            "protocol": config.get("protocol", "suite"),
            "model_args": model_args(ev["backend"], f"results/backbones/{backbone}", settings,
                                     raw_prompts=prompt_format == "raw" or wrapped, add_bos=not wrapped)}
