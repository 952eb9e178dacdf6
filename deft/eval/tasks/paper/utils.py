"""lm-eval hooks of the paper-scale tasks; grading lives in deft.eval.scoring_paper, once.

Prompts: ``*_prompt`` is the chat-template variant (the text and the authors' instruction as one
user turn); ``<kind>_prompt__<wrapper>`` puts the same text inside one of the authors' fixed family
wrappers (deft.data.wrappers, which add the instruction), the variant deft.eval.evaluate selects
for a cell from ``deft.config.evaluate_settings``.
"""
from deft.data.wrappers import WRAPPERS, wrap
from deft.eval.scoring_paper import LETTERS, avg_at_k, gold_answer, math_correct, medical_choice, medical_doc

# The authors' instruction for math and medical alike (evaluations/math/utils.py, medical/main.py).
INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


def math_text(doc):
    return doc.get("problem") or doc.get("question")


def math_prompt(doc):
    return f"{math_text(doc)}\n{INSTRUCTION}"


def math_gold(doc):
    return gold_answer(doc)


def math_process_results(doc, results):
    samples = results[0] if results and isinstance(results[0], list) else results
    gold = gold_answer(doc)
    return {"avg_at_k": avg_at_k(math_correct(gold, s) for s in samples)}


def medical_text(doc):
    """The question and its lettered options; the m1 file's ``prompt`` already holds both."""
    if "prompt" in doc and isinstance(doc.get("options"), dict):
        return doc["prompt"]
    question, options, _ = medical_doc(doc)
    lines = "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options))
    return f"{question}\n\n{lines}"


def medical_prompt(doc):
    return f"{medical_text(doc)}\n{INSTRUCTION}"


def medical_gold(doc):
    return medical_doc(doc)[2]


def medical_process_results(doc, results):
    _, options, gold = medical_doc(doc)
    return {"acc": float(medical_choice(results[0], options) == gold)}


def m1_process_results(doc, results):
    """The m1 file: ``acc`` averaged per source then over sources (the authors' ``average``),
    ``acc_items`` over items."""
    _, options, gold = medical_doc(doc)
    correct = float(medical_choice(results[0], options) == gold)
    return {"acc": (str(doc.get("source", "all")), correct), "acc_items": correct}


def mean_over_sources(items):
    """Unweighted mean over sources of each source's accuracy; ``items``: (source, correct) pairs."""
    by_source: dict = {}
    for source, correct in items:
        by_source.setdefault(source, []).append(correct)
    return sum(sum(v) / len(v) for v in by_source.values()) / len(by_source) if by_source else float("nan")


MMLU_MEDICAL = ("anatomy", "clinical_knowledge", "college_biology", "college_medicine", "medical_genetics",
                "professional_medicine")


def mmlu_medical_docs(dataset):
    return dataset.filter(lambda doc: doc["subject"] in MMLU_MEDICAL)


def wrapped_name(kind: str, wrapper: str) -> str:
    """The name of the hook that puts a ``kind`` (math, medical) text inside ``wrapper``."""
    return f"{kind}_prompt__{wrapper.replace('-', '_')}"


def _wrapped(text, wrapper):
    return lambda doc: wrap(wrapper, text(doc))


for _wrapper in WRAPPERS:  # e.g. math_prompt__qwen_boxed, medical_prompt__medical_llama
    globals()[wrapped_name("math", _wrapper)] = _wrapped(math_text, _wrapper)
    globals()[wrapped_name("medical", _wrapper)] = _wrapped(medical_text, _wrapper)
