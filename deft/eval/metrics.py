"""Every metric the suite records, with its direction, declared once: which way is better decides
each "best" mark and the sign of each paired comparison's verdict.

``higher``: accuracy-like scores. ``lower``: rates of damage (forgetting).
"""
from __future__ import annotations

DIRECTIONS = {
    "exact_match": "higher",          # embedded tasks (lm-eval)
    "jaro_winkler": "higher",         # figfont, x 100
    "acc": "higher",                  # medical (paper scale; the m1 file: mean over sources)
    "acc_items": "higher",            # the m1 file's accuracy over items
    "avg_at_k": "higher",             # math avg@16 (paper scale)
    "prior_task_accuracy": "higher",  # greedy exact match on the backbone's reference task
    "prior_task_delta": "higher",     # that minus the base model's: below 0 = forgot
    "token_forgetting_rate": "lower",  # share of the base model's top-1 reference tokens lost
    "confident_token_nll": "lower",   # -log p of test answer tokens the base held at p >= 0.9 (sharpening)
}


def direction(metric: str) -> str:
    """``higher`` or ``lower`` (is better) for a recorded metric; a second task's metric is named
    ``<task>/<metric>`` (deft.eval.evaluate) and goes the metric's way."""
    try:
        return DIRECTIONS[metric.rsplit("/", 1)[-1]]
    except KeyError:
        raise ValueError(f"metric {metric!r} has no declared direction; declared: {sorted(DIRECTIONS)} "
                         "(add it to deft.eval.metrics.DIRECTIONS)") from None


def sign(metric: str) -> int:
    """+1 where higher is better, -1 where lower is: ``sign * (a - b) > 0`` means a is better."""
    return 1 if direction(metric) == "higher" else -1
