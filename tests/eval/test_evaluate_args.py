"""lm-eval backend arguments and task lookup (no model is run here)."""
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
    # pre-formatted prompts that begin with the BOS text get no second one
    assert model_args("hf", "/m", {}, raw_prompts=True, prompts_have_bos=True)["add_bos_token"] is False
