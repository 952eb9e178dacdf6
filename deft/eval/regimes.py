"""Capability regimes are measured, not asserted: a regime label holds only if the base model's
exact match in the trained format falls in the label's band (config ``regime_checks``).

Defaults (issue #11): weak <= 0.05; intermediate in [0.2, 0.6]; strong >= 0.8 on the study's test
set and, for a built prior, on its held-out prior_dev split. A label outside ``BANDS`` (or without
a band in the config) is not checked, and the check says so. A failing check is logged, written
into the base record and flagged in the report; it never stops the pipeline, since the numbers
remain measurements - only their label is wrong.
"""
from __future__ import annotations

import logging
import math

BANDS = {"weak": [None, 0.05], "intermediate": [0.2, 0.6], "strong": [0.8, None]}
log = logging.getLogger(__name__)


def _inside(value: float, band) -> bool:
    lo, hi = band
    return not math.isnan(value) and (lo is None or value >= lo) and (hi is None or value <= hi)


def check(label: str | None, measured: dict[str, float], bands: dict | None = None) -> dict:
    """``measured``: {"test": exact match of the base on the test split, optionally "prior_dev"}.
    Returns {"label", "band", "measured", "holds"} (holds None: no band for this label)."""
    bands = {**BANDS, **(bands or {})}
    band = bands.get(label)
    out = {"label": label, "band": band, "measured": measured,
           "holds": None if band is None else all(_inside(v, band) for v in measured.values())}
    if out["holds"] is False:
        log.warning("regime label %r does not hold: base exact match %s outside [%s, %s]", label,
                    ", ".join(f"{k} {v:.3f}" for k, v in measured.items()), *band)
    return out
