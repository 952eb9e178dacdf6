"""The authors' family prompt wrappers, and which one each (domain, family) trains and evaluates in."""
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config, validate

import deft.config as dc
from deft.data.wrappers import WRAPPERS, eval_wrapper, math_train_prompt, wrap

ROOT = Path(__file__).resolve().parents[2]


def test_wrappers_are_the_authors_strings():
    # evaluations/math/utils.py "qwen-boxed" after str.format (the {{}} become {})
    assert wrap("qwen-boxed", "Q") == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                                       "Q\nPlease reason step by step, and put your final answer within \\boxed{}."
                                       "<|im_end|>\n<|im_start|>assistant\n")
    assert wrap("deepseek-math", "Q") == ("<\uff5cbegin\u2581of\u2581sentence\uff5c>User: Q\nPlease reason step by "
                                          "step, and put your final answer within \\boxed{}.\n\nAssistant:")
    assert wrap("medical-llama", "Q").startswith("<|begin_of_text|><|begin_of_text|><|start_header_id|>system")
    assert "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024" in wrap("medical-llama", "Q")
    assert wrap("qwen-boxed", "{a} and {}") .count("{a} and {}") == 1  # problems full of braces stay intact
    assert all(w.count("{input}") == 1 for w in WRAPPERS.values())
    with pytest.raises(ValueError, match="prompt wrapper 'qwen' is not known; allowed: .*'qwen-boxed'"):
        wrap("qwen", "Q")


def test_math_is_trained_as_the_authors_did_or_as_evaluated():
    assert [math_train_prompt(f) for f in ("qwen", "llama", "deepseek")] == \
        ["chat", "llama-base-boxed-with-bos", "deepseek-math"]
    assert math_train_prompt("qwen", "eval_wrapper") == eval_wrapper("math", "qwen") == "qwen-boxed"
    assert eval_wrapper("figfont", "qwen") is None
    with pytest.raises(ValueError, match="train.math_prompt = 'x' is not allowed; allowed: \\['authors', 'eval_wrapper'\\]"):
        math_train_prompt("qwen", "x")


def _paper(*overlays):
    cfg = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    for name in overlays:
        update_config(cfg, yaml.safe_load((ROOT / "config" / name).read_text()))
    validate(cfg, str(ROOT / "workflow/schemas/config.schema.yaml"))
    dc.check(cfg)
    return cfg


def test_paper_corrected_overlay_turns_on_every_named_fix():
    authors, corrected = _paper(), _paper("paper-corrected.yaml")
    assert authors["protocol"] == "authors" and corrected["protocol"] == "corrected"
    a = dc.train_settings(authors, "qwen2.5-math-7b", "math")
    c = dc.train_settings(corrected, "qwen2.5-math-7b", "math")
    assert {k: a[k] for k in ("loss_normalisation", "master_weights", "overlong", "prompt_wrapper")} == \
        {"loss_normalisation": "authors", "master_weights": "bf16", "overlong": "truncate", "prompt_wrapper": "chat"}
    assert {k: c[k] for k in ("loss_normalisation", "master_weights", "overlong", "prompt_wrapper")} == \
        {"loss_normalisation": "step_tokens", "master_weights": "fp32", "overlong": "drop", "prompt_wrapper": "qwen-boxed"}
    assert c["max_len"] == a["max_len"] == 3072 and c["learning_rate"] == a["learning_rate"]  # the rest unchanged
    assert dc.train_settings(authors, "llama-3.1-8b", "math")["prompt_wrapper"] == "llama-base-boxed-with-bos"
    # the released sft_dataset.py wraps a base Llama's pre-formatted medical prompt again; corrected trains it as is
    assert dc.train_settings(authors, "llama-3.1-8b", "medical-llama")["prompt_wrapper"] == "llama-base-boxed-with-bos"
    assert "prompt_wrapper" not in dc.train_settings(corrected, "llama-3.1-8b", "medical-llama")
    assert (a["encoding"], c["encoding"]) == ("authors", "suite")
    assert authors["data"]["domains"]["math"]["hub"]["heldout_trained"] is True
    assert corrected["data"]["domains"]["math"]["hub"]["heldout_trained"] is False
    for cfg in (authors, corrected):  # the overlay leaves the grid and the evaluation alone
        assert dc.evaluate_settings(cfg, "qwen2.5-math-7b", "math")["prompt_wrapper"] == "qwen-boxed"
        assert len(dc.runs(cfg)) == len(dc.runs(authors))
