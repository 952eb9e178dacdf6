"""Paper-scale data by dataset id, exercised offline on a local copy laid out like the authors'
datasets (fields nested in extra_info, prompts pre-formatted per model family): fetch, noise,
raw-prompt encoding, and the figfont evaluation on the fetched test split through lm-eval."""
import json
from pathlib import Path

import pytest

from deft.data import splits
from deft.data.hub import check_spec, fetch

ROOT_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "paper"
WORDS = ["CAT", "DOG", "SUN", "MAP", "PEN", "CUP", "HAT", "BOX"]


def figlet_copy(tmp_path):
    """A local dataset folder with train/test splits shaped like gaotang/figlet_font."""
    root = tmp_path / "figlet_font"
    root.mkdir()
    for split, words in (("train", WORDS[:6]), ("test", WORDS[6:])):
        rows = [{"extra_info": {"llama_prompt": f"Read this figlet art: <art of {w}>\nAnswer:",
                                "qwen_prompt": f"<|im_start|>user\n<art of {w}><|im_end|>\n", "answer": w}}
                for w in words]
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


SPEC = {"prompt_field": "extra_info.llama_prompt", "response_field": "extra_info.answer", "test_split": "test",
        "prompt_format": "raw"}


def test_fetch_reads_nested_fields_and_marks_raw_prompts(tmp_path):
    manifest = splits.make("figfont-llama", {"hub": {"dataset": str(figlet_copy(tmp_path)), **SPEC}}, {}, 0,
                           tmp_path / "out")
    train = [json.loads(line) for line in (tmp_path / "out/train.jsonl").read_text().splitlines()]
    test = [json.loads(line) for line in (tmp_path / "out/test.jsonl").read_text().splitlines()]
    assert [e["answer"] for e in train] == WORDS[:6] and [e["answer"] for e in test] == WORDS[6:]
    assert train[0] == {"id": "figfont-llama-train-000000", "domain": "figfont", "format": "raw",
                        "prompt": "Read this figlet art: <art of CAT>\nAnswer:", "answer": "CAT"}
    assert set(manifest["sha256"]) == {"train", "test"}


def test_noise_on_fetched_data_uses_the_domain_kind(tmp_path):
    from deft.data.noise import inject
    from deft.io import read_jsonl

    fetch("figfont-llama", {"dataset": str(figlet_copy(tmp_path)), **SPEC}, tmp_path / "out")
    noisy, audit = inject(read_jsonl(tmp_path / "out/train.jsonl"), 0.5, "answer", 0)
    assert len(audit["corrupted"]) == 3
    changed = [n for n, e in zip(noisy, read_jsonl(tmp_path / "out/train.jsonl")) if n["answer"] != e["answer"]]
    assert len(changed) == 3 and all(c["format"] == "raw" for c in changed)


def test_a_wrong_field_names_the_dataset_and_what_is_there(tmp_path):
    with pytest.raises(KeyError, match=r"no field 'extra_info.mistral_prompt' \(at 'mistral_prompt': found "
                                       r"\['answer', 'llama_prompt', 'qwen_prompt'\]\)"):
        fetch("figfont", {"dataset": str(figlet_copy(tmp_path)), **SPEC, "prompt_field": "extra_info.mistral_prompt"},
              tmp_path / "out")


@pytest.mark.parametrize("spec, match", [
    ({"prompt_field": "q"}, "needs the key 'dataset'"),
    ({"dataset": "x", "prompt_format": "jinja"}, "prompt_format = 'jinja' is not allowed; allowed: \\['chat', 'raw'\\]"),
    ({"dataset": "x", "promt_field": "q"}, "unknown key\\(s\\) \\['promt_field'\\]"),
])
def test_bad_hub_specs_are_refused(spec, match):
    with pytest.raises(ValueError, match=match):
        check_spec("medical", spec)


def test_raw_encoding_is_prompt_with_bos_then_answer_and_eos(tiny_model):
    from transformers import AutoTokenizer

    from deft.train.trainer import encode_example

    tok = AutoTokenizer.from_pretrained(tiny_model)
    ids, labels = encode_example(tok, {"prompt": "Art:\nAnswer:", "answer": " CAT", "format": "raw"})
    p_ids = tok("Art:\nAnswer:", add_special_tokens=True)["input_ids"]
    assert ids[: len(p_ids)] == p_ids and labels[: len(p_ids)] == [-100] * len(p_ids)
    assert ids[len(p_ids):] == labels[len(p_ids):] == tok(" CAT", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert "<|im_start|>" not in tok.decode(ids)  # no chat template


def test_a_prompt_that_carries_the_bos_text_gets_no_second_bos(tiny_model):
    from tokenizers.processors import TemplateProcessing
    from transformers import AutoTokenizer

    from deft.train.trainer import encode_raw

    tok = AutoTokenizer.from_pretrained(tiny_model)
    bos = tok.bos_token
    # make it a tokenizer that adds its BOS, as Llama's does
    tok._tokenizer.post_processor = TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, tok.bos_token_id)])
    assert tok("Art:")["input_ids"][0] == tok.bos_token_id
    plain, _ = encode_raw(tok, "Art:\nAnswer:", " CAT")
    formatted, _ = encode_raw(tok, bos + "Art:\nAnswer:", " CAT")
    assert plain == formatted and formatted.count(tok.bos_token_id) == 1 and formatted[0] == tok.bos_token_id


def test_figfont_paper_test_split_evaluates_through_lm_eval_with_raw_prompts(tiny_model, tmp_path):
    """The paper's figfont cells: the fetched test split runs through the embedded figfont task
    (greedy, Jaro-Winkler x 100 and exact match), with the raw prompts and no chat template."""
    from deft.eval.evaluate import evaluate

    fetch("figfont-llama", {"dataset": str(figlet_copy(tmp_path)), **SPEC}, tmp_path / "out")
    result = evaluate(tiny_model, "figfont-llama", tmp_path / "out/test.jsonl", batch_size=2, prompt_format="raw")
    assert result["n"] == 2 and {"jaro_winkler", "exact_match"} <= set(result["metrics"])
    assert 0 <= result["metrics"]["jaro_winkler"] <= 100 and [s["target"] for s in result["samples"]] == WORDS[6:]


def test_without_a_test_split_the_last_rows_are_held_out_of_training(tmp_path):
    spec = {**SPEC, "test_split": None, "heldout": 2}
    fetch("figfont-llama", {"dataset": str(figlet_copy(tmp_path)), **spec}, tmp_path / "out")
    train, test = ([json.loads(x) for x in (tmp_path / f"out/{s}.jsonl").read_text().splitlines()] for s in ("train", "test"))
    assert [e["answer"] for e in train] == WORDS[:4] and [e["answer"] for e in test] == WORDS[4:6]


def test_heldout_rows_are_excluded_or_as_the_authors_the_first_rows_and_trained(tmp_path):
    root = ROOT_FIXTURES / "numina-cot-subset-67k"
    spec = {"dataset": str(root), "prompt_field": "extra_info.question", "response_field": "extra_info.answer",
            "heldout": 4}
    ours = fetch("math", spec, tmp_path / "ours")
    authors = fetch("math", {**spec, "heldout_trained": True}, tmp_path / "authors")

    def read(d, split):
        return [json.loads(line) for line in (tmp_path / d / f"{split}.jsonl").read_text().splitlines()]

    n = len(read("authors", "train"))
    assert len(read("ours", "train")) == n - 4 and read("ours", "test") == read("authors", "train")[n - 4:]
    assert read("authors", "test") == read("authors", "train")[:4]  # validation = first rows, also trained on
    assert authors["test_in_training"] is True and ours["test_in_training"] is False
