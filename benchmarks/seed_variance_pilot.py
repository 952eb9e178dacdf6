"""Where does the seed-to-seed variance of the noise contrast come from, and which recipe keeps it
small enough for the `noise_cost` control to hold? A pilot on held-out splits (prior_dev +
prior_stop, never test) for the next design of the embedded study (issue #26).

For each recipe x sample mode x seed it fine-tunes nll on clean data, nll and deft on 30% answer
noise, scores greedy exact match per item on the held-out items, and prints per recipe and mode:
each seed's noise cost (nll clean - nll noisy) and deft - nll (noisy), their paired 95% intervals
and MDEs (`deft.stats`, seeds x items), and the MDE projected to more seeds.

    python benchmarks/seed_variance_pilot.py results/backbones/smollm2-135m-prior results/data/domain=arithmetic \\
        --out results/benchmarks/seed_variance_pilot.jsonl --workers 2

Sample modes: `redraw` (each seed draws its 256 examples from the train pool, as the study does)
and `fixed` (every seed trains on seed 0's draw; only the noise and the order vary), which
separates the sampling of the training set from the rest. Runs already in --out are not repeated.
"""
import argparse
import json
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

RECIPES = {  # label -> settings over the study's (config/config.yaml train:)
    "top16 lr1e-4": {"train_blocks": 16, "learning_rate": 1e-4},
    "top16 lr3e-5": {"train_blocks": 16, "learning_rate": 3e-5},
    "top4 lr1e-4": {"train_blocks": 4, "learning_rate": 1e-4},
}
ROOT = Path(__file__).resolve().parents[1]


def study_train(config: Path = ROOT / "config/config.yaml") -> dict:
    """The study's training settings (its config's ``train:``), which each recipe overrides: the
    pilot follows the config rather than a copy of it."""
    import yaml

    return yaml.safe_load(config.read_text())["train"]


CELLS = (("nll", 0.0), ("nll", 0.3), ("deft", 0.3))


def training_set(data: Path, mode: str, seed: int, rate: float, n: int = 256) -> list[dict]:
    from deft.data.noise import draw, inject
    from deft.io import read_jsonl

    sample = draw(read_jsonl(data / "train.jsonl"), n, seed if mode == "redraw" else 0)
    return inject(sample, rate, "answer", seed)[0] if rate else sample


def one_run(job: dict) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from deft.eval.scoring import score
    from deft.io import dumps_jsonl, read_jsonl
    from deft.train.greedy import answer_budget, greedy_responses
    from deft.train.trainer import train

    torch.set_num_threads(1)
    data = Path(job["data"])
    held = read_jsonl(data / "prior_dev.jsonl") + read_jsonl(data / "prior_stop.jsonl")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.jsonl"
        path.write_bytes(dumps_jsonl(training_set(data, job["mode"], job["seed"], job["rate"])))
        cfg = {**study_train(), **RECIPES[job["recipe"]], "objective": job["objective"], "seed": job["seed"]}
        summary = train(job["model"], path, Path(tmp) / "m", Path(tmp) / "log.jsonl", cfg)
        tok = AutoTokenizer.from_pretrained(job["model"])
        model = AutoModelForCausalLM.from_pretrained(Path(tmp) / "m")
        answers = greedy_responses(model, tok, held, answer_budget(tok, held))
    scores = [score(e["domain"], r, e["answer"])["exact_match"] for e, r in zip(held, answers)]
    return {**{k: job[k] for k in ("recipe", "mode", "seed", "objective", "rate")}, "scores": scores,
            "train_wall_s": summary["wall_s"]}


def key(r: dict) -> tuple:
    return r["recipe"], r["mode"], r["seed"], r["objective"], r["rate"]


def summarise(rows: list[dict]) -> None:
    import deft.stats as S

    by = {key(r): np.array(r["scores"], dtype=float) for r in rows}
    print("| recipe | sample | seeds | nll clean | nll noisy | deft noisy | noise cost (nll) [95% CI] | MDE |"
          " deft - nll noisy [95% CI] | MDE | per seed: cost / deft - nll | MDE at 10 / 20 seeds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for recipe in RECIPES:
        for mode in ("redraw", "fixed"):
            seeds = sorted({r["seed"] for r in rows if (r["recipe"], r["mode"]) == (recipe, mode)
                            and all((recipe, mode, r["seed"], o, q) in by for o, q in CELLS)})
            if len(seeds) < 2:
                continue
            clean, noisy, deft = (np.stack([by[recipe, mode, s, o, q] for s in seeds]) for o, q in CELLS)
            cost, contrast = S.paired_ci(clean, noisy), S.paired_ci(deft, noisy)
            per = " ".join(f"{c:+.3f}/{d:+.3f}" for c, d in zip((clean - noisy).mean(1), (deft - noisy).mean(1)))
            proj = f"{S.mde(deft, noisy, n_seeds=10):.3f} / {S.mde(deft, noisy, n_seeds=20):.3f}"
            print(f"| {recipe} | {mode} | {len(seeds)} | {clean.mean():.3f} | {noisy.mean():.3f} | {deft.mean():.3f} "
                  f"| {cost[0]:+.3f} [{cost[1]:+.3f}, {cost[2]:+.3f}] | {S.mde(clean, noisy):.3f} "
                  f"| {contrast[0]:+.3f} [{contrast[1]:+.3f}, {contrast[2]:+.3f}] | {S.mde(deft, noisy):.3f} "
                  f"| {per} | {proj} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("data", type=Path)
    ap.add_argument("--out", type=Path, required=True, help="JSON lines, one run each (appended; resumable)")
    ap.add_argument("--recipes", default="top16 lr1e-4", help=f"comma-separated, of {list(RECIPES)}")
    ap.add_argument("--modes", default="redraw,fixed")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    recipes = a.recipes.split(",")
    for r in recipes:
        if r not in RECIPES:
            ap.error(f"--recipes: {r!r} is not allowed; allowed: {list(RECIPES)}")
    done = [json.loads(x) for x in a.out.read_text().splitlines()] if a.out.exists() else []
    have = {key(r) for r in done}
    jobs = [{"model": a.model, "data": str(a.data), "recipe": rec, "mode": mode, "seed": int(s), "objective": o,
             "rate": q} for rec in recipes for mode in a.modes.split(",") for s in a.seeds.split(",")
            for o, q in CELLS]
    # seed 0's fixed sample is its own draw, so its fixed runs are its redraw runs: never run twice
    redraw = "redraw" in a.modes.split(",")
    jobs = [j for j in jobs if key(j) not in have
            and not (j["mode"] == "fixed" and j["seed"] == 0 and (redraw or key({**j, "mode": "redraw"}) in have))]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(a.workers) as pool:
        for row in pool.map(one_run, jobs):
            done.append(row)
            with a.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"{row['recipe']} {row['mode']} seed {row['seed']} {row['objective']} {row['rate']}: "
                  f"{np.mean(row['scores']):.3f} ({row['train_wall_s']:.0f} s)", flush=True)
    done += [{**r, "mode": "fixed"} for r in done if r["mode"] == "redraw" and r["seed"] == 0]
    summarise(done)


if __name__ == "__main__":
    main()
