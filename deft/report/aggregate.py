"""Run records -> a tidy table -> the paper's Table-1 analog.

Tidy table ``runs.csv``: one row per (record, metric) with columns
kind (run | base), regime, backbone, domain, objective (``base`` for base records), noise_kind,
noise_rate, seed, metric, value, n_test, config_hash, objective_version, test_sha256, git_commit.

Per-item table ``items.csv``: one row per (record, metric, test item) with the record's identity,
``item`` and ``value``: the lm-eval per-sample scores (``samples.jsonl`` beside the record; items
named ``task:doc_id``; ``weight``: the item's share of the record's number, deft.eval.items, so that
an unweighted mean over sets or sources is what the intervals estimate) and the per-example greedy
exact matches on the reference task
(``prior_task_accuracy``; ``prior_task_delta`` = that minus the base model's on the same example,
over the examples the base answered exactly).
The intervals of every table are computed from it (``deft.report.tables``).

Table 1: rows (regime, domain, metric, noise_rate); columns ``base`` then one per objective, each
the mean over seeds, and ``n_seeds`` (the smallest seed count of the row's cells).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..eval import records
from ..eval.forgetting import held_delta
from ..eval.items import item_weights
from ..io import read_jsonl, write_bytes_atomic
from .tables import (
    cells,
    contrasts,
    improvement_probability,
    ordered,
    paired_vs,
    paper_vs_reproduced,
    recipe_checks,
    regime_miss,
    table1_ci,
    write_table,
)

COLUMNS = ["kind", "regime", "backbone", "domain", "objective", "noise_kind", "noise_rate", "seed", "metric",
           "value", "n_test", "config_hash", "objective_version", "test_sha256", "git_commit", "protocol"]
CELL = ["regime", "backbone", "domain", "objective", "noise_kind", "noise_rate", "metric"]


def load_records(paths, skip_bad: bool = False) -> tuple[list[dict], list[str]]:
    """Load and validate records; a bad one raises naming the file, unless ``skip_bad`` (then listed).
    Each record gets ``_path`` (not part of the file) so that its training log can be found beside it."""
    good, bad = [], []
    for path in paths:
        try:
            good.append({**records.load(path), "_path": str(path)})
        except ValueError as err:
            if not skip_bad:
                raise ValueError(f"{err}\n(rerun its evaluate job, or aggregate with skip_bad to leave it out)") from None
            bad.append(str(err))
    return good, bad


def tidy(recs: list[dict]) -> pd.DataFrame:
    rows, base_refs = [], _base_references(recs)
    for r in recs:
        run, prov = r["run"], r["provenance"]
        for metric, value in _metrics(r, base_refs).items():
            rows.append({"kind": r["kind"], "regime": run["regime"], "backbone": run["backbone"],
                         "domain": run["domain"], "objective": run["objective"], "noise_kind": run["noise_kind"],
                         "noise_rate": run["noise_rate"], "seed": run["seed"], "metric": metric, "value": value,
                         "n_test": r["n_test"], "config_hash": prov["config_hash"],
                         "objective_version": prov["objective_version"], "test_sha256": r["data"]["test_sha256"],
                         "git_commit": prov["git_commit"],
                         "protocol": r.get("protocol", "suite")})  # records before the protocol switch: the suite's
    return pd.DataFrame(rows, columns=COLUMNS)


def check_consistent(df: pd.DataFrame, allow_mixed: bool = False) -> None:
    """Refuse to average seeds of one cell that disagree on config, objective version or test data."""
    runs = df[df.kind == "run"]
    for key in ("config_hash", "objective_version", "test_sha256"):
        n = runs.groupby(CELL, dropna=False)[key].nunique(dropna=False)
        mixed = n[n > 1]
        if len(mixed) and not allow_mixed:
            cell = dict(zip(CELL, mixed.index[0]))
            raise ValueError(f"records of one cell disagree on {key}: {cell}; rerun them with one configuration "
                             "or aggregate with allow_mixed to average them anyway")


def table1(df: pd.DataFrame) -> pd.DataFrame:
    runs = df[df.kind == "run"]
    base = df[df.kind == "base"].groupby(["backbone", "domain", "metric"])["value"].mean()
    rows = ["regime", "backbone", "domain", "metric", "noise_rate"]
    means = runs.pivot_table(index=rows, columns="objective", values="value", aggfunc="mean")
    seeds = runs.groupby(rows + ["objective"])["seed"].nunique().groupby(rows).min()
    objectives = ordered(runs.objective)
    means = means[objectives]
    base_col = [base.get((b, d, m)) for (_, b, d, m, _) in means.index]
    means.insert(0, "base", base_col)
    means["n_seeds"] = seeds
    return means.reset_index()


def _beside_records(recs: list[dict], name: str, read, keys: tuple, runs_only: bool = False) -> pd.DataFrame:
    """The file ``name`` beside each record (``read`` -> DataFrame), with the record's identity
    ``keys`` inserted as leading columns (each at position 0, in turn); absent or empty files skipped."""
    frames = []
    for rec in recs:
        path = Path(rec["_path"]).parent / name
        if (runs_only and rec["kind"] != "run") or not path.exists() or not path.stat().st_size:
            continue
        rows = read(path)
        for key in keys:
            rows.insert(0, key, rec["run"][key])
        frames.append(rows)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def train_logs(recs: list[dict]) -> pd.DataFrame:
    """Tidy per-step training logs (the ``train_log.jsonl`` beside each run record), one row per
    run x step, for the dynamics figures."""
    return _beside_records(recs, "train_log.jsonl", lambda p: pd.read_json(p, lines=True),
                           ("regime", "backbone", "domain", "objective", "noise_kind", "noise_rate", "seed"),
                           runs_only=True)


def heldout_tokens(recs: list[dict]) -> pd.DataFrame:
    """The gradient-map token statistics (``tokens.csv`` beside each run and base record) with the
    record's identity: ``model`` is ``base`` before fine-tuning, else the objective fine-tuned with."""
    return _beside_records(recs, "tokens.csv", pd.read_csv,
                           ("seed", "noise_rate", "noise_kind", "domain", "backbone", "regime"))


ITEM_COLUMNS = ["kind", "regime", "backbone", "domain", "objective", "noise_kind", "noise_rate", "seed", "metric",
                "item", "value", "weight"]
CONFIDENT_P = 0.9  # a token the base model already predicts at least this well


def confident_tokens(tokens: pd.DataFrame, runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Claim 4 (sharpening) as a measurement: on the test answer tokens the base model already
    predicts with p >= CONFIDENT_P (per backbone and domain), each model's -log p, per token
    (items: ``example:position``) and per record (its mean), as metric ``confident_token_nll``
    (lower: sharper). Returns (rows for runs.csv's table, rows for items.csv's), empty without
    token statistics. NLL's gradient there is only 1 - p; the paper says DEFT keeps pushing."""
    import numpy as np

    if tokens.empty or not {"model", "objective", "example", "position", "p_y"} <= set(tokens.columns):
        return pd.DataFrame(columns=runs.columns), pd.DataFrame(columns=ITEM_COLUMNS)
    t = tokens[tokens.model.astype(str) == tokens.objective.astype(str)].copy()  # a run's own rows
    base = tokens[tokens.model == "base"].drop_duplicates(["regime", "backbone", "domain", "example", "position"])
    t = pd.concat([t, base.assign(objective="base")])
    held = base[base.p_y >= CONFIDENT_P][["regime", "backbone", "domain", "example", "position"]]
    t = t.merge(held, on=["regime", "backbone", "domain", "example", "position"])
    t = t.assign(kind=np.where(t.objective == "base", "base", "run"), metric="confident_token_nll",
                 item=t.example.astype(str) + ":" + t.position.astype(str), weight=np.nan,
                 value=-np.log(t.p_y.clip(lower=1e-12)))
    items = t[ITEM_COLUMNS].reset_index(drop=True)
    keys = ["kind", "regime", "backbone", "domain", "objective", "noise_kind", "noise_rate", "seed"]
    means = items.groupby(keys, as_index=False).value.mean()
    like = runs[runs.metric == "exact_match"].drop(columns=["metric", "value"]).drop_duplicates(keys)
    rows = means.merge(like, on=keys, how="left").assign(metric="confident_token_nll")
    return rows[runs.columns], items


def sharpening(items: pd.DataFrame) -> pd.DataFrame:
    """Per (regime, noise rate, objective, base first): the mean p of the test answer tokens the base
    held at p >= CONFIDENT_P, before (base) and after fine-tuning, and their -log p; tokens = how
    many (per seed for runs)."""
    import numpy as np

    cols = ["regime", "backbone", "domain", "noise_rate", "objective", "mean_p", "confident_token_nll", "tokens", "n_seeds"]
    if items.empty:
        return pd.DataFrame(columns=cols)
    t = items.assign(p=np.exp(-items.value))
    base = t[t.kind == "base"].drop(columns="noise_rate")
    runs = t[t.kind == "run"]
    out = []
    for (regime, backbone, domain, rate), cell in runs.groupby(["regime", "backbone", "domain", "noise_rate"]):
        b = base[(base.regime == regime) & (base.backbone == backbone) & (base.domain == domain)]
        groups = dict(list(cell.groupby("objective")))
        for obj, g in [("base", b), *((o, groups[o]) for o in ordered(groups))]:
            out.append({"regime": regime, "backbone": backbone, "domain": domain, "noise_rate": rate, "objective": obj,
                        "mean_p": g.p.mean(), "confident_token_nll": g.value.mean(),
                        "tokens": g.item.nunique(), "n_seeds": g.seed.nunique()})
    return pd.DataFrame(out, columns=cols)


def item_scores(recs: list[dict]) -> pd.DataFrame:
    """The per-item scores of every record (see the module docstring)."""
    base_refs = _base_references(recs)
    rows = []
    for r in recs:
        ident = {k: r["run"][k] for k in ITEM_COLUMNS[1:8]}
        ident["kind"] = r["kind"]
        samples = Path(r["_path"]).parent / "samples.jsonl"
        if samples.exists():
            samples, spec = read_jsonl(samples), (r.get("eval") or {}).get("item_metrics") or {}
            for m, number in r["metrics"].items():
                weighted = item_weights(samples, spec.get(m), m)
                if not weighted:
                    continue
                _check_items_give_the_number(r, m, number, weighted)
                rows += [{**ident, "metric": m, "item": item, "value": value, "weight": w} for item, value, w in weighted]
        exact = (r.get("reference") or {}).get("exact") or []
        before = base_refs.get((r["run"]["backbone"], r["run"]["domain"]), {}).get("exact")
        delta = [i for i in range(len(exact)) if r["kind"] == "run" and before and len(before) == len(exact)
                 and before[i] and "prior_task_delta" in r["metrics"]]  # forgetting.held_delta, item by item
        for i, hit in enumerate(exact):
            rows.append({**ident, "metric": "prior_task_accuracy", "item": f"reference:{i}", "value": float(hit),
                         "weight": 1 / len(exact)})
        for i in delta:
            rows.append({**ident, "metric": "prior_task_delta", "item": f"reference:{i}",
                         "value": float(exact[i]) - float(before[i]), "weight": 1 / len(delta)})
    return pd.DataFrame(rows, columns=ITEM_COLUMNS)


def _check_items_give_the_number(r: dict, metric: str, number, weighted) -> None:
    """The items' weighted mean must be the record's number: an interval over other items (the
    medical Hub sets' for the m1 file's accuracy, as before 2026-12-04) would describe another score."""
    mean = sum(v * w for _, v, w in weighted)
    if isinstance(number, (int, float)) and abs(mean - number) > 1e-6:
        raise ValueError(f"{r['_path']}: the {len(weighted)} items of {metric!r} average {mean:.6f}, the record says "
                         f"{number:.6f}; its eval.item_metrics ({(r.get('eval') or {}).get('item_metrics', {}).get(metric)}) "
                         "does not describe how the number was built")


def _metrics(r: dict, base_refs: dict) -> dict:
    """The record's metrics, ``prior_task_delta`` taken from the reference hits where both the run
    and its base have them (``forgetting.held_delta``; records before 2026-12-02 stored the change
    over all reference examples)."""
    before, ref = base_refs.get((r["run"]["backbone"], r["run"]["domain"])), r.get("reference")
    if r["kind"] != "run" or "prior_task_delta" not in r["metrics"] or not (before or {}).get("exact") \
            or not (ref or {}).get("exact") or len(before["exact"]) != len(ref["exact"]):
        return r["metrics"]
    return {**r["metrics"], "prior_task_delta": held_delta(before, ref)}


def _base_references(recs: list[dict]) -> dict:
    """(backbone, domain) -> the base model's reference hits (before any fine-tuning)."""
    return {(r["run"]["backbone"], r["run"]["domain"]): r["reference"] for r in recs
            if r["kind"] == "base" and r.get("reference")}


FORGETTING_COLUMNS = ["regime", "backbone", "domain", "objective", "noise_rate", "seed", "reference_domain",
                      "examples", "examples_held_before", "tokens", "tokens_held_before", "tokens_lost",
                      "prior_task_accuracy", "prior_task_delta", "token_forgetting_rate"]


def forgetting(recs: list[dict]) -> pd.DataFrame:
    """One row per fine-tuned run with a reference set: what forgetting was measured on and its
    denominators - the reference examples and tokens, how many of them the base model held (its
    greedy exact matches; its top-1 tokens, the denominator of ``token_forgetting_rate``) and how
    many of those held tokens the run lost - beside the run's three forgetting metrics."""
    base = _base_references(recs)
    rows = []
    for r in recs:
        ref, before = r.get("reference"), base.get((r["run"]["backbone"], r["run"]["domain"]))
        if r["kind"] != "run" or not ref or not before or len(before["top1"]) != len(ref["top1"]):
            continue
        lost = sum(b and not a for b, a in zip(before["top1"], ref["top1"]))
        rows.append({**{k: r["run"][k] for k in FORGETTING_COLUMNS[:6]},
                     "reference_domain": ref.get("domain") or "unrecorded",  # records before 2026-12-01
                     "examples": len(ref.get("exact") or []),
                     "examples_held_before": sum(before.get("exact") or []), "tokens": len(ref["top1"]),
                     "tokens_held_before": sum(before["top1"]), "tokens_lost": lost,
                     **{m: _metrics(r, base).get(m) for m in ("prior_task_accuracy", "prior_task_delta",
                                                              "token_forgetting_rate")}})
    return pd.DataFrame(rows, columns=FORGETTING_COLUMNS)


REGIME_COLUMNS = ["regime", "backbone", "domain", "label", "band_low", "band_high", "base_test", "base_prior_dev",
                  "holds", "stop_step", "stop_value"]


def regime_checks(recs: list[dict]) -> pd.DataFrame:
    """One row per base record: the regime label, its band, the measured base exact match (test,
    and prior_dev for a built prior) and whether the label holds (empty: no band, not checked); for
    a built prior also where its build stopped (``stop_step``, ``stop_value`` on prior_stop: the
    check that chose the stop, which overstates the backbone and is not its label)."""
    rows = []
    for r in recs:
        c = r.get("regime_check")
        if r["kind"] != "base" or not c:
            continue
        band, stop = c["band"] or [None, None], c.get("stopped_at") or {}
        rows.append({"regime": r["run"]["regime"], "backbone": r["run"]["backbone"], "domain": r["run"]["domain"],
                     "label": c["label"], "band_low": band[0], "band_high": band[1],
                     "base_test": c["measured"].get("test"), "base_prior_dev": c["measured"].get("prior_dev"),
                     "holds": c["holds"], "stop_step": stop.get("step"), "stop_value": stop.get("value")})
    return pd.DataFrame(rows, columns=REGIME_COLUMNS)


COLLAPSE_SHARE = 0.25  # flagged: fewer distinct responses than this share of the distinct gold answers
RESPONSE_COLUMNS = ["kind", "regime", "backbone", "domain", "objective", "noise_rate", "seed", "n_test",
                    "distinct_share", "gold_distinct_share", "collapsed", "did_not_stop", "exact_match",
                    "constant_exact_match"]


def _gold_distinct_share(r: dict) -> float | None:
    """Distinct gold answers per test item (from the record's samples.jsonl): the share a perfect
    model would answer; with 512 sums of two numbers below 100 it is about a third, not 1."""
    samples = Path(r["_path"]).parent / "samples.jsonl" if r.get("_path") else None
    if samples is None or not samples.exists():
        return None
    targets = [str(s["target"]).strip() for s in read_jsonl(samples)]
    return len(set(targets)) / len(targets) if targets else None


def response_checks(recs: list[dict]) -> pd.DataFrame:
    """Per record: the share of distinct responses beside the share of distinct gold answers, its
    exact match and what the best constant answer scores on the same items. ``collapsed``: fewer
    distinct responses than ``COLLAPSE_SHARE`` of the distinct gold answers (of the items, where
    the golds are unknown): a constant answer is 1 of 512, a correct model about 170 of 512 here,
    so a bar on the items alone would flag correct models of a task with few distinct answers."""
    rows = []
    for r in recs:
        share = (r.get("responses") or {}).get("distinct_share")
        if share is None:
            continue
        gold = _gold_distinct_share(r)
        rows.append({**{k: r["run"][k] for k in ("regime", "backbone", "domain", "objective", "noise_rate", "seed")},
                     "kind": r["kind"], "n_test": r["n_test"], "distinct_share": share, "gold_distinct_share": gold,
                     "collapsed": share < COLLAPSE_SHARE * (gold if gold is not None else 1.0),
                     "did_not_stop": (r.get("responses") or {}).get("did_not_stop"),  # cut by the budget
                     "exact_match": r["metrics"].get("exact_match"),
                     "constant_exact_match": (r.get("baselines") or {}).get("constant_exact_match")})
    return pd.DataFrame(rows, columns=RESPONSE_COLUMNS)


def constant_scores(recs: list[dict], metric: str = "exact_match") -> dict:
    """{(backbone, domain): the best constant answer's ``metric`` on the test items}, from any record
    of the cell (it depends on the test set's gold answers alone)."""
    out = {}
    for r in recs:
        value = (r.get("baselines") or {}).get(f"constant_{metric}")
        if value is not None:
            out.setdefault((r["run"]["backbone"], r["run"]["domain"]), value)
    return out


def aggregate(record_paths, out_dir, *, skip_bad: bool = False, allow_mixed: bool = False,
              contrast_specs: list[dict] | None = None, mde_target: float | None = None,
              left_out_contrasts: list | None = None) -> dict:
    """Pipeline stage: runs.csv, items.csv, cells.csv, train_logs.csv, heldout_tokens.csv, and
    table1, table1_ci, paired_vs_nll, improvement_probability, paper_vs_reproduced, forgetting,
    contrasts (``contrast_specs``, config analysis.contrasts; ``left_out_contrasts``, (spec, reason)
    pairs of those outside a reduced grid, are listed as left out), regimes and responses as CSV,
    Markdown and LaTeX. Regime labels that do not hold and collapsed runs are logged."""
    recs, bad = load_records(record_paths, skip_bad=skip_bad)
    if not recs:
        raise ValueError("no valid run records to aggregate")
    df = tidy(recs)
    check_consistent(df, allow_mixed)
    items = item_scores(recs)
    out = Path(out_dir)
    write_bytes_atomic(out / "runs.csv", df.to_csv(index=False).encode())
    write_bytes_atomic(out / "items.csv", items.to_csv(index=False).encode())
    write_bytes_atomic(out / "cells.csv", cells(df, items).to_csv(index=False).encode())
    write_table(table1(df), out / "table1")
    write_table(table1_ci(df, items), out / "table1_ci")
    write_table(paired_vs(df, items), out / "paired_vs_nll")
    write_table(improvement_probability(df, items), out / "improvement_probability")
    write_table(paper_vs_reproduced(df), out / "paper_vs_reproduced")
    write_table(forgetting(recs), out / "forgetting")
    # the sharpening measurement enters the contrasts only (not Table 1: it is a token-level analysis)
    tokens = heldout_tokens(recs)  # every tokens.csv, read once: the sharpening contrasts and heldout_tokens.csv
    sharp_runs, sharp_items = confident_tokens(tokens, df)
    write_table(contrasts(pd.concat([df, sharp_runs], ignore_index=True),
                          pd.concat([items, sharp_items], ignore_index=True),
                          contrast_specs or [], mde_target, left_out_contrasts or []), out / "contrasts")
    write_table(sharpening(sharp_items), out / "sharpening")
    write_table(recipe_checks(df, items, constants=constant_scores(recs)), out / "recipe_checks")
    regimes_t, responses = regime_checks(recs), response_checks(recs)
    write_table(regimes_t, out / "regimes")
    write_table(responses, out / "responses")
    for r in regimes_t[regimes_t.holds == False].itertuples():  # noqa: E712 (None: not checked)
        measured, band = regime_miss(r)
        print(f"WARNING: regime label {r.label!r} of {r.backbone}/{r.domain} does not hold: base exact match "
              f"{measured} outside [{band}]")
    for r in responses[responses.collapsed].itertuples():
        print(f"WARNING: {r.kind} {r.backbone}/{r.domain}/{r.objective}/noise {r.noise_rate}/seed {r.seed} "
              f"answers {r.distinct_share:.1%} distinct strings per item (collapse: below {COLLAPSE_SHARE:.0%} of the "
              f"gold answers' {r.gold_distinct_share if pd.notna(r.gold_distinct_share) else 1:.1%})")
    write_bytes_atomic(out / "train_logs.csv", train_logs(recs).to_csv(index=False).encode())
    write_bytes_atomic(out / "heldout_tokens.csv", tokens.to_csv(index=False).encode())
    return {"records": len(recs), "skipped": bad}


def main(argv=None) -> None:
    """Rebuild the tables from a folder of run records (e.g. the shipped ones), without training."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("records", help="folder searched recursively for record.json files")
    ap.add_argument("out", help="folder for the tables")
    ap.add_argument("--skip-bad", action="store_true")
    ap.add_argument("--allow-mixed", action="store_true")
    args = ap.parse_args(argv)
    paths = sorted(Path(args.records).rglob("record.json"))
    print(aggregate(paths, args.out, skip_bad=args.skip_bad, allow_mixed=args.allow_mixed))


if __name__ == "__main__":
    main()
