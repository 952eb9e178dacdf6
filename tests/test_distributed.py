"""Loss normalisation across data-parallel ranks: 2 CPU processes (gloo) give the gradient of one
process on the concatenated batch, for nll and deft (global counted tokens, not per-rank means)."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).with_name("_distributed_step.py")
# Four examples whose responses have 1, 2, 4 and 8 answer tokens: however the step splits them
# 2 + 2 over the ranks, the ranks count different numbers of tokens, so a per-rank mean would differ.
ANSWERS = ["1", "12", "1234", "12345678"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("objective", ["nll", "deft"])
def test_two_ranks_equal_one_process_on_the_whole_batch(tiny_model, tmp_path, objective):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"Repeat {a}.", "answer": a}) + "\n" for a in ANSWERS))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    one = tmp_path / "one.pt"
    subprocess.run([sys.executable, str(SCRIPT), str(tiny_model), str(data), str(one), objective],
                   check=True, env=env, capture_output=True, timeout=300)
    two = tmp_path / "two.pt"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_addr", "127.0.0.1", "--master_port", str(free_port()), str(SCRIPT),
                           str(tiny_model), str(data), str(two), objective],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '"world": 2' in proc.stdout
    logs = [json.loads((tmp_path / f"two.pt.log{r}.jsonl").read_text().splitlines()[0]) for r in (0, 1)]
    assert logs[0]["response_tokens"] != logs[1]["response_tokens"]  # the ranks saw different counts
    g1, g2 = torch.load(one), torch.load(two)
    assert torch.allclose(g1, g2, rtol=1e-4, atol=1e-8), (g1 - g2).abs().max()
