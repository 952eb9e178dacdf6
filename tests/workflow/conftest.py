import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory):
    """What `git clone` gives: the files git would commit from this working tree (tracked and
    not ignored), nothing else: no .snakemake metadata, no models or data under results/, and
    modification times that say nothing. Here the worst case for a cache: every shipped record is
    older than every script and input beside it, and the rest are shuffled."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git working tree")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    clone = tmp_path_factory.mktemp("clone")
    rng, base = random.Random(0), 1_700_000_000
    for name in filter(None, files):
        src, dst = ROOT / name, clone / name
        if not src.is_file():
            continue  # deleted in the working tree
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        t = base + (rng.uniform(0, 1e5) if name.startswith("results/") else rng.uniform(2e5, 3e5))
        os.utime(dst, (t, t))
    assert not (clone / ".snakemake").exists() and not (clone / "results/backbones").exists()
    return clone
