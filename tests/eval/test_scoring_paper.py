"""Paper-scale grading: math-verify on boxed answers, avg@k, medical letters."""
import json
from pathlib import Path

import pytest

from deft.eval.scoring_paper import (
    avg_at_k,
    gold_answer,
    last_boxed,
    math_correct,
    medical_choice,
    medical_letter,
)

SHARED = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "math"


@pytest.mark.parametrize("text,expected", [
    ("so \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"),
    ("\\boxed{1} then \\boxed{x^{2}+1}", "x^{2}+1"),
    ("no box", None),
    ("\\fbox{7}", "7"),
])
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


@pytest.mark.parametrize("gold,response,ok", [
    ("\\frac{1}{2}", "The answer is \\boxed{0.5}", True),
    ("\\frac{1}{2}", "\\boxed{\\dfrac12}", True),
    ("3", "We get \\boxed{3}.", True),
    ("(3,\\frac{\\pi}{2})", "\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", True),
    ("3", "\\boxed{4}", False),
    ("\\frac{1}{2}", "\\boxed{2}", False),
    ("10", "I am not sure.", False),
])
def test_math_grading(gold, response, ok):
    assert math_correct(gold, response) is ok


def test_gold_answer_from_every_set_layout():
    assert gold_answer({"answer": "5"}) == "5"
    assert gold_answer({"final_answer": ["$x=2$"]}) == "$x=2$"
    assert gold_answer({"solution": "so \\boxed{42}."}) == "42"
    with pytest.raises(ValueError):
        gold_answer({"solution": "none"})


def test_avg_at_k_uses_all_samples():
    assert avg_at_k([True] + [False] * 15) == 1 / 16
    assert avg_at_k([1, 1, 0, 1]) == 0.75


@pytest.mark.parametrize("response,letter", [
    ("... therefore \\boxed{C}", "C"), ("The answer is (B).", "B"), ("\\boxed{\\text{D}}", "D"), ("unsure", "")])
def test_medical_letter(response, letter):
    assert medical_letter(response) == letter


OPTIONS = ["Diabetes mellitus", "Hypertension", "Asthma", "Gout"]


@pytest.mark.parametrize("response,choice", [
    ("... therefore \\boxed{C}", "C"),
    ("\\boxed{Option C}", "C"),                      # read as I by a first-letter rule
    ("\\boxed{(B)}", "B"),
    ("\\boxed{\\text{D}}", "D"),
    ("\\boxed{B. Hypertension}", "B"),
    ("\\boxed{Diabetes mellitus}", "A"),             # option text in the box (read as D by a letter rule)
    ("\\boxed{gout}", "D"),
    ("\\boxed{1} ... \\boxed{C}", "C"),             # the last box
    ("The answer is (D).", "D"),
    ("Answer: B", "B"),
    ("the answer is **C**", "C"),
    ("First I thought the answer is A, but the answer is B.", "B"),   # the last statement wins
    ("I think C is right.", "C"),                    # a standalone letter
    ("Between A and C, C fits best.", "C"),
    ("A patient with these signs has asthma.", "C"),  # article "A" is no letter; the option text decides
    ("The findings point to hypertension.", "B"),
    ("Hypertension, not diabetes mellitus, explains it... so: gout", "D"),   # the last option text
    ("\\boxed{Cardiac}", ""),                         # neither a letter nor an option
    ("unsure", ""),
    ("", ""),
    ("Option E is tempting but the answer is A", "A"),
])
def test_medical_choice_reads_every_response_shape(response, choice):
    assert medical_choice(response, OPTIONS) == choice


def test_medical_choice_only_reads_letters_of_the_options():
    assert medical_choice("The answer is E.", OPTIONS) == ""      # four options: A-D
    assert medical_choice("The answer is E.", OPTIONS + ["Lupus"]) == "E"
    assert medical_choice("\\boxed{C}") == "C"                    # no options given: A-J


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared math sets are not beside this checkout")
@pytest.mark.parametrize("name", ["aime24", "amc23", "math500", "minerva_math", "olympiadbench"])
def test_gold_answers_of_the_shared_sets_grade_correct_against_themselves(name):
    docs = [json.loads(x) for x in (SHARED / f"{name}.jsonl").read_text().splitlines()[:40]]
    scores = [math_correct(gold_answer(d), f"\\boxed{{{gold_answer(d)}}}") for d in docs]
    assert sum(scores) / len(scores) >= 0.95, name
    wrong = [math_correct(gold_answer(d), "\\boxed{123456789}") for d in docs]
    assert sum(wrong) == 0


@pytest.mark.parametrize("doc, expected", [
    ({"question": "Q", "options": {"A": "a", "B": "b", "C": "c", "D": "d"}, "answer_idx": "C"}, ("Q", list("abcd"), "C")),
    ({"sent1": "Q", "ending0": "a", "ending1": "b", "ending2": "c", "ending3": "d", "label": 3}, ("Q", list("abcd"), "D")),
    ({"question": "Q", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 1}, ("Q", list("abcd"), "B")),
    ({"question": "Q", "choices": ["a", "b"], "answer": 0}, ("Q", ["a", "b"], "A")),
    ({"question": "Q", "context": {"contexts": ["x", "y"]}, "final_decision": "maybe"},
     ("Context: x y\nQuestion: Q", ["yes", "no", "maybe"], "C")),
    ({"QUESTION": "Q", "CONTEXTS": ["x"], "final_decision": "no"}, ("Context: x\nQuestion: Q", ["yes", "no", "maybe"], "B")),
])
def test_medical_documents_of_every_source(doc, expected):
    from deft.eval.scoring_paper import medical_doc

    assert medical_doc(doc) == expected


def test_an_unknown_medical_document_names_its_fields():
    from deft.eval.scoring_paper import medical_doc

    with pytest.raises(ValueError, match=r"fields \['prompt'\]"):
        medical_doc({"prompt": "x"})
