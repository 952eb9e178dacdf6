"""benchmarks/gpu_smoke.py, the GPU preflight: it refuses to pass without CUDA, and its whole
sequence (authors' training block on 2 processes with realised bf16 checked, both loss paths,
save + kill + resume to identical weights, the loss probe) runs on CPU at small shapes - under
real FSDP1 FULL_SHARD over 2 gloo ranks (tests/fsdp_on_cpu), which caught two bugs a GPU run
found: the sharded head weight on the loss path and AdamW moments not restored on resume."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_smoke.py"


def test_preflight_fails_without_cuda():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is here")
    proc = subprocess.run([sys.executable, str(SCRIPT), "run"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "CUDA is unusable" in proc.stdout and "nothing was tested" in proc.stdout


@pytest.mark.slow
def test_preflight_sequence_runs_on_cpu():
    subprocess.run([sys.executable, str(SCRIPT), "prepare"], check=True, capture_output=True, timeout=300)
    proc = subprocess.run([sys.executable, str(SCRIPT), "run", "--cpu", "--hidden", "64", "--layers", "2", "--steps", "4",
                           "--probe-hidden", "128", "--probe-vocab", "2048", "--probe-batch", "2", "--probe-len", "64"],
                          capture_output=True, text=True, timeout=1200, cwd=ROOT)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert "kill-resume: resumed from" in out and "checkpoint-2" in out and "(bitwise identical)" in out
    assert out.count("| FSDP          | v1 FULL_SHARD |") == 4, out  # really sharded, all four runs
    assert "nll: first-step loss logits" in out and "gpu preflight: ok" in out
