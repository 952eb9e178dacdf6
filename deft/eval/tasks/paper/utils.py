"""lm-eval hooks of the paper-scale tasks; grading lives in deft.eval.scoring_paper, once."""
from deft.eval.scoring_paper import LETTERS, avg_at_k, gold_answer, math_correct, medical_choice, medical_doc

MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


def math_prompt(doc):
    return f"{doc.get('problem') or doc.get('question')}\n{MATH_INSTRUCTION}"


def math_gold(doc):
    return gold_answer(doc)


def math_process_results(doc, results):
    samples = results[0] if results and isinstance(results[0], list) else results
    gold = gold_answer(doc)
    return {"avg_at_k": avg_at_k(math_correct(gold, s) for s in samples)}


MEDICAL_INSTRUCTION = "Please reason step by step, and put the letter of your final choice within \\boxed{}."


def medical_prompt(doc):
    question, options, _ = medical_doc(doc)
    lines = "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options))
    return f"{question}\n\n{lines}\n\n{MEDICAL_INSTRUCTION}"


def medical_gold(doc):
    return medical_doc(doc)[2]


def medical_process_results(doc, results):
    _, options, gold = medical_doc(doc)
    return {"acc": float(medical_choice(results[0], options) == gold)}


MMLU_MEDICAL = ("anatomy", "clinical_knowledge", "college_biology", "college_medicine", "medical_genetics",
                "professional_medicine")


def mmlu_medical_docs(dataset):
    return dataset.filter(lambda doc: doc["subject"] in MMLU_MEDICAL)
