"""Paper-scale training data by public dataset id (Hugging Face datasets).

``fetch(domain, spec, out_dir)`` writes ``train.jsonl`` (and ``test.jsonl`` when the dataset has a
test split) in the suite's example format. Offline, it fails at once with the id and how to
pre-stage it; it never waits on the network.

``spec``: ``dataset`` (id or local folder), ``prompt_field`` and ``response_field`` (dotted paths
into nested records, e.g. ``extra_info.llama_prompt``), ``train_split``/``test_split``, and
``prompt_format``: ``chat`` (the prompt is a user turn for the model's chat template) or ``raw``
(the prompt is already formatted for the model family; used verbatim, no template).

``test.jsonl`` is the dataset's ``test_split``; without one (math, medical: evaluated on the
paper's benchmarks instead) it holds the last ``heldout`` training rows, which are then not
trained on: the held-out batch of the gradient maps. ``heldout_trained: true`` is the authors'
way instead: the FIRST ``heldout`` rows (their validation set) and everything trained on, so the
token analyses of that batch are in-sample (the manifest says so).
"""
from __future__ import annotations

import os
from pathlib import Path

from ..io import dumps_jsonl, sha256, write_bytes_atomic, write_json_atomic

DEFAULT_FIELDS = {"prompt_field": "prompt", "response_field": "response", "train_split": "train", "test_split": None,
                  "prompt_format": "chat", "heldout": 64,
                  "heldout_trained": False}
PROMPT_FORMATS = ("chat", "raw")


def check_spec(domain: str, spec: dict) -> None:
    """A bad ``hub:`` block fails at config time, naming the key and what is allowed."""
    if "dataset" not in spec:
        raise ValueError(f"config: data.domains.{domain}.hub needs the key 'dataset' (a public dataset id)")
    unknown = set(spec) - set(DEFAULT_FIELDS) - {"dataset"}
    if unknown:
        raise ValueError(f"config: data.domains.{domain}.hub has unknown key(s) {sorted(unknown)}; "
                         f"allowed: {sorted(set(DEFAULT_FIELDS) | {'dataset'})}")
    fmt = spec.get("prompt_format", "chat")
    if fmt not in PROMPT_FORMATS:
        raise ValueError(f"config: data.domains.{domain}.hub.prompt_format = {fmt!r} is not allowed; "
                         f"allowed: {list(PROMPT_FORMATS)}")


def field(row: dict, path: str, dataset: str):
    """``row[a][b]`` for the dotted ``path`` 'a.b'; a missing key names the dataset and the keys there."""
    value = row
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            have = sorted(value) if isinstance(value, dict) else type(value).__name__
            raise KeyError(f"dataset {dataset!r} has no field {path!r} (at {key!r}: found {have}); "
                           "fix prompt_field/response_field in data.domains.<domain>.hub")
        value = value[key]
    return value


def _load(dataset: str, split: str):
    from datasets import load_dataset

    try:
        return load_dataset(dataset, split=split)
    except Exception as err:  # noqa: BLE001 - re-raised with the id and the fix
        offline = os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1"
        raise RuntimeError(
            f"dataset {dataset!r} (split {split!r}) could not be loaded{' offline' if offline else ''} "
            f"({type(err).__name__}: {str(err)[:200]}). Pre-stage it with `hf download --repo-type "
            f"dataset {dataset}` on a machine with network access and copy the cache (HF_HOME), or unset "
            "HF_DATASETS_OFFLINE/HF_HUB_OFFLINE where the hub is reachable.") from err


def fetch(domain: str, spec: dict, out_dir) -> dict:
    from .domains import kind_of

    check_spec(domain, spec)
    spec = {**DEFAULT_FIELDS, **spec}
    out = Path(out_dir)

    def rows_of(split_name, split):
        return [{"id": f"{domain}-{split_name}-{i:06d}", "domain": kind_of(domain),
                 "prompt": field(row, spec["prompt_field"], spec["dataset"]),
                 "answer": field(row, spec["response_field"], spec["dataset"]),
                 **({"format": "raw"} if spec["prompt_format"] == "raw" else {})}
                for i, row in enumerate(_load(spec["dataset"], split))]

    train = rows_of("train", spec["train_split"])
    if spec["test_split"]:
        test = rows_of("test", spec["test_split"])
    elif spec["heldout_trained"]:  # the authors': the first rows as validation, all rows trained on
        test = train[: min(spec["heldout"], len(train))]
    else:  # no test split (evaluated on the paper's benchmarks): hold out rows for the token analyses
        n = min(spec["heldout"], len(train) // 2)
        train, test = train[: len(train) - n], train[len(train) - n:]
    hashes = {}
    for split_name, rows in (("train", train), ("test", test)):
        data = dumps_jsonl(rows)
        write_bytes_atomic(out / f"{split_name}.jsonl", data)
        hashes[split_name] = sha256(data)
    for empty in ("prior", "prior_dev", "prior_stop"):
        write_bytes_atomic(out / f"{empty}.jsonl", b"")
    manifest = {"domain": domain, "source": spec["dataset"], "sha256": hashes,
                "test_in_training": bool(spec["heldout_trained"] and not spec["test_split"])}
    write_json_atomic(out / "manifest.json", manifest)
    return manifest
