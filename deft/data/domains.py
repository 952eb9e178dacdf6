"""Embedded domains, generated offline with reasoning_gym; each knows how to make a wrong answer.

* ``arithmetic`` - reasoning_gym ``basic_arithmetic`` (defaults: 2 terms, 1-2 digits, + and -).
  Model-intermediate from the raw backbone, model-strong from the prior backbone.
* ``figfont``   - reasoning_gym ``figlet_font`` (defaults: 3-5 letter words in a few compact
  fonts, so prompts stay under ~100 tokens). Model-weak: a 135M model cannot read the art.

An example is ``{"id", "domain", "question", "answer", "prompt", "difficulty"}`` in one of two
prompt formats, which training and evaluation share (``data.prompt_format``):

* ``chat``: ``prompt`` is the user turn (question + answer-format instruction) fed to the model's
  chat template; the response is the answer and the end-of-turn token.
* ``raw``: a compact completion, no template, no system prompt: ``prompt`` is ``"47 + 38 ="``
  (arithmetic) or the art and ``"Answer:"`` (figfont), the trained response ``target`` is
  ``" 85"`` and end-of-sequence. The rows carry ``"format": "raw"``.
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
    return [{"question": e["question"], "answer": str(e["answer"]).strip(),
             "meta": {"expression": e["metadata"]["expression"], "digits": e["metadata"]["num_digits"]}} for e in ds]


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
        rows.append([{"question": e["question"], "answer": e["answer"].strip().upper(), "meta": {"font": font}}
                     for e in ds])
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


def _arithmetic_key(e: dict) -> str:
    """One key for a problem and its commuted twins: the operands of a chain of one commutative
    operator (+ or *) sorted, any other expression as written."""
    parts = e["meta"]["expression"].split()
    terms, ops = parts[::2], set(parts[1::2])
    if len(ops) == 1 and ops <= {"+", "*"}:
        return f" {ops.pop()} ".join(sorted(terms, key=int))
    return " ".join(parts)


def _arithmetic_difficulty(e: dict) -> str:
    ops = "".join(sorted(set(e["meta"]["expression"].split()[1::2])))
    return f"{e['meta']['digits']}-digit {ops}"


def _figfont_difficulty(e: dict) -> str:
    return f"{len(e['answer'])} letters, {e['meta']['font']}"


def _arithmetic_raw(e: dict) -> tuple[str, str]:
    return f"{e['meta']['expression']} =", f" {e['answer']}"


def _figfont_raw(e: dict) -> tuple[str, str]:
    return f"{e['question'].rstrip()}\nAnswer:", f" {e['answer']}"


@dataclass(frozen=True)
class Domain:
    name: str
    generate: Callable[[int, int, dict], list[dict]]
    corrupt: Callable[[str, random.Random, list[str]], str]
    params: frozenset = frozenset()  # generator settings a config may set
    # One problem, however written: the pool keeps one example per key, so no key is in two splits.
    canonical_key: Callable[[dict], str] = field(default=lambda e: e["question"])
    difficulty: Callable[[dict], str] = field(default=lambda e: "all")  # the generator's classes
    raw: Callable[[dict], tuple[str, str]] | None = None  # (prompt, target) of the compact format
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
    """The choice letter in the final \\boxed{} replaced, in place (``Option C`` -> ``Option A``), by
    another of A-D: the noisy label always names another option, in the clean label's format."""
    from .answers import boxed_letter_span, last_boxed

    old = last_boxed(response)
    span = boxed_letter_span(old) if old is not None else None
    if span is None:
        raise ValueError(f"cannot corrupt a medical response whose final \\boxed{{}} states no choice letter "
                         f"(C, (C), Option C, C. text): {response[-120:]!r}")
    letter = old[span[0]:span[1]].upper()
    new = rng.choice([c for c in "ABCD" if c != letter])
    return _replace_last_boxed(response, old[:span[0]] + new + old[span[1]:])


def _hub_only(name):
    def generate(n, seed, params):
        raise ValueError(f"domain {name!r} has no offline generator; give data.domains.{name}.hub "
                         "(a public dataset id and its fields)")

    return generate


DOMAINS = {
    "arithmetic": Domain("arithmetic", _arithmetic, _corrupt_arithmetic, frozenset(
        ["min_terms", "max_terms", "min_digits", "max_digits", "operators", "allow_parentheses", "allow_negation"]),
        canonical_key=_arithmetic_key, difficulty=_arithmetic_difficulty, raw=_arithmetic_raw),
    # the same word in another font is still the same answer: keep words disjoint across splits
    "figfont": Domain("figfont", _figfont, _corrupt_figfont, frozenset(["fonts", "min_word_len", "max_word_len"]),
                      canonical_key=lambda e: e["answer"], difficulty=_figfont_difficulty, raw=_figfont_raw),
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


PROMPT_FORMATS = ("chat", "raw")


def user_prompt(domain: str, question: str) -> str:
    return f"{question.rstrip()}\n{INSTRUCTION[kind_of(domain)]}"


def format_example(domain: str, e: dict, prompt_format: str = "chat") -> dict:
    """The stored fields of a generated example in ``prompt_format`` (see the module docstring)."""
    row = {"question": e["question"], "answer": e["answer"]}
    if prompt_format == "chat":
        return {**row, "prompt": user_prompt(domain, e["question"])}
    raw = DOMAINS[kind_of(domain)].raw
    if prompt_format != "raw" or raw is None:
        raise ValueError(f"prompt_format {prompt_format!r} is not allowed for domain {domain!r}; allowed: "
                         f"{list(PROMPT_FORMATS) if raw else ['chat']}")
    prompt, target = raw(e)
    return {**row, "prompt": prompt, "target": target, "format": "raw"}
