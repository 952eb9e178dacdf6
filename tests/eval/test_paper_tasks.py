"""The paper's math tasks load in lm-eval (from local JSON here) and score avg@16 over all samples."""
import json

import pytest

from deft.eval.tasks import TASKS_DIR


@pytest.fixture()
def math500_task(tmp_path):
    from lm_eval.tasks import TaskManager, get_task_dict

    data = tmp_path / "math500.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in [
        {"problem": "What is 1/2 + 1/4?", "answer": "\\frac{3}{4}"},
        {"problem": "What is 2 + 2?", "answer": "4"}]))
    inc = tmp_path / "tasks"
    inc.mkdir()
    (inc / "deft_math500.yaml").write_text(
        f"include: {TASKS_DIR / 'paper' / 'deft_math500.yaml'}\ntask: deft_math500\ndataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {json.dumps(str(data))}\n")
    tm = TaskManager(include_path=str(inc), include_defaults=False)
    return get_task_dict(["deft_math500"], tm)["deft_math500"]


def test_math_task_protocol_and_avg_at_16(math500_task):
    task = math500_task
    cfg = task.config
    assert cfg.repeats == 16 and cfg.generation_kwargs["temperature"] == 1.0
    assert cfg.generation_kwargs["top_p"] == 1.0 and cfg.generation_kwargs["max_gen_toks"] == 4096
    doc = task.test_docs()[0]
    assert task.doc_to_text(doc).endswith("put your final answer within \\boxed{}.")
    samples = ["\\boxed{0.75}"] * 4 + ["\\boxed{1}"] * 12
    assert task.process_results(doc, [samples]) == {"avg_at_k": 0.25}


MEDICAL_DOCS = {  # task -> (split, docs); a model that always answers A is right where the gold is A
    "deft_medqa": ("test", [{"sent1": "Q1?", "ending0": "a", "ending1": "b", "ending2": "c", "ending3": "d", "label": 0},
                            {"sent1": "Q2?", "ending0": "a", "ending1": "b", "ending2": "c", "ending3": "d", "label": 1}]),
    "deft_medmcqa": ("validation", [{"question": "Q?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 0}]),
    "deft_pubmedqa": ("train", [{"question": "Q?", "context": {"contexts": ["abs"]}, "final_decision": d}
                                for d in ("yes", "no")]),
    "deft_mmlu_medical": ("test", [{"question": "Q?", "subject": s, "choices": list("abcd"), "answer": a}
                                   for s, a in [("anatomy", 0), ("anatomy", 0), ("anatomy", 1), ("virology", 0),
                                                ("clinical_knowledge", 1), ("college_biology", 1),
                                                ("college_medicine", 1), ("medical_genetics", 1),
                                                ("professional_medicine", 1)]]),
}


def test_medical_group_averages_sources_unweighted_and_mmlu_subjects_pooled(tmp_path):
    """The whole deft_medical group through lm-eval (local copies of each source, a model that always
    answers \\boxed{A}): MedQA 1/2, MedMCQA 1, PubMedQA 1/2, MMLU medical 2/8 (subjects pooled; virology
    is not a medical subject) -> mean 0.5625."""
    import shutil

    import lm_eval
    from lm_eval.api.model import LM
    from lm_eval.tasks import TaskManager

    class AlwaysA(LM):
        prompts = []

        def generate_until(self, requests):
            self.prompts += [r.args[0] for r in requests]
            return ["Reasoning... so the answer is \\boxed{A}."] * len(requests)

        def loglikelihood(self, requests):
            raise NotImplementedError

        def loglikelihood_rolling(self, requests):
            raise NotImplementedError

    inc = tmp_path / "tasks"
    inc.mkdir()
    shutil.copy(TASKS_DIR / "paper" / "deft_medical.yaml", inc)
    for task, (split, docs) in MEDICAL_DOCS.items():
        data = tmp_path / f"{task}.jsonl"
        data.write_text("".join(json.dumps(d) + "\n" for d in docs))
        (inc / f"{task}.yaml").write_text(
            f"include: {TASKS_DIR / 'paper' / (task + '.yaml')}\ntask: {task}\ndataset_path: json\ndataset_name: null\n"
            f"dataset_kwargs:\n  data_files:\n    {split}: {json.dumps(str(data))}\n")
    model = AlwaysA()
    out = lm_eval.simple_evaluate(model=model, tasks=["deft_medical"],
                                  task_manager=TaskManager(include_path=str(inc), include_defaults=False))
    res = out["results"]
    assert res["deft_medqa"]["acc,none"] == 0.5 and res["deft_medmcqa"]["acc,none"] == 1.0
    assert res["deft_pubmedqa"]["acc,none"] == 0.5
    assert res["deft_mmlu_medical"]["acc,none"] == pytest.approx(2 / 8)
    assert len(out["samples"]["deft_mmlu_medical"]) == 8
    assert res["deft_medical"]["acc,none"] == pytest.approx((0.5 + 1 + 0.5 + 0.25) / 4)
    pubmed = [p for p in model.prompts if "Context: abs" in p][0]
    assert "A. yes\nB. no\nC. maybe" in pubmed and pubmed.endswith("final answer within \\boxed{}.")  # the authors' instruction
