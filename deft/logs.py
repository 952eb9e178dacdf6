"""Rule adapters send everything a stage prints (progress bars included) to the rule's log file."""
from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def to_log(path, threads: int | None = None):
    """Redirect fd 1 and 2 to ``path`` for the block; pin torch to the rule's ``threads``."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(var, "1")  # the embedded pipeline never waits on a hub
    if threads:
        import torch

        torch.set_num_threads(threads)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
