"""Paper-scale grading: math answers in \\boxed{} checked with math-verify and averaged over k
samples (avg@k), and the medical choice letter.

* math: the gold answer (MATH-500 ``answer``, AIME/AMC ``answer``, OlympiadBench ``final_answer``
  list, Minerva-Math the last \\boxed{} of ``solution``) and each sample are parsed by
  math-verify; a sample is correct when ``verify(gold, sample)``. avg@k is the mean over all k
  samples (not the first), then the paper averages the five sets unweighted.
* medical: ``medical_choice`` finds the chosen option of a free-form response (the boxed form,
  "answer is X", a standalone letter, then the option's text; see its docstring), compared with
  gold; ``medical_doc`` reads a MedQA, MedMCQA, PubMedQA or MMLU document into (question, options,
  gold).
"""
from __future__ import annotations

import re

from ..data.answers import last_boxed, medical_letter  # noqa: F401 (part of this module's API)


def gold_answer(doc: dict) -> str:
    """The gold answer of a math document from any of the five sets."""
    if doc.get("final_answer"):
        fa = doc["final_answer"]
        return fa[0] if isinstance(fa, list) else str(fa)
    if doc.get("answer") not in (None, ""):
        return str(doc["answer"])
    boxed = last_boxed(doc.get("solution", ""))
    if boxed is None:
        raise ValueError("math document has no answer, final_answer or \\boxed{} solution")
    return boxed


def math_correct(gold: str, response: str) -> bool:
    from math_verify import parse, verify

    g = parse(f"${gold}$")
    boxed = last_boxed(response)
    a = parse(f"${boxed}$") if boxed is not None else parse(response)
    return bool(g) and bool(a) and bool(verify(g, a))


def avg_at_k(flags) -> float:
    """Mean correctness over all k samples of one problem."""
    flags = list(flags)
    if not flags:
        raise ValueError("avg@k needs at least one sample")
    return sum(map(float, flags)) / len(flags)


LETTERS = "ABCDEFGHIJ"
PUBMEDQA_OPTIONS = ["yes", "no", "maybe"]


def medical_doc(doc: dict) -> tuple[str, list[str], str]:
    """(question, options, gold letter) of a document of any of the medical sources, by its fields:
    MedQA (``question``/``options`` dict/``answer_idx``, or the -hf ``sent1``/``ending0..3``/``label``),
    the m1 file (``prompt``/``options`` dict/``answer_idx``/``source``),
    MedMCQA (``opa..opd``, ``cop`` 0-based), PubMedQA (``final_decision`` yes/no/maybe with its
    abstract as context) and MMLU (``choices``, ``answer`` 0-based)."""
    if "final_decision" in doc:  # PubMedQA: qiaojin/PubMedQA (lower case) or bigbio (upper case)
        ctx = doc.get("context")
        contexts = ctx.get("contexts") if isinstance(ctx, dict) else doc.get("CONTEXTS")
        question = doc.get("question") or doc.get("QUESTION")
        text = ("Context: " + " ".join(contexts) + "\n" if contexts else "") + f"Question: {question}"
        return text, PUBMEDQA_OPTIONS, LETTERS[PUBMEDQA_OPTIONS.index(doc["final_decision"].strip().lower())]
    if "opa" in doc:
        return doc["question"], [doc[k] for k in ("opa", "opb", "opc", "opd")], LETTERS[int(doc["cop"])]
    if "ending0" in doc:
        options = [doc[f"ending{i}"] for i in range(4)]
        return doc["sent1"], options, LETTERS[int(doc["label"])]
    if isinstance(doc.get("options"), dict):  # MedQA, or the authors' m1 file (``prompt``: question and options)
        # options read through `datasets` share one schema: a 4-option item has E = None
        keys = sorted(k for k, v in doc["options"].items() if v is not None)
        question = doc.get("question") or doc.get("prompt")
        return question, [doc["options"][k] for k in keys], LETTERS[keys.index(doc["answer_idx"].strip())]
    if "choices" in doc:
        return doc["question"], list(doc["choices"]), LETTERS[int(doc["answer"])]
    raise ValueError(f"not a medical multiple-choice document: fields {sorted(doc)}; expected those of MedQA, "
                     "MedMCQA, PubMedQA or MMLU")


def _letters(n_options: int) -> str:
    return LETTERS[:n_options] if n_options else LETTERS


def _option_by_text(text: str, options: list[str]) -> str:
    """The letter of the option whose text occurs last in ``text`` (case-insensitive); the longest
    option wins a tie, so "no" inside "not known" does not shadow a longer option text."""
    low, best = text.lower(), (-1, 0, "")
    for i, option in enumerate(options):
        o = option.strip().lower()
        if not o:
            continue
        for m in re.finditer(r"(?<!\w)" + re.escape(o) + r"(?!\w)", low):
            best = max(best, (m.start(), len(o), LETTERS[i]))
    return best[2]


def medical_choice(response: str, options: list[str] | None = None) -> str:
    """The letter of the option a free-form response chooses, or "" when it names none. In order,
    the first rule that finds something decides (within a rule the last mention wins, as the
    authors' ``match_choice`` reads it):

    1. the last ``\\boxed{}``: a letter in it (``C``, ``(C)``, ``Option C``, ``C. text``,
       ``\\text{C}``), else an option's text in it (``\\boxed{Diabetes}``);
    2. "answer is X" / "answer: X" (also "choice", "option");
    3. a standalone letter of the options (not the article "A" before a word);
    4. the option whose text occurs last.

    ``options``: the option texts in letter order (limits the letters to A..; enables rules 1 and 4
    by text). The authors' last resort, the most similar option by string similarity, always
    names an option even for an empty response; it is left out: no answer scores 0."""
    options = list(options or [])
    valid = _letters(len(options))
    boxed = last_boxed(response)
    if boxed is not None:
        inner = re.sub(r"\\(?:text|textbf|mathrm|mathbf)\s*\{([^{}]*)\}", r"\1", boxed).strip()
        m = (re.fullmatch(r"\(?([A-J])\)?\.?", inner)                                   # C, (C), C.
             or re.match(r"(?:option|choice|answer)\s*:?\s*\(?([A-J])\)?(?![A-Za-z])", inner, re.I)  # Option C
             or re.match(r"\(?([A-J])\)?\s*[.:)]\s", inner))                              # C. text, (C) text
        if m and m.group(1).upper() in valid:
            return m.group(1).upper()
        by_text = _option_by_text(inner, options)
        if by_text:
            return by_text
    stated = re.findall(rf"\b(?:answer|choice|option)\s*(?:is|:)\s*:?\s*\**\(?([{valid}])\)?(?![A-Za-z])",
                        response, re.IGNORECASE)
    if stated:
        return stated[-1].upper()
    alone = [m.group(1) for m in re.finditer(rf"(?<![A-Za-z0-9\\])([{valid}])(?![A-Za-z0-9])", response)
             if not (m.group(1) == "A" and re.match(r"\s+[a-z]", response[m.end():]))]  # "A patient ..."
    if alone:
        return alone[-1]
    return _option_by_text(response, options)
