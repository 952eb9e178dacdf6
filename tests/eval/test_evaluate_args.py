"""lm-eval backend arguments and task lookup; raw prompts reach lm-eval as training encoded them."""
import shutil

import pytest

from deft.eval.evaluate import model_args, task_name


def test_hf_args_default_to_fp32_on_cpu():
    assert model_args("hf", "/m", {}) == {"pretrained": "/m", "dtype": "float32"}


def test_vllm_args_carry_parallelism_memory_and_seed_from_config():
    args = model_args("vllm", "/m", {"tensor_parallel_size": 2, "data_parallel_size": 4,
                                     "gpu_memory_utilization": 0.9, "max_model_len": 8192, "seed": 3})
    assert args == {"pretrained": "/m", "dtype": "bfloat16", "tensor_parallel_size": 2, "data_parallel_size": 4,
                    "gpu_memory_utilization": 0.9, "max_model_len": 8192, "seed": 3}
    assert model_args("vllm", "/m", {})["tensor_parallel_size"] == 1


def test_unknown_backend_and_domain_are_refused():
    with pytest.raises(ValueError, match="unknown evaluation backend 'tgi'; allowed: \\['hf', 'vllm'\\]"):
        model_args("tgi", "/m", {})
    with pytest.raises(ValueError, match="domain 'chess' is not allowed; allowed: one of \\['arithmetic'"):
        task_name("chess")
    with pytest.raises(ValueError, match="no lm-eval task for domain 'math'; allowed: \\['arithmetic', 'figfont'\\]"):
        task_name("math")  # math is evaluated by its paper task (eval_task: deft_math)
    assert task_name("figfont") == task_name("figfont-llama") == "deft_figfont"


def test_raw_prompts_are_evaluated_with_bos_on_both_backends():
    assert model_args("hf", "/m", {}, raw_prompts=True)["add_bos_token"] is True
    assert model_args("vllm", "/m", {}, raw_prompts=True)["add_bos_token"] is True
    assert "add_bos_token" not in model_args("vllm", "/m", {})
    # prompts training gave no BOS (SmolLM2's tokenizer adds none; pre-formatted ones carry it) get none
    assert model_args("hf", "/m", {}, raw_prompts=True, add_bos=False)["add_bos_token"] is False


@pytest.mark.parametrize("adds_bos", [False, True])
def test_lm_eval_encodes_raw_prompts_exactly_as_training(tiny_model, tmp_path, adds_bos):
    """lm-eval's hf backend must see the token ids training saw: with the embedded tokenizer (its
    BOS is <|im_start|>, never added) lm-eval's add_bos_token=True would prepend one; with a
    tokenizer that adds its BOS (as Llama's does), lm-eval must add it too."""
    from lm_eval.models.huggingface import HFLM
    from tokenizers.processors import TemplateProcessing
    from transformers import AutoTokenizer

    from deft.train.trainer import encode_raw, tokenizer_adds_bos

    model_dir = tmp_path / "m"
    shutil.copytree(tiny_model, model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    if adds_bos:
        bos = tok.bos_token
        tok._tokenizer.post_processor = TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, tok.bos_token_id)])
        tok.save_pretrained(model_dir)
        tok = AutoTokenizer.from_pretrained(model_dir)
    prompt = "47 + 38 ="
    assert tokenizer_adds_bos(tok, prompt) is adds_bos
    trained, labels = encode_raw(tok, prompt, " 85")
    prompt_ids = trained[:labels.index(next(x for x in labels if x != -100))]
    args = model_args("hf", model_dir, {}, raw_prompts=True, add_bos=tokenizer_adds_bos(tok, prompt))
    lm = HFLM(pretrained=str(model_dir), add_bos_token=args["add_bos_token"], device="cpu", batch_size=1)
    ids, _ = lm.tok_batch_encode([prompt])
    assert ids[0].tolist() == prompt_ids
