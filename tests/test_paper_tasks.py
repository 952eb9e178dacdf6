"""The paper's math tasks load in lm-eval (from local JSON here) and score avg@16 over all samples."""
import json

import pytest

from deft.tasks import TASKS_DIR


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
