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
    # one log, by rank 0, with the statistics of the whole global batch (summed over the ranks)
    one_log, two_log = ((tmp_path / f"{n}.pt.log.jsonl").read_text().splitlines() for n in ("one", "two"))
    assert len(two_log) == 1
    a, b = json.loads(one_log[0]), json.loads(two_log[0])
    assert b["response_tokens"] == a["response_tokens"] == sum(len(x) + 1 for x in ANSWERS)  # + end of turn
    assert b["mean_p"] == pytest.approx(a["mean_p"], rel=1e-4) and b["nll"] == pytest.approx(a["nll"], rel=1e-4)
    g1, g2 = torch.load(one), torch.load(two)
    assert torch.allclose(g1, g2, rtol=1e-4, atol=1e-8), (g1 - g2).abs().max()


def test_the_training_command_under_torchrun_equals_one_process(tiny_model, tmp_path):
    """deft.train.cli (what the train rule runs) for two steps: 2 gloo processes with batch 2 each
    end with the weights of 1 process with batch 4, and write one model, log and summary."""
    from safetensors.torch import load_file

    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"Repeat {a}{i}.", "answer": f"{a}{i}"}) + "\n"
                            for i in range(2) for a in ANSWERS))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}

    def run(name, launcher, per_device):
        out = tmp_path / name
        settings = {"objective": "deft", "batch_size": per_device, "max_steps": 2, "learning_rate": 1e-3, "seed": 0}
        args = ["-m", "deft.train.cli", "--model-dir", str(tiny_model), "--train-data", str(data),
                "--out-dir", str(out / "model"), "--train-log", str(out / "log.jsonl"),
                "--summary-json", str(out / "train.json"), "--torch-threads", "1", "--settings-json", json.dumps(settings)]
        proc = subprocess.run([sys.executable, *launcher, *args], env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return out

    one = run("one", [], 4)
    two = run("two", ["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                      "--master_port", str(free_port())], 2)
    assert sorted(p.name for p in two.iterdir()) == ["log.jsonl", "model", "train.json"]  # no .work / .tmp left
    assert len((two / "log.jsonl").read_text().splitlines()) == 2
    assert json.loads((two / "train.json").read_text())["steps"] == 2
    w1, w2 = (load_file(str(o / "model" / "model.safetensors")) for o in (one, two))
    assert w1.keys() == w2.keys()
    for k in w1:
        assert torch.allclose(w1[k], w2[k], atol=1e-5), (k, (w1[k] - w2[k]).abs().max())
