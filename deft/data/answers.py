"""Where a response states its final answer: the last \\boxed{} (math) and the choice letter
(medical). Label noise rewrites these; deft.eval.scoring_paper grades them."""
from __future__ import annotations

import re

_LETTER = re.compile(r"\b(?:answer|option|choice)\s*(?:is|:)?\s*\(?([A-J])\)?\b", re.IGNORECASE)


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}), braces balanced; None if there is none."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        return None
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1: j]
    return None


def medical_letter(response: str) -> str:
    boxed = last_boxed(response)
    if boxed is not None:
        m = re.search(r"[A-J]", re.sub(r"\\[a-zA-Z]+", "", boxed).upper())  # drop \text and friends
        return m.group() if m else ""
    found = _LETTER.findall(response)
    return found[-1].upper() if found else ""
