"""Paper-scale training data by public dataset id (Hugging Face datasets).

``fetch(domain, spec, out_dir)`` writes ``train.jsonl`` (and ``test.jsonl`` when the dataset has a
test split) in the suite's example format. Offline, it fails at once with the id and how to
pre-stage it; it never waits on the network.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..io import write_bytes_atomic, write_json_atomic
from .noise import dumps_jsonl, sha256

DEFAULT_FIELDS = {"prompt_field": "prompt", "response_field": "response", "train_split": "train", "test_split": None}


def _load(dataset: str, split: str):
    from datasets import load_dataset

    try:
        return load_dataset(dataset, split=split)
    except Exception as err:  # noqa: BLE001 - re-raised with the id and the fix
        offline = os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1"
        raise RuntimeError(
            f"dataset {dataset!r} (split {split!r}) could not be loaded{' offline' if offline else ''} "
            f"({type(err).__name__}: {str(err)[:200]}). Pre-stage it with `huggingface-cli download --repo-type "
            f"dataset {dataset}` on a machine with network access and copy the cache (HF_HOME), or unset "
            "HF_DATASETS_OFFLINE/HF_HUB_OFFLINE where the hub is reachable.") from err


def fetch(domain: str, spec: dict, out_dir) -> dict:
    spec = {**DEFAULT_FIELDS, **spec}
    out = Path(out_dir)
    hashes = {}
    for split_name, split in (("train", spec["train_split"]), ("test", spec["test_split"])):
        rows = []
        if split:
            for i, row in enumerate(_load(spec["dataset"], split)):
                rows.append({"id": f"{domain}-{split_name}-{i:06d}", "domain": domain,
                             "prompt": row[spec["prompt_field"]], "answer": row[spec["response_field"]]})
        data = dumps_jsonl(rows)
        write_bytes_atomic(out / f"{split_name}.jsonl", data)
        hashes[split_name] = sha256(data)
    for empty in ("prior", "prior_dev"):
        write_bytes_atomic(out / f"{empty}.jsonl", b"")
    manifest = {"domain": domain, "source": spec["dataset"], "sha256": hashes}
    write_json_atomic(out / "manifest.json", manifest)
    return manifest
