"""Embedded domains, generated offline with reasoning_gym; each knows how to make a wrong answer.

* ``arithmetic`` - reasoning_gym ``basic_arithmetic`` (defaults: 2 terms, 1-2 digits, + and -).
  Model-intermediate from the raw backbone, model-strong from the prior backbone.
* ``figfont``   - reasoning_gym ``figlet_font`` (defaults: 3-5 letter words in a few compact
  fonts, so prompts stay under ~100 tokens). Model-weak: a 135M model cannot read the art.

An example is ``{"id", "domain", "question", "answer", "prompt"}``; ``prompt`` is the user turn
(question + answer-format instruction) that training and evaluation both feed to the chat template.
"""
from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from typing import Callable

INSTRUCTION = {
    "arithmetic": "Answer with only the final answer.",
    "figfont": "Answer with only the word, in capital letters.",
}


def _arithmetic(n: int, seed: int, params: dict) -> list[dict]:
    import reasoning_gym

    cfg = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 2, "operators": ["+", "-"],
           "allow_parentheses": False, "allow_negation": False, **params}
    cfg["operators"] = tuple(cfg["operators"])
    ds = reasoning_gym.create_dataset("basic_arithmetic", size=n, seed=seed, **cfg)
    return [{"question": e["question"], "answer": str(e["answer"]).strip()} for e in ds]


def _figfont(n: int, seed: int, params: dict) -> list[dict]:
    import reasoning_gym

    params = {"fonts": ["mini", "short", "italic", "straight", "cybermedium"], "min_word_len": 3,
              "max_word_len": 5, **params}
    fonts = params.pop("fonts")
    per_font = -(-n // len(fonts))
    rows = []
    for i, font in enumerate(fonts):
        ds = reasoning_gym.create_dataset("figlet_font", size=per_font, seed=seed * 1000 + i,
                                          static_font=font, **params)
        rows.append([{"question": e["question"], "answer": e["answer"].strip().upper()} for e in ds])
    interleaved = [r for group in zip(*rows) for r in group]  # fonts alternate in every prefix
    return interleaved[:n]


def _corrupt_arithmetic(answer: str, rng: random.Random, pool: list[str]) -> str:
    """Off by a non-zero offset of magnitude 1-10: a plausible slip, never the right number."""
    offset = rng.choice([d for d in range(-10, 11) if d != 0])
    return str(int(answer) + offset)


def _corrupt_figfont(answer: str, rng: random.Random, pool: list[str]) -> str:
    """Another word of the same length from the training pool (random letters if there is none)."""
    same = sorted({w for w in pool if len(w) == len(answer) and w != answer})
    if same:
        return rng.choice(same)
    while True:
        word = "".join(rng.choice(string.ascii_uppercase) for _ in answer)
        if word != answer:
            return word


@dataclass(frozen=True)
class Domain:
    name: str
    generate: Callable[[int, int, dict], list[dict]]
    corrupt: Callable[[str, random.Random, list[str]], str]
    params: frozenset = frozenset()  # generator settings a config may set
    # Two examples that share this key may not sit in different splits.
    overlap_key: Callable[[dict], str] = field(default=lambda e: e["question"])
    offline: bool = True  # generated here; False: training data only by dataset id (paper scale)


def _replace_last_boxed(response: str, new: str) -> str:
    from .answers import last_boxed

    old = last_boxed(response)
    if old is None:
        raise ValueError("cannot corrupt a response without a final \\boxed{} answer")
    i = response.rfind("\\boxed{" + old + "}")
    return response[:i] + "\\boxed{" + new + "}" + response[i + len(old) + 8:]


def _corrupt_math(response: str, rng: random.Random, pool: list[str]) -> str:
    """The final \\boxed{} answer off by a non-zero offset (integers) or another problem's answer."""
    from .answers import last_boxed

    old = last_boxed(response)
    if old is not None and old.strip().lstrip("-").isdigit():
        return _replace_last_boxed(response, _corrupt_arithmetic(old.strip(), rng, pool))
    others = sorted({b for b in map(last_boxed, pool) if b is not None and b != old})
    return _replace_last_boxed(response, rng.choice(others))


def _corrupt_medical(response: str, rng: random.Random, pool: list[str]) -> str:
    """The final \\boxed{} choice letter replaced by another of A-D."""
    from .answers import medical_letter

    old = medical_letter(response)
    return _replace_last_boxed(response, rng.choice([c for c in "ABCD" if c != old]))


def _hub_only(name):
    def generate(n, seed, params):
        raise ValueError(f"domain {name!r} has no offline generator; give data.domains.{name}.hub "
                         "(a public dataset id and its fields)")

    return generate


DOMAINS = {
    "arithmetic": Domain("arithmetic", _arithmetic, _corrupt_arithmetic, frozenset(
        ["min_terms", "max_terms", "min_digits", "max_digits", "operators", "allow_parentheses", "allow_negation"])),
    # the same word in another font is still the same answer: keep words disjoint across splits
    "figfont": Domain("figfont", _figfont, _corrupt_figfont, frozenset(["fonts", "min_word_len", "max_word_len"]),
                      overlap_key=lambda e: e["answer"]),
    # Paper scale: training data by dataset id (deft.data.hub); evaluated by their lm-eval tasks.
    "math": Domain("math", _hub_only("math"), _corrupt_math, offline=False),
    "medical": Domain("medical", _hub_only("medical"), _corrupt_medical, offline=False),
}


def kind_of(name: str) -> str:
    """The domain kind of a configured domain name: the name itself, or ``<kind>-<variant>``
    (e.g. ``medical-llama``: the medical data with the fields written for Llama models;
    ``arithmetic-mult``: the arithmetic generator with its own settings)."""
    kind = name.split("-", 1)[0]
    if kind not in DOMAINS:
        raise ValueError(f"domain {name!r} is not allowed; allowed: one of {sorted(DOMAINS)}, optionally "
                         "followed by -<variant> (e.g. medical-llama)")
    return kind


def user_prompt(domain: str, question: str) -> str:
    return f"{question.rstrip()}\n{INSTRUCTION[kind_of(domain)]}"
