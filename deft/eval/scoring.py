"""Answer extraction and scoring, shared by the lm-eval tasks and the prior's stopping check.

* arithmetic: strict, as trained: the whole response (stripped) must be the gold integer. A
  response with words around a number ("To calculate 0 + 7,", "The answer is 16") scores 0: the
  lenient last-integer extraction rewarded echoed operands of answers cut by the token budget.
* figfont: the first line of the response, stripped; exact match (case-insensitive) and
  Jaro-Winkler similarity x 100 (prefix weight 0.1, max prefix 4, lower-cased, stripped), as the
  paper reports.
"""
from __future__ import annotations

import re

from rapidfuzz.distance import JaroWinkler

_INT = re.compile(r"-?\d+")


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
        answer = response.strip()
        return {"exact_match": float(bool(_INT.fullmatch(answer)) and int(answer) == int(gold))}
    if domain == "figfont":
        line = extract_first_line(response)
        return {"exact_match": float(line.lower() == gold.strip().lower()),
                "jaro_winkler": jaro_winkler_100(line, gold)}
    raise ValueError(f"no scorer for domain {domain!r}; allowed: ['arithmetic', 'figfont']")
