"""lm-eval backend arguments and task lookup (no model is run here)."""
import pytest

from deft.evaluate import model_args, task_name


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
    with pytest.raises(ValueError, match="no lm-eval task for domain 'chess'; allowed: \\['arithmetic', 'figfont'\\]"):
        task_name("chess")
    assert task_name("figfont") == "deft_figfont"
