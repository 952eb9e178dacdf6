"""The authors' fixed prompt wrappers per model family, shared by training and evaluation.

Texts copied from the authors' released code (luludus/DEFT; ../shared/reference/authors_protocol.md):
math wrappers from ``evaluations/math/utils.py`` PROMPT_TEMPLATES (the same strings as training's
``main_verl/utils/dataset/sft_dataset.py`` LLAMA_BASE_BOXED_WITH_BOS and DEEPSEEK_BASE_BOXED),
medical wrappers from ``evaluations/medical/main.py`` (LLAMA_PROMPT, with its doubled BOS, and
QWEN_PROMPT). A wrapped prompt carries every special token it needs: it is tokenised without the
tokenizer's own (no second BOS).

Training, as the authors ran it: Llama and DeepSeek math prompts inside their wrapper; Qwen math
prompts through the tokenizer's chat template (``chat``), although evaluation uses ``qwen-boxed``
(the protocol switch ``train.math_prompt: eval_wrapper`` trains Qwen in ``qwen-boxed`` too);
medical and figfont prompts arrive pre-formatted per family (``raw``).
"""
from __future__ import annotations

_BOXED = "Please reason step by step, and put your final answer within \\boxed{}."

WRAPPERS = {
    "qwen-boxed": ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                   "<|im_start|>user\n{input}\n" + _BOXED + "<|im_end|>\n<|im_start|>assistant\n"),
    "llama-base-boxed-with-bos": (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>\n"
        "<|start_header_id|>user<|end_header_id|>\n\n{input}\n" + _BOXED + "<|eot_id|>\n"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"),
    "deepseek-math": "<\uff5cbegin\u2581of\u2581sentence\uff5c>User: {input}\n" + _BOXED + "\n\nAssistant:",
    "medical-llama": (
        "<|begin_of_text|><|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n{input}\n" + _BOXED + "<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"),
    "medical-qwen": ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                     "<|im_start|>user\n{input}\n" + _BOXED + "<|im_end|>\n<|im_start|>assistant\n"),
}
# Evaluation wrapper per (domain kind, family): math_eval's --prompt_type per model
# (scripts/one_click/TEMPLATE.py) and medical/main.py's choice by model name.
EVAL_WRAPPER = {("math", "qwen"): "qwen-boxed", ("math", "llama"): "llama-base-boxed-with-bos",
                ("math", "deepseek"): "deepseek-math", ("medical", "qwen"): "medical-qwen",
                ("medical", "llama"): "medical-llama"}
# The training prompt of math per family as the authors ran it (sft_dataset.py): ``chat`` is the
# tokenizer's own chat template.
AUTHORS_MATH_TRAIN = {"qwen": "chat", "llama": "llama-base-boxed-with-bos", "deepseek": "deepseek-math"}
MATH_PROMPTS = ("authors", "eval_wrapper")


def is_wrapper(prompt: str | None) -> bool:
    """Whether a prompt setting names a family wrapper, as opposed to the chat template (``chat``,
    None) or text used as formatted (``raw``); an unknown name counts as one, so ``wrap`` refuses it."""
    return prompt not in (None, "chat", "raw")


def wrap(name: str, text: str) -> str:
    """``text`` inside wrapper ``name`` (plain replacement: problems are full of braces)."""
    if name not in WRAPPERS:
        raise ValueError(f"prompt wrapper {name!r} is not known; allowed: {sorted(WRAPPERS)}")
    return WRAPPERS[name].replace("{input}", text)


def eval_wrapper(kind: str, family: str | None) -> str | None:
    """The authors' evaluation wrapper of a domain kind for a model family (None: none defined)."""
    return EVAL_WRAPPER.get((kind, family))


def authors_base_wrapper(family: str | None, model_name: str) -> str | None:
    """The wrapper the released training puts around every prompt of a base model (sft_dataset.py:
    ``use_deepseek_base`` / ``use_llama_base``, "instruct" absent from the model's name), else None."""
    if family in ("llama", "deepseek") and "instruct" not in model_name.lower():
        return AUTHORS_MATH_TRAIN[family]
    return None


def math_train_prompt(family: str | None, math_prompt: str = "authors") -> str:
    """How math prompts are trained for a family: a wrapper name or ``chat``.
    ``authors``: as their sft_dataset.py (Qwen through its chat template); ``eval_wrapper``: the
    wrapper evaluation uses, for every family (train and test alike)."""
    if math_prompt not in MATH_PROMPTS:
        raise ValueError(f"train.math_prompt = {math_prompt!r} is not allowed; allowed: {list(MATH_PROMPTS)}")
    if math_prompt == "eval_wrapper":
        return eval_wrapper("math", family) or "chat"
    return AUTHORS_MATH_TRAIN.get(family, "chat")
