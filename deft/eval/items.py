"""How each metric's number is built from its test items, so that the per-item intervals
(deft.report) estimate the number the table shows.

A paper metric is not always the plain mean of one per-sample value: math's ``avg_at_k`` is the
unweighted mean of the five sets' means (MATH-500's 500 items count as much as AIME24's 30), the m1
file's ``acc`` the unweighted mean over its sources of each source's accuracy, the Hub group's
``deft_medical/acc`` the unweighted mean of four sets. ``item_metrics`` writes, per metric, which
samples belong to it (``tasks``), which per-sample value (``key``) and the strata whose means are
averaged (``strata``: None, ``task`` or ``source``); ``item_weights`` turns that into one weight per
item such that sum(weight x value) is the record's number. The record keeps the spec
(``eval.item_metrics``); records without it (the embedded study's) use equal weights.
"""
from __future__ import annotations

from pathlib import Path

from .tasks import TASKS_DIR

# Per-sample value and stratum of metrics whose per-sample output is not a number: the m1 file's
# ``acc`` aggregates (source, correct) pairs (tasks/paper/utils.py mean_over_sources).
ITEM_VALUE = {("deft_medical_m1", "acc"): ("acc_items", "source")}


def _group(task: str, metric: str, tasks_dir: Path) -> tuple[list[str], bool] | None:
    """(subtasks, weighted by size) of a group task of ``tasks_dir/paper``, else None."""
    from .evaluate import _read_task_yaml

    path = tasks_dir / "paper" / f"{task}.yaml"
    spec = _read_task_yaml(path) if path.is_file() else {}
    if "group" not in spec:
        return None
    entry = next((a for a in spec.get("aggregate_metric_list", []) if a.get("metric") == metric), {})
    return list(spec["task"]), bool(entry.get("weight_by_size", True))


def item_metrics(names: list[str], metrics, tasks_dir: Path = TASKS_DIR) -> dict:
    """{metric: {"tasks", "key", "strata"}} for the metrics of an evaluation of ``names`` (the first
    task's metrics unprefixed, the others' as ``task/metric``, as deft.eval.evaluate names them)."""
    out = {}
    for metric in metrics:
        task, short = metric.split("/", 1) if "/" in metric else (names[0], metric)
        group = _group(task, short, tasks_dir)
        if group:
            subtasks, by_size = group
            out[metric] = {"tasks": subtasks, "key": short, "strata": None if by_size else "task"}
        else:
            key, strata = ITEM_VALUE.get((task, short), (short, None))
            out[metric] = {"tasks": [task], "key": key, "strata": strata}
    return out


def _number(v) -> bool:
    return isinstance(v, (int, float, bool))


def item_weights(samples: list[dict], spec: dict | None, metric: str) -> list[tuple[str, float, float]]:
    """(item, value, weight) of ``metric``'s items, the weights summing to 1 with equal total weight
    per stratum. Without ``spec`` (older records): every sample carrying a number under ``metric``,
    equal weights."""
    spec = spec or {"tasks": None, "key": metric, "strata": None}
    rows = [(f"{s.get('task', '')}:{s['doc_id']}", float(s[spec["key"]]), s.get(spec["strata"]) if spec["strata"] else None)
            for s in samples
            if (spec["tasks"] is None or s.get("task") in spec["tasks"]) and _number(s.get(spec["key"]))]
    counts: dict = {}
    for _, _, stratum in rows:
        counts[stratum] = counts.get(stratum, 0) + 1
    return [(item, value, 1.0 / (len(counts) * counts[stratum])) for item, value, stratum in rows]
