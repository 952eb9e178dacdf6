"""lm-eval hooks of the paper-scale tasks; grading lives in deft.scoring_paper, once."""
from deft.scoring_paper import avg_at_k, gold_answer, math_correct

MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


def math_prompt(doc):
    return f"{doc.get('problem') or doc.get('question')}\n{MATH_INSTRUCTION}"


def math_gold(doc):
    return gold_answer(doc)


def math_process_results(doc, results):
    samples = results[0] if results and isinstance(results[0], list) else results
    gold = gold_answer(doc)
    return {"avg_at_k": avg_at_k(math_correct(gold, s) for s in samples)}
