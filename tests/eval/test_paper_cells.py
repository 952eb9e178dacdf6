"""Paper tasks as a cell runs them: the family wrapper, the budget and stops, local data in place
of a hub set, and the m1 file scored per source; through lm-eval's own task loading."""
import json
import random
from pathlib import Path

import pytest

from deft.data.wrappers import wrap
from deft.eval.evaluate import paper_task_dir
from deft.eval.scoring_paper import medical_doc
from deft.eval.tasks.paper import utils

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "paper"
MATH_DATA = {"deft_math500": FIX / "math500.jsonl", "deft_minerva_math": FIX / "minerva_math.jsonl",
             "deft_olympiadbench": FIX / "olympiadbench.jsonl", "deft_aime24": FIX / "aime24.jsonl",
             "deft_amc23": FIX / "amc23.jsonl"}
MED_DATA = {"deft_medical_m1": FIX / "m1_eval_data_processed.json", "deft_medqa": FIX / "medqa.jsonl",
            "deft_medmcqa": FIX / "medmcqa.jsonl", "deft_pubmedqa": FIX / "pubmedqa.jsonl",
            "deft_mmlu_medical": FIX / "mmlu_medical.jsonl"}


def _tasks(where, names, **kw):
    from lm_eval.tasks import TaskManager, get_task_dict

    tm = TaskManager(include_path=str(paper_task_dir(where, **kw)), include_defaults=False)
    out = {}

    def walk(d):
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v)
            else:
                out[getattr(k, "group_name", k) if not isinstance(k, str) else k] = v
    walk(get_task_dict(names, tm))
    return out


def test_math_cell_prompts_budget_stops_and_local_sets(tmp_path):
    stops = ["<|eot_id|>", "<|end_of_text|>"]
    tasks = _tasks(tmp_path, ["deft_math"], wrapper="llama-base-boxed-with-bos",
                   generation={"max_gen_toks": 321, "until": stops}, eval_data=MATH_DATA)
    assert sorted(tasks) == sorted(MATH_DATA)
    for name, task in tasks.items():
        docs = list(task.test_docs())
        rows = [json.loads(line) for line in MATH_DATA[name].read_text().splitlines()]
        assert len(docs) == len(rows)
        text = task.doc_to_text(docs[0])
        assert text == wrap("llama-base-boxed-with-bos", rows[0].get("problem") or rows[0].get("question"))
        g = task.config.generation_kwargs
        assert g["max_gen_toks"] == 321 and g["until"] == stops and g["temperature"] == 1.0 and g["do_sample"]
        assert task.config.repeats == 16


def test_chat_cells_keep_the_task_prompt_and_a_missing_local_file_is_named(tmp_path):
    tasks = _tasks(tmp_path / "a", ["deft_math500"], eval_data={"deft_math500": MATH_DATA["deft_math500"]})
    doc = list(tasks["deft_math500"].test_docs())[0]
    assert tasks["deft_math500"].doc_to_text(doc) == utils.math_prompt(doc)
    with pytest.raises(FileNotFoundError, match="eval_data of task deft_math500: 'nowhere/x.jsonl' is not a file"):
        paper_task_dir(tmp_path / "b", eval_data={"deft_math500": "nowhere/x.jsonl"})


def test_medical_cell_reads_the_m1_file_and_the_hub_group(tmp_path):
    tasks = _tasks(tmp_path, ["deft_medical_m1", "deft_medical"], wrapper="medical-llama",
                   generation={"max_gen_toks": 99, "until": []}, eval_data=MED_DATA)
    assert sorted(tasks) == sorted(MED_DATA)
    m1 = tasks["deft_medical_m1"]
    docs = list(m1.test_docs())
    raw = json.loads(MED_DATA["deft_medical_m1"].read_text())
    assert len(docs) == len(raw) and {d["source"] for d in docs} == {r["source"] for r in raw}
    assert m1.doc_to_text(docs[0]) == wrap("medical-llama", raw[0]["prompt"])
    assert m1.config.generation_kwargs["max_gen_toks"] == 99 and m1.config.generation_kwargs["temperature"] == 0.0
    # a 4-option item read through `datasets` gets E = None: not an option
    four = next(d for d in docs if d["options"].get("E") is None)
    assert len(medical_doc(four)[1]) == 4
    assert len(list(tasks["deft_mmlu_medical"].test_docs())) == 1  # the non-medical subject is filtered out
    medqa = list(tasks["deft_medqa"].test_docs())[0]
    assert tasks["deft_medqa"].doc_to_text(medqa).startswith("<|begin_of_text|><|begin_of_text|>")


def test_m1_score_is_the_unweighted_mean_over_sources():
    rng = random.Random(0)
    truth = {"big": 0.9, "small": 0.3}
    items = [(s, float(rng.random() < truth[s])) for s, n in (("big", 2000), ("small", 100)) for _ in range(n)]
    by_source = {s: [c for src, c in items if src == s] for s in truth}
    expected = sum(sum(v) / len(v) for v in by_source.values()) / 2
    assert utils.mean_over_sources(items) == pytest.approx(expected)
    item_mean = sum(c for _, c in items) / len(items)
    assert abs(expected - item_mean) > 0.2  # the item mean would weight the big source 20:1
    doc = {"prompt": "Q\nA. x\nB. y", "options": {"A": "x", "B": "y"}, "answer_idx": "B", "source": "s"}
    assert utils.m1_process_results(doc, ["The answer is B."]) == {"acc": ("s", 1.0), "acc_items": 1.0}
    assert utils.m1_process_results(doc, ["\\boxed{x}"]) == {"acc": ("s", 0.0), "acc_items": 0.0}
