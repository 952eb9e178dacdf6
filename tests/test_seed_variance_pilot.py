"""benchmarks/seed_variance_pilot.py: its two sample modes mean what its table says - `redraw`
gives each seed its own draw (as the study does), `fixed` gives every seed seed 0's draw and varies
only the noise - and a seed's clean and noisy sets hold the same examples."""
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("pilot", ROOT / "benchmarks" / "seed_variance_pilot.py")
pilot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pilot)


def test_redraw_varies_the_sample_and_fixed_varies_only_the_noise(tmp_path):
    rows = [{"id": f"a{i}", "domain": "arithmetic", "prompt": f"{i} + 1 =", "answer": str(i + 1),
             "target": f" {i + 1}"} for i in range(600)]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ids = {(mode, seed, rate): [e["id"] for e in pilot.training_set(tmp_path, mode, seed, rate)]
           for mode in ("redraw", "fixed") for seed in (0, 1) for rate in (0.0, 0.3)}
    assert ids["redraw", 0, 0.0] == ids["fixed", 0, 0.0] == ids["fixed", 1, 0.0] == ids["fixed", 1, 0.3]
    assert set(ids["redraw", 1, 0.0]) != set(ids["redraw", 0, 0.0]) and ids["redraw", 1, 0.3] == ids["redraw", 1, 0.0]
    fixed_noise = {s: [e["answer"] for e in pilot.training_set(tmp_path, "fixed", s, 0.3)] for s in (0, 1)}
    assert fixed_noise[0] != fixed_noise[1]  # same examples, other corrupted answers
    clean = pilot.training_set(tmp_path, "fixed", 1, 0.0)
    assert sum(a != e["answer"] for a, e in zip(fixed_noise[1], clean)) == round(0.3 * 256)


def test_recipes_override_the_study_config_and_nothing_else():
    import yaml

    train = yaml.safe_load((ROOT / "config/config.yaml").read_text())["train"]
    assert pilot.study_train() == train
    for recipe in pilot.RECIPES.values():
        assert set(recipe) <= set(train)  # each recipe names settings the study has
