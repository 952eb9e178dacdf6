"""Answer extraction and scoring, shared by the lm-eval tasks and the prior's stopping check.

* arithmetic: the last integer in the response (lenient, like lm-eval's flexible-extract); exact match against the gold integer.
* figfont: the first line of the response, stripped; exact match (case-insensitive) and
  Jaro-Winkler similarity x 100 (prefix weight 0.1, max prefix 4, lower-cased, stripped), as the
  paper reports.
"""
from __future__ import annotations

import re

from rapidfuzz.distance import JaroWinkler

_INT = re.compile(r"-?\d+")


def extract_last_integer(response: str) -> str:
    found = _INT.findall(response.replace(",", ""))
    return str(int(found[-1])) if found else ""


def extract_first_line(response: str) -> str:
    stripped = response.strip()
    return stripped.splitlines()[0].strip() if stripped else ""


def jaro_winkler_100(response: str, gold: str) -> float:
    return 100.0 * JaroWinkler.similarity(response.strip().lower(), gold.strip().lower(), prefix_weight=0.1)


def score(domain: str, response: str, gold: str) -> dict[str, float]:
    """Metrics of one response; the keys are the metric names used in records and tables. A
    ``<kind>-<variant>`` domain is scored as its kind."""
    from ..data.domains import kind_of

    domain = kind_of(domain)
    if domain == "arithmetic":
        return {"exact_match": float(extract_last_integer(response) == extract_last_integer(gold))}
    if domain == "figfont":
        line = extract_first_line(response)
        return {"exact_match": float(line.lower() == gold.strip().lower()),
                "jaro_winkler": jaro_winkler_100(line, gold)}
    raise ValueError(f"no scorer for domain {domain!r}; allowed: ['arithmetic', 'figfont']")
