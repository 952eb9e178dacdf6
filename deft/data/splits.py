"""Disjoint, seeded train / test / prior / prior_dev / prior_stop splits of a domain, as JSON lines.

One pool per domain: the generator's examples, deduplicated on the domain's canonical key (for
arithmetic ``a + b`` and ``b + a`` are one problem; for figfont the word, whatever the font),
shuffled with the data seed, then cut into the splits. Every split is therefore a uniform sample
of the same deduplicated pool: train and test follow one distribution, and no canonical key sits
in two splits. (Claiming splits one after another from a generator with a small easy sub-space
used it up in the first split: test held mostly one-digit problems, train almost none.) The
manifest records each split's histogram of the generator's difficulty classes, so that anyone can
see the splits look alike. The ``prior`` splits exist only to build the model-strong backbones:
``prior`` trains them, ``prior_stop`` decides when a build stops, ``prior_dev`` reports the built
backbone's label (a split that chose the stopping step would report that step's lucky draw).
``train`` is the pool each run seed draws its training examples from (``deft.data.noise``).
"""
from __future__ import annotations

import hashlib
import random
from collections import Counter
from pathlib import Path

from ..io import dumps_jsonl, write_bytes_atomic
from .domains import DOMAINS, format_example, kind_of

SPLIT_ORDER = ("test", "prior_dev", "prior_stop", "prior", "train")
POOL_ROUNDS = 6  # generator calls (each with a fresh seed) before giving up on a too-small space


def _split_seed(seed: int, split: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{split}".encode()).digest()[:4], "little")


def pool(domain: str, n: int, seed: int, params: dict | None = None) -> list[dict]:
    """``n`` examples of ``domain`` with distinct canonical keys, in a seeded random order."""
    d = DOMAINS[kind_of(domain)]
    seen: dict[str, dict] = {}
    for attempt in range(POOL_ROUNDS):
        for e in d.generate(2 * n + 64, _split_seed(seed, f"pool:{attempt}"), dict(params or {})):
            seen.setdefault(d.canonical_key(e), e)
        if len(seen) >= n:
            break
    if len(seen) < n:
        raise ValueError(f"{domain}: the generator yields only {len(seen)} distinct problems (canonical keys) in "
                         f"{POOL_ROUNDS} rounds, fewer than the {n} the split sizes ask for; lower data.sizes or "
                         "widen the domain's settings")
    rows = sorted(seen.values(), key=d.canonical_key)  # order-free before the seeded shuffle
    random.Random(_split_seed(seed, "shuffle")).shuffle(rows)
    return rows[:n]


def build_splits(domain: str, sizes: dict[str, int], seed: int, params: dict | None = None,
                 prompt_format: str = "chat") -> dict:
    d = DOMAINS[kind_of(domain)]
    counts = {split: int(sizes.get(split, 0)) for split in SPLIT_ORDER}
    rows = pool(domain, sum(counts.values()), seed, params)
    out, start = {}, 0
    for split, n in counts.items():
        out[split] = [{"id": f"{domain}-{split}-{i:05d}", "domain": domain, **format_example(domain, e, prompt_format),
                       "difficulty": d.difficulty(e)} for i, e in enumerate(rows[start:start + n])]
        start += n
    return out


def histograms(splits: dict) -> dict[str, dict[str, int]]:
    """Per split, how many examples fall in each difficulty class."""
    return {split: dict(sorted(Counter(e["difficulty"] for e in rows).items())) for split, rows in splits.items()}


def write_splits(splits: dict, out_dir) -> dict[str, str]:
    """Write each split to ``out_dir/{split}.jsonl``; return their sha256."""
    hashes = {}
    for split, rows in splits.items():
        data = dumps_jsonl(rows)
        write_bytes_atomic(Path(out_dir) / f"{split}.jsonl", data)
        hashes[split] = hashlib.sha256(data).hexdigest()
    return hashes


def make(domain: str, params: dict, sizes: dict, seed: int, out_dir, prompt_format: str = "chat") -> dict:
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
    prompt_format = params.pop("prompt_format", prompt_format)  # ... and its own format

    splits = build_splits(domain, sizes, seed, params, prompt_format)
    manifest = {"domain": domain, "seed": seed, "params": params, "prompt_format": prompt_format,
                "counts": {k: len(v) for k, v in splits.items()}, "difficulty": histograms(splits),
                "sha256": write_splits(splits, out_dir)}
    write_json_atomic(Path(out_dir) / "manifest.json", manifest)
    return manifest
