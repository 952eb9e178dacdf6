"""Evaluation through lm-eval: the task YAML of a domain on a generated test file.

The model's own chat template is applied (``apply_chat_template=True``), the same one training
uses. lm-eval names its output files with timestamps, so the caller writes the returned metrics
to a fixed path. Backend: ``hf`` (generate, CPU or GPU) or ``vllm`` (GPU).
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from .tasks import TASKS_DIR

BACKENDS = ("hf", "vllm")


def task_name(domain: str) -> str:
    """The embedded lm-eval task of a domain (of its kind: figfont-llama evaluates as figfont)."""
    from ..data.domains import kind_of

    name = f"deft_{kind_of(domain)}"
    if not (TASKS_DIR / f"{name}.yaml").exists():
        known = sorted(p.stem.removeprefix("deft_") for p in TASKS_DIR.glob("deft_*.yaml"))
        raise ValueError(f"no lm-eval task for domain {domain!r}; allowed: {known}")
    return name


def _read_task_yaml(path: Path) -> dict:
    """A task YAML as a dict (``!function`` hooks read as None)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: None)
    return yaml.load(Path(path).read_text(), Loader=Loader) or {}


def task_setting(name: str, key: str, tasks_dir: Path = TASKS_DIR):
    """A key of a task YAML, following its ``include:`` chain (None where no file of it sets the key)."""
    spec = _read_task_yaml(tasks_dir / f"{name}.yaml")
    if spec.get(key) is not None or not spec.get("include"):
        return spec.get(key)
    return task_setting(Path(spec["include"]).stem, key, tasks_dir)


def task_generation_kwargs(name: str, tasks_dir: Path = TASKS_DIR) -> dict:
    """The ``generation_kwargs`` of a task YAML (following its ``include:``)."""
    return task_setting(name, "generation_kwargs", tasks_dir)


def _without_keys(text: str, keys: set[str]) -> str:
    """A flat task YAML's text without the top-level ``keys`` (and their indented lines)."""
    out, skipping = [], False
    for line in text.splitlines():
        top = line[:1] not in (" ", "\t", "-", "") and ":" in line
        if top:
            skipping = line.split(":", 1)[0].strip() in keys
        elif not line.strip() or line.startswith("#"):
            skipping = skipping and bool(line.strip())
        if not skipping:
            out.append(line)
    return "\n".join(out) + "\n"


PAPER_BASES = {"math": "deft_math_base", "medical": "deft_medical_base"}
LOCAL_DATA = (".json", ".jsonl", ".parquet", ".csv")


def paper_task_dir(where: Path, *, wrapper: str | None = None, generation: dict | None = None,
                   eval_data: dict | None = None) -> Path:
    """A copy of ``tasks/paper`` in ``where`` for one cell: the bases' prompts inside ``wrapper``
    (a ``deft.data.wrappers`` name; chat/raw/None keep the chat-template prompt), their
    ``generation_kwargs`` updated with ``generation`` (budget, stops), and each task of
    ``eval_data`` reading its test split from a local file (a name ending in .json, .jsonl, .parquet
    or .csv, which must exist) or a hub id."""
    import json as _json

    from ..data.wrappers import is_wrapper
    from .tasks.paper import utils

    src = TASKS_DIR / "paper"
    where.mkdir(parents=True, exist_ok=True)
    (where / "utils.py").write_text("from deft.eval.tasks.paper.utils import *  # noqa: F401,F403\n")
    for path in sorted(src.glob("deft_*.yaml")):
        text, name = path.read_text(), path.stem
        for kind, base in PAPER_BASES.items():
            if name != base:
                continue
            drop, extra = set(), ""
            if is_wrapper(wrapper):
                drop.add("doc_to_text")
                extra += f"doc_to_text: !function utils.{utils.wrapped_name(kind, wrapper)}\n"
            if generation:
                drop.add("generation_kwargs")
                extra += f"generation_kwargs: {_json.dumps({**task_generation_kwargs(name, src), **generation})}\n"
            text = _without_keys(text, drop) + extra
        if name in (eval_data or {}):
            data = str(eval_data[name])
            text = _without_keys(text, {"dataset_path", "dataset_name", "dataset_kwargs", "test_split"})
            if data.endswith(LOCAL_DATA):
                local = Path(data).resolve()
                if not local.is_file():
                    raise FileNotFoundError(f"eval_data of task {name}: {data!r} is not a file (a local "
                                            f"{'/'.join(LOCAL_DATA)} file, or a hub dataset id)")
                fmt = "json" if local.suffix in (".json", ".jsonl") else local.suffix[1:]
                text += (f"dataset_path: {fmt}\ndataset_kwargs:\n  data_files:\n    test: {_json.dumps(str(local))}\n"
                         "test_split: test\n")
            else:
                text += f"dataset_path: {data}\n"
        (where / path.name).write_text(text)
    return where


def _task_dir(domain: str, test_path: Path, where: Path, max_gen_toks: int | None = None) -> str:
    """A one-file include dir: the domain's task pointed at ``test_path`` (and given a token budget)."""
    name = task_name(domain)
    text = (f"include: {TASKS_DIR / (name + '.yaml')}\ntask: {name}\n"
            f"dataset_kwargs:\n  data_files:\n    test: {json.dumps(str(Path(test_path).resolve()))}\n")
    if max_gen_toks is not None:
        text += f"generation_kwargs: {json.dumps({**task_generation_kwargs(name), 'max_gen_toks': max_gen_toks})}\n"
    (where / f"{name}.yaml").write_text(text)
    return str(where)


def model_args(backend: str, model_dir, settings: dict, raw_prompts: bool = False,
               add_bos: bool = True) -> dict:
    """lm-eval ``model_args`` for a backend (vLLM's parallelism and memory settings from config).
    ``raw_prompts``: prompts are used without a chat template, and ``add_bos`` says whether
    training gave them a BOS (``deft.train.trainer.tokenizer_adds_bos``): lm-eval's
    ``add_bos_token`` then prepends one or none, exactly as training did."""
    bos = {"add_bos_token": bool(add_bos)} if raw_prompts else {}
    if backend == "hf":
        return {"pretrained": str(model_dir), "dtype": settings.get("dtype", "float32"), **bos}
    if backend == "vllm":
        return {"pretrained": str(model_dir), **bos, "dtype": settings.get("dtype", "bfloat16"),
                "tensor_parallel_size": settings.get("tensor_parallel_size", 1),
                "data_parallel_size": settings.get("data_parallel_size", 1),
                "gpu_memory_utilization": settings.get("gpu_memory_utilization", 0.85),
                "max_model_len": settings.get("max_model_len", 4096), "seed": settings.get("seed", 0),
                **({"enforce_eager": bool(settings["enforce_eager"])} if "enforce_eager" in settings else {})}
    raise ValueError(f"unknown evaluation backend {backend!r}; allowed: {list(BACKENDS)}")


def evaluate(model_dir, domain: str, test_path, *, backend: str = "hf", batch_size: int = 16,
             limit: int | None = None, settings: dict | None = None, task: str | None = None,
             prompt_format: str = "chat", max_gen_toks: int | None = None, tasks: list | None = None,
             prompt_wrapper: str | None = None, until: list | None = None, eval_data: dict | None = None) -> dict:
    """Run lm-eval; return {"metrics", "samples", "n", "wall_s", "task_version", "by_source"}.

    ``task``/``tasks``: paper-scale tasks or groups of ``deft/eval/tasks/paper`` (e.g. deft_math) that
    load their own benchmark data (``eval_data``: task -> local file or hub id instead); the first
    one's metrics are the record's, the others' are named ``<task>/<metric>``. Without them, the
    domain's embedded task runs on ``test_path``.
    ``prompt_format``: ``chat`` (the model's chat template) or ``raw`` (as formatted, with a BOS
    exactly where training's tokenizer added one). ``prompt_wrapper``: a paper task's prompts inside
    one of the authors' family wrappers (``deft.data.wrappers``; no chat template, no added BOS).
    ``max_gen_toks``, ``until``: the generation budget and stop sequences (default: the task YAML's).
    """
    import lm_eval
    from lm_eval.tasks import TaskManager

    settings = settings or {}
    tasks = list(tasks or ([task] if task else []))
    names = tasks or [task_name(domain)]
    name = names[0]
    from ..data.wrappers import is_wrapper

    wrapped = bool(tasks) and is_wrapper(prompt_wrapper)
    raw = prompt_format == "raw" or wrapped
    add_bos = not wrapped  # a wrapper writes its own BOS
    if raw and not tasks:  # the embedded task reads test_path: give its prompts the BOS training gave
        from transformers import AutoTokenizer

        from ..io import read_jsonl
        from ..train.trainer import tokenizer_adds_bos

        first = read_jsonl(test_path)[:1]
        add_bos = bool(first) and tokenizer_adds_bos(AutoTokenizer.from_pretrained(model_dir), first[0]["prompt"])
    args = model_args(backend, model_dir, settings, raw_prompts=raw, add_bos=add_bos)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if tasks:
            generation = {k: v for k, v in (("max_gen_toks", max_gen_toks), ("until", until)) if v is not None}
            include = str(paper_task_dir(Path(tmp), wrapper=prompt_wrapper if wrapped else None,
                                         generation=generation, eval_data=eval_data))
        else:
            include = _task_dir(domain, Path(test_path), Path(tmp), max_gen_toks)
        tm = TaskManager(include_path=include, include_defaults=False)
        out = lm_eval.simple_evaluate(
            model=backend, model_args=args, tasks=names, task_manager=tm, batch_size=batch_size,
            device=settings.get("device", "cpu" if backend == "hf" else "cuda"), apply_chat_template=not raw,
            limit=limit, log_samples=True, random_seed=0, numpy_random_seed=0, torch_random_seed=0,
            fewshot_random_seed=0)
    metrics = {}
    for i, n in enumerate(names):
        for k, v in out["results"][n].items():
            if "," in k and "_stderr" not in k and isinstance(v, (int, float)):
                metrics[k.split(",")[0] if i == 0 else f"{n}/{k.split(',')[0]}"] = v
    samples = [{"task": t, "doc_id": s["doc_id"], "target": s["target"], "responses": s["resps"][0],
                **({"source": s["doc"]["source"]} if isinstance(s.get("doc"), dict) and "source" in s["doc"] else {}),
                **{m: s[m] for m in metrics if m in s and not isinstance(s[m], (list, tuple))}}
               for t, rows in out["samples"].items() for s in rows]
    from .items import item_metrics

    return {"metrics": metrics, "samples": samples, "n": len(samples), "wall_s": time.perf_counter() - t0,
            "task_version": out.get("versions", {}).get(name), "by_source": by_source(out["samples"]),
            "item_metrics": item_metrics(names, metrics)}


def by_source(samples_by_task: dict) -> dict:
    """Accuracy and item count per source of the tasks whose documents name a ``source`` (the m1
    file): {task: {source: {"acc", "n"}}}."""
    out: dict = {}
    for task, rows in samples_by_task.items():
        for s in rows:
            doc, acc = s.get("doc"), s.get("acc_items")
            if isinstance(doc, dict) and "source" in doc and acc is not None:
                cell = out.setdefault(task, {}).setdefault(str(doc["source"]), {"correct": 0.0, "n": 0})
                cell["correct"] += float(acc)
                cell["n"] += 1
    return {t: {src: {"acc": c["correct"] / c["n"], "n": c["n"]} for src, c in sources.items()}
            for t, sources in out.items()}


def response_checks(samples: list[dict], tokenizer=None, budget: int | None = None) -> dict:
    """``distinct_share``: distinct (stripped) responses per test item; 1/n means one constant answer.
    ``did_not_stop`` (with a tokenizer and the generation budget): the share of responses (every
    sample of every item) whose re-tokenised length reaches the budget, i.e. that were cut by it
    rather than ended (lm-eval strips the stop sequence or EOS of a response that ended)."""
    responses = [str(s["responses"][0]).strip() if isinstance(s["responses"], list) else str(s["responses"]).strip()
                 for s in samples]
    out = {"distinct_share": len(set(responses)) / len(responses)} if responses else {}
    if responses and tokenizer is not None and budget:
        every = [str(x) for s in samples for x in (s["responses"] if isinstance(s["responses"], list) else [s["responses"]])]
        lengths = [len(tokenizer(x, add_special_tokens=False)["input_ids"]) for x in every]
        out["did_not_stop"] = sum(n >= budget for n in lengths) / len(lengths)
    return out


def _tokenizer(model_dir):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(model_dir)
    except (OSError, ValueError):  # a model folder without a tokenizer: the share is left out
        return None


def constant_baselines(domain: str, samples: list[dict]) -> dict:
    """The best score a model answering one constant string could reach on these items (each
    gold answer tried as the constant): the floor a collapsed model can hide behind."""
    from ..data.domains import kind_of
    from .scoring import score

    golds = sorted({str(s["target"]) for s in samples})
    if not golds or len(golds) > 2000 or kind_of(domain) not in ("arithmetic", "figfont"):  # embedded scorers only
        return {}
    best = {}
    for g in golds:
        for metric, v in _mean_scores(domain, g, samples, score).items():
            best[metric] = max(best.get(metric, float("-inf")), v)
    return {f"constant_{k}": v for k, v in best.items()}


def _mean_scores(domain, constant, samples, score):
    totals: dict[str, float] = {}
    for s in samples:
        for k, v in score(domain, constant, str(s["target"])).items():
            totals[k] = totals.get(k, 0.0) + v
    return {k: v / len(samples) for k, v in totals.items()}


def evaluate_to_record(model_dir, identity: dict, test_path, out_record, out_samples, eval_cfg: dict,
                       config_slice: dict, *, train_summary=None, audit=None, base_record=None,
                       reference=None, reference_domain=None, out_tokens=None, token_objectives=None,
                       n_analysis: int = 64, prior_dev: dict | None = None, regime_bands: dict | None = None,
                       prior_stop: dict | None = None) -> dict:
    """Pipeline stage: evaluate a model and write its run record (and per-sample responses).

    ``identity``: backbone, domain, regime, objective, params, noise_kind, noise_rate, seed.
    ``train_summary``/``audit``/``base_record``: paths of the training summary, noise audit and the
    base model's record (absent for a base evaluation).

    Forgetting, against ``reference`` (the test split of ``reference_domain``: a clean task the
    backbone holds and is not fine-tuned on, config analysis.reference): the record keeps the model's
    per-token top-1 hits and per-example greedy exact matches on its first ``n_analysis`` examples;
    a run's ``token_forgetting_rate`` is the share of the base model's token hits it lost, its
    ``prior_task_accuracy`` the exact-match accuracy and ``prior_task_delta`` its change on the
    examples the base answered exactly (``forgetting.held_delta``).

    A base record carries its regime check (``deft.eval.regimes``; ``prior_dev``: {"prior_dev": the
    prior's accuracy on the split its build never saw} for a built prior; ``prior_stop``: where its
    build stopped, {"split", "step", "value"}, shown beside the label, not part of the check).
    Every record carries ``distinct_share`` (distinct responses / test items: a collapsed model
    answers one string) and what a constant answer would score (``baselines``).

    Gradient maps: ``out_tokens`` gets the token statistics of the first ``n_analysis`` test
    examples (held out from fine-tuning) under this model, for ``token_objectives`` ({name: params}),
    encoded as training encodes them (``eval_cfg["analysis_wrapper"]``, not the evaluation's wrapper).
    """
    from .. import losses
    from ..io import dumps_jsonl, read_jsonl, write_bytes_atomic
    from ..train.realised import scheduler_job
    from . import analysis, forgetting, records, regimes

    def load(path):
        return json.loads(Path(path).read_text()) if path else None

    paper = bool(eval_cfg.get("tasks") or eval_cfg.get("task"))
    budget = eval_cfg.get("max_gen_toks") if paper else None
    wrapper, until = (eval_cfg.get("prompt_wrapper"), eval_cfg.get("until")) if paper else (None, None)
    if not paper:  # embedded task: a budget that cannot cut a valid answer in the trained format
        from transformers import AutoTokenizer

        from ..train.greedy import answer_budget

        budget = answer_budget(AutoTokenizer.from_pretrained(model_dir), read_jsonl(test_path))
    settings = {**(eval_cfg.get("settings") or {}),
                **({"max_model_len": eval_cfg["max_model_len"]} if eval_cfg.get("max_model_len") else {})}
    result = evaluate(model_dir, identity["domain"], test_path, backend=eval_cfg["backend"],
                      batch_size=eval_cfg["batch_size"], limit=eval_cfg.get("limit"),
                      settings=settings, task=eval_cfg.get("task"), tasks=eval_cfg.get("tasks"),
                      prompt_format=eval_cfg.get("prompt_format", "chat"), max_gen_toks=budget,
                      prompt_wrapper=wrapper, until=until,
                      eval_data=eval_cfg.get("eval_data"))
    summary, audit_d, base = load(train_summary), load(audit), load(base_record)
    is_base = train_summary is None
    hits, tokens = None, None
    # partial fine-tuning left the lower blocks as they were: the analyses reuse their states
    top = (summary or {}).get("settings", {}).get("train_blocks")
    if reference or out_tokens:
        model, tok = analysis.load_for_analysis(model_dir)
        if reference:
            hits = forgetting.reference_hits(model, tok, reference, n_analysis, top_blocks=top)
            result["metrics"]["prior_task_accuracy"] = forgetting.task_accuracy(hits)
            if base is not None and base.get("reference"):
                result["metrics"]["token_forgetting_rate"] = forgetting.forgetting_rate(base["reference"]["top1"],
                                                                                      hits["top1"])
                if "exact" in base["reference"]:
                    result["metrics"]["prior_task_delta"] = forgetting.held_delta(base["reference"], hits)
        if out_tokens:
            tokens = analysis.heldout_tokens(model, tok, read_jsonl(test_path)[:n_analysis], token_objectives or {},
                                             identity["objective"], eval_cfg.get("analysis_wrapper"), top_blocks=top,
                                             encoding=eval_cfg.get("analysis_encoding", "suite"))
        del model
    record = {
        "kind": "base" if is_base else "run",
        "run": identity,
        "metrics": result["metrics"],
        "base_metrics": None if base is None else base["metrics"],
        "reference": None if hits is None else {"sha256": records.sha256_file(reference), "domain": reference_domain,
                                                **hits},
        "n_test": result["n"],
        "responses": response_checks(result["samples"], _tokenizer(model_dir), budget),
        "baselines": constant_baselines(identity["domain"], result["samples"]),
        "regime_check": None if not is_base else {**regimes.check(
            identity.get("regime"),
            {"test": result["metrics"].get("exact_match", float("nan")), **(prior_dev or {})}, regime_bands),
            "stopped_at": prior_stop},
        "data": {"test_sha256": records.sha256_file(test_path),
                 "train_sha256": audit_d["train_sha256"] if audit_d else None,
                 "noise_audit_sha256": records.sha256_file(audit) if audit else None,
                 "noise_realized_rate": audit_d["realized_rate"] if audit_d else None},
        "train": None if is_base else {k: v for k, v in summary.items() if k != "stop_history"},
        "eval": {"backend": eval_cfg["backend"], "wall_s": result["wall_s"], "task_version": result["task_version"],
                 "max_gen_toks": budget, "tasks": eval_cfg.get("tasks") or None,
                 "prompt_wrapper": wrapper, "until": until, "analysis_wrapper": eval_cfg.get("analysis_wrapper"),
                 "max_model_len": settings.get("max_model_len"), "by_source": result.get("by_source") or None,
                 "item_metrics": result.get("item_metrics")},
        "protocol": eval_cfg.get("protocol", "suite"),
        "config": config_slice,
        "provenance": {"config_hash": records.config_hash(config_slice), **records.git_state(),
                       "versions": records.versions(), "machine": records.machine(), "job": scheduler_job(),
                       "objective_version": None if is_base else losses.version(identity["objective"])},
    }
    write_bytes_atomic(out_samples, dumps_jsonl(result["samples"]))
    if out_tokens:
        write_bytes_atomic(out_tokens, tokens.to_csv(index=False, float_format="%.5g").encode())
    records.write(out_record, record)
    return record
