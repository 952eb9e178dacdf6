"""Disjoint, seeded train / test / prior / prior_dev splits of a domain, written as JSON lines.

Splits are claimed in priority order (test first), each from its own seed; an example whose
overlap key (the question; for figfont the word) was claimed by an earlier split is skipped, so
no test item is ever seen in training or in the prior. The ``prior`` splits exist only to build
the model-strong backbone and are disjoint from ``train`` too.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from ..io import dumps_jsonl, write_bytes_atomic
from .domains import DOMAINS, kind_of, user_prompt

SPLIT_ORDER = ("test", "prior_dev", "prior", "train")


def _split_seed(seed: int, split: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{split}".encode()).digest()[:4], "little")


def build_splits(domain: str, sizes: dict[str, int], seed: int, params: dict | None = None) -> dict:
    d = DOMAINS[kind_of(domain)]
    claimed: set[str] = set()
    out = {}
    for split in SPLIT_ORDER:
        n = sizes.get(split, 0)
        rows, attempt = [], 0
        while len(rows) < n:
            if attempt == 5:
                raise ValueError(f"{domain}: could only find {len(rows)} of {n} distinct {split} examples; "
                                 "the generator's space is too small for the requested split sizes")
            for e in d.generate(4 * n + 16, _split_seed(seed, f"{split}:{attempt}"), dict(params or {})):
                key = d.overlap_key(e)
                if key in claimed or len(rows) == n:
                    continue
                claimed.add(key)
                rows.append({"id": f"{domain}-{split}-{len(rows):05d}", "domain": domain, **e,
                             "prompt": user_prompt(domain, e["question"])})
            attempt += 1
        out[split] = rows
    return out


def write_splits(splits: dict, out_dir) -> dict[str, str]:
    """Write each split to ``out_dir/{split}.jsonl``; return their sha256."""
    hashes = {}
    for split, rows in splits.items():
        data = dumps_jsonl(rows)
        write_bytes_atomic(Path(out_dir) / f"{split}.jsonl", data)
        hashes[split] = hashlib.sha256(data).hexdigest()
    return hashes


def make(domain: str, params: dict, sizes: dict, seed: int, out_dir) -> dict:
    """Pipeline stage: build and write the splits of ``domain`` plus ``manifest.json``; a domain
    configured with ``hub:`` is fetched by dataset id instead (paper scale)."""
    from ..io import write_json_atomic

    if "hub" in params:
        from .hub import fetch

        return fetch(domain, params["hub"], out_dir)
    if not DOMAINS[kind_of(domain)].offline:
        raise ValueError(f"domain {domain!r} has no offline generator; give data.domains.{domain}.hub "
                         f"(allowed offline kinds: {sorted(k for k, d in DOMAINS.items() if d.offline)})")
    params = dict(params)
    sizes = {**sizes, **params.pop("sizes", {})}  # a domain may set its own (a reference set: test only)

    splits = build_splits(domain, sizes, seed, params)
    manifest = {"domain": domain, "seed": seed, "params": params,
                "counts": {k: len(v) for k, v in splits.items()},
                "sha256": write_splits(splits, out_dir)}
    write_json_atomic(Path(out_dir) / "manifest.json", manifest)
    return manifest
