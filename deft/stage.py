"""`make stage`: everything a configuration reads from the network - Hub backbones, Hub training
sets, every evaluation dataset and the authors' m1 file - downloaded on a machine with network (a
login node) into HF_HOME, then verified the way the jobs will read it (offline, in a fresh
process), with one line per item and what to do about each one missing.

    python -m deft.stage --configfile config/paper.yaml           # download, then verify
    python -m deft.stage --configfile config/paper.yaml --check   # verify only (offline)

Exit 1 when anything is missing. Gated models (meta-llama) need an accepted licence on the model's
page and a token: `hf auth login`, or HF_TOKEN in the environment.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

# The m1 medical evaluation file lives in the authors' repository, not on a hub: fetched at the
# commit the suite was checked against and verified by its git blob hash.
M1_URL = ("https://raw.githubusercontent.com/luludus/DEFT/bbe7896e1f39df62063341df7a188eb72f9c22c0/"
          "evaluations/medical/data/m1_eval_data_processed.json")
M1_BLOB = "9838f721f75c2c34edf75dd71a6624c5d85a7c85"
M1_TARGET = Path("data/m1_eval_data_processed.json")  # where config/paper.yaml reads it
GATED = ("meta-llama/",)
TOKEN_HELP = ("gated: accept the licence on https://huggingface.co/{repo} with your account, then "
              "`hf auth login` (or export HF_TOKEN=...) and rerun make stage")


def _is_local(ref: str) -> bool:
    return ref.startswith((".", "/")) or ref.endswith((".json", ".jsonl")) or Path(ref).exists()


def plan(config: dict) -> list[dict]:
    """One entry per thing to stage: {"kind", "ref", "repo_type", "name", "split", "used_by"}; refs
    that are local paths are checked for existence only."""
    from .eval.evaluate import _read_task_yaml, task_setting
    from .eval.tasks import TASKS_DIR

    items: dict[tuple, dict] = {}

    def add(kind, ref, used_by, repo_type="dataset", name=None, split=None):
        key = (kind, ref, name, split)
        entry = items.setdefault(key, {"kind": kind, "ref": ref, "repo_type": repo_type, "name": name,
                                       "split": split, "used_by": []})
        if used_by not in entry["used_by"]:
            entry["used_by"].append(used_by)

    for name, spec in config["backbones"].items():
        if spec["source"] == "hub":
            add("backbone", spec["id"], name, repo_type="model")
    for domain, spec in config["data"]["domains"].items():
        hub = spec.get("hub")
        if hub:  # its training split, and its test split where the test set comes from the Hub too
            for split in dict.fromkeys([hub.get("train_split", "train"), hub.get("test_split")]):
                if split:
                    add("train", hub["dataset"], domain, split=split)
        tasks = spec.get("eval_task") or []
        overrides = spec.get("eval_data") or {}
        queue = [tasks] if isinstance(tasks, str) else list(tasks)
        while queue:
            task = queue.pop(0)
            path = TASKS_DIR / "paper" / f"{task}.yaml"
            y = _read_task_yaml(path) if path.is_file() else {}
            if "group" in y:
                queue = list(y["task"]) + queue
                continue
            if task in overrides:
                add("eval", str(overrides[task]), f"{domain}:{task}")
            elif y.get("dataset_path") and y["dataset_path"] != "json":
                add("eval", y["dataset_path"], f"{domain}:{task}", name=y.get("dataset_name"),
                    split=task_setting(task, "test_split", TASKS_DIR / "paper"))
    return list(items.values())


def git_blob_sha1(path: Path) -> str:
    data = Path(path).read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def download(item: dict) -> None:
    """Fetch one item into the caches (HF_HOME) or, for the m1 file, to its configured path."""
    ref = item["ref"]
    if _is_local(ref):
        if Path(ref) == M1_TARGET and not Path(ref).exists():
            import urllib.request

            Path(ref).parent.mkdir(parents=True, exist_ok=True)
            urllib.request.urlretrieve(M1_URL, ref)
        return
    from huggingface_hub import snapshot_download

    snapshot_download(ref, repo_type=item["repo_type"])
    if item["repo_type"] == "dataset":  # also the datasets cache, as the jobs' load_dataset reads it
        from datasets import load_dataset

        load_dataset(ref, item["name"], split=item["split"])


def verify(item: dict) -> str | None:
    """None when the item reads as the jobs will read it (run offline), else why not."""
    ref = item["ref"]
    try:
        if _is_local(ref):
            if not Path(ref).exists():
                return f"missing file {ref}" + (f" (make stage fetches it from {M1_URL})" if Path(ref) == M1_TARGET else "")
            if Path(ref) == M1_TARGET and git_blob_sha1(Path(ref)) != M1_BLOB:
                return f"{ref} is not the authors' m1 file (git blob {git_blob_sha1(Path(ref))}, expected {M1_BLOB})"
            return None
        if item["kind"] == "backbone":
            from huggingface_hub import snapshot_download
            from transformers import AutoConfig, AutoTokenizer

            folder = Path(snapshot_download(ref, local_files_only=True))
            if not list(folder.glob("*.safetensors")) and not list(folder.glob("*.bin")):
                return f"no weight files in {folder}"
            AutoConfig.from_pretrained(folder)
            AutoTokenizer.from_pretrained(folder)
            return None
        from datasets import load_dataset

        rows = load_dataset(ref, item["name"], split=item["split"])
        return None if len(rows) else f"split {item['split']!r} is empty"
    except Exception as err:  # noqa: BLE001 - reported per item, with the fix
        why = f"{type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"
        if ref.startswith(GATED):
            why += "; " + TOKEN_HELP.format(repo=ref)
        return why


def load_configs(paths) -> dict:
    """The files merged as Snakemake merges --configfile (its own update_config: later keys win,
    nested mappings merged)."""
    import yaml
    from snakemake.utils import update_config

    config: dict = {}
    for path in paths:
        update_config(config, yaml.safe_load(Path(path).read_text()) or {})
    return config


def _check_all(items: list[dict]) -> list[tuple[dict, str | None]]:
    return [(item, verify(item)) for item in items]


def main(argv=None) -> int:
    from .config import check

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configfile", nargs="+", default=["config/paper.yaml"])
    ap.add_argument("--check", action="store_true", help="verify only (offline), download nothing")
    ap.add_argument("--json", help="also write the per-item results here")
    args = ap.parse_args(argv)
    config = load_configs(args.configfile)
    check(config)
    items = plan(config)
    if not args.check:
        for item in items:
            try:
                print(f"stage: fetching {item['kind']} {item['ref']}", flush=True)
                download(item)
            except Exception as err:  # noqa: BLE001 - the offline check below says what is missing
                print(f"stage: {item['ref']}: {type(err).__name__}: {str(err)[:160]}", flush=True)
        # verify as the jobs read: a fresh process with the hub switched off
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        cmd = [sys.executable, "-m", "deft.stage", "--check", "--configfile", *args.configfile]
        return subprocess.run(cmd + (["--json", args.json] if args.json else []), env=env).returncode
    results = _check_all(items)
    hf_home = os.environ.get("HF_HOME", "~/.cache/huggingface")
    print(f"{'kind':9} {'status':8} item (used by)   [HF_HOME={hf_home}]")
    for item, why in results:
        ident = item["ref"] + (f" [{item['name']}]" if item["name"] else "") + (f" split {item['split']}" if item["split"] else "")
        print(f"{item['kind']:9} {'ok' if why is None else 'MISSING':8} {ident} ({', '.join(item['used_by'])})")
        if why:
            print(f"{'':18}{why}")
    missing = [item["ref"] for item, why in results if why]
    print(f"stage: {len(results) - len(missing)} of {len(results)} items ready" +
          (f"; missing: {', '.join(dict.fromkeys(missing))}" if missing else ""))
    if args.json:
        Path(args.json).write_text(json.dumps([{**i, "problem": w} for i, w in results], indent=1))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
