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


# Where the choice letter stands inside a \boxed{}: C, (C), C., \text{C}, Option C, C. text (the
# boxed rule of deft.eval.scoring_paper.medical_choice), so that noise can rewrite just that letter.
_WRAP = r"^\s*(?:\\(?:text|textbf|mathrm|mathbf)\s*\{)?\s*"
_BOXED_LETTER = (re.compile(_WRAP + r"\(?([A-J])\)?\.?\s*\}?\s*$"),
                 re.compile(_WRAP + r"(?:option|choice|answer)\s*:?\s*\(?([A-J])\)?(?![A-Za-z])", re.IGNORECASE),
                 re.compile(_WRAP + r"\(?([A-J])\)?\s*[.:)]\s"))


def boxed_letter_span(boxed: str) -> tuple[int, int] | None:
    """(start, end) of the choice letter in the content of a \boxed{}, or None if it states none
    (``Option C`` is C, never the I of OPTION)."""
    for pattern in _BOXED_LETTER:
        m = pattern.search(boxed)
        if m:
            return m.span(1)
    return None


def medical_letter(response: str) -> str:
    """The choice letter of a response: the one in its last \boxed{}, else "answer is X"; "" if none."""
    boxed = last_boxed(response)
    if boxed is not None:
        span = boxed_letter_span(boxed)
        return boxed[span[0]:span[1]].upper() if span else ""
    found = _LETTER.findall(response)
    return found[-1].upper() if found else ""
