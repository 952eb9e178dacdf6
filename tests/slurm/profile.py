"""Writes a Snakemake profile: the shipped one with a small overlay merged into it key by key
(`make slurm-smoke`: profiles/slurm + tests/slurm/overlay.yaml). Snakemake itself would replace a
whole `set-resources` or `default-resources` block of the --profile by the --workflow-profile's,
so the merge is done here, and what the overlay changed is printed.
    python tests/slurm/profile.py profiles/slurm tests/slurm/overlay.yaml OUT_DIR
"""
import sys
from pathlib import Path

import yaml


def merge(base: dict, overlay: dict, at: str = "") -> dict:
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            out[key] = merge(base[key], value, f"{at}{key}.")
        else:
            if key in base and base[key] != value:
                print(f"profile: {at}{key}: {base[key]!r} -> {value!r}")
            out[key] = value
    return out


if __name__ == "__main__":
    shipped, overlay, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    merged = merge(yaml.safe_load((shipped / "config.yaml").read_text()), yaml.safe_load(overlay.read_text()))
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))
