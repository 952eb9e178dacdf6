import os

import pytest

for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[var] = "1"  # tests never touch a hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A random 2-layer Llama with the embedded backbone's tokenizer and chat template."""
    from deft.train.backbones import prepare_tiny_llama

    return prepare_tiny_llama(tmp_path_factory.mktemp("backbones") / "tiny-llama")
