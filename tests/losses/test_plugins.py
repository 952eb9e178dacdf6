"""Objectives from outside the package (deft.losses.plugins): registered from a config's `plugins`,
checked against the suite's contract before any job, ordered after the built-ins, and handed to the
processes the pipeline starts."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import deft.config as dc
import deft.losses as L
from deft.losses import core, plugins

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "examples/focal_objective.py"
EXAMPLE_SOURCE = (ROOT / EXAMPLE).read_text()

LIAR = '''
from deft.losses import objective, weighted_terms

@objective("liar")
def liar(z, logp, valid):  # declares gate p, but the loss -2 sg(p) log p has gradient 2 p (pi - e_y)
    return weighted_terms(2 * logp, logp.detach().exp(), valid)
'''


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch):
    """Each test registers its plugins afresh; built-ins only afterwards (other tests assert the set)."""
    saved = dict(core.REGISTRY)
    monkeypatch.setenv(plugins.ENV, "")  # recorded, so that teardown removes what load() exports
    monkeypatch.delenv(plugins.ENV)
    monkeypatch.chdir(ROOT)
    yield
    core.REGISTRY.clear()
    core.REGISTRY.update(saved)
    for name in [m for m in sys.modules if m.startswith("deft_plugin_") or m in ("liar_module",)]:
        del sys.modules[name]


def tiny_config(**overrides):
    cfg = yaml.safe_load((ROOT / "config/tiny.yaml").read_text())
    cfg.update(overrides)
    return cfg


def test_the_example_plugin_registers_after_the_builtins_and_keeps_the_contract():
    assert plugins.load([EXAMPLE]) == {EXAMPLE: ["focal"]}
    assert L.order() == (*L.ORDER, "focal") and dict(L.OBJECTIVES["focal"]) == {"gamma": 2.0}
    assert os.environ[plugins.ENV] == str(ROOT / EXAMPLE)  # absolute: child processes may run elsewhere
    z, y = torch.randn(6, 11, dtype=torch.float64), torch.tensor([1, 2, 3, -100, 4, 5])
    p = torch.softmax(z, -1)[torch.arange(6), y.clamp(min=0)]
    expected = torch.where(y != -100, (1 - p) ** 2, 0)
    assert torch.allclose(L.gate("focal", z, y), expected)  # gate (1 - p)^gamma
    assert torch.allclose(L.gate("focal", z, y, gamma=0.0), (y != -100).double())  # gamma 0 is nll
    with pytest.raises(ValueError, match="gamma=-1"):
        L.resolve("focal", {"gamma": -1})
    from deft.report.tables import ordered

    assert ordered(["focal", "deft", "base", "nll"]) == ["nll", "deft", "focal", "base"]


def test_a_config_with_the_plugin_passes_the_check_and_builds_its_grid():
    cfg = tiny_config(plugins=[EXAMPLE])
    cfg["grid"]["objectives"] = ["nll", "deft", "focal"]
    dc.check(cfg)
    assert {r["objective"] for r in dc.runs(cfg)} == {"nll", "deft", "focal"}


def test_an_objective_whose_gate_contradicts_its_gradient_is_refused_naming_it(tmp_path):
    (tmp_path / "liar_module.py").write_text(LIAR)
    sys.path.insert(0, str(tmp_path))
    try:
        cfg = tiny_config(plugins=["liar_module"])
        with pytest.raises(ValueError, match=r"config: objective 'liar' \(from plugin 'liar_module'\) breaks the "
                                             r"suite's contract: its logit gradient is not gate"):
            dc.check(cfg)
    finally:
        sys.path.remove(str(tmp_path))


@pytest.mark.parametrize("body, message", [
    ("from deft.losses import objective, weighted_terms\n@objective('Focal')\n"
     "def f(z, logp, valid):\n    return weighted_terms(logp, logp.detach().exp(), valid)\n", "the name must match"),
    ("from deft.losses import objective, weighted_terms\n@objective('deft')\n"
     "def f(z, logp, valid):\n    return weighted_terms(logp, logp.detach().exp(), valid)\n", "already registered"),
    ("from deft.losses import objective\n@objective('broken')\n"
     "def f(z, logp, valid):\n    return -logp\n", "must return deft.losses.Terms"),
    ("from deft.losses import objective\n@objective('crash')\n"
     "def f(z, logp, valid):\n    return z.nope\n", "raised AttributeError"),
    ("from deft.losses import objective, Terms\n@objective('leaky')\n"
     "def f(z, logp, valid):\n    return Terms(-logp, logp.exp(), valid)\n", "must be detached"),
])
def test_bad_plugins_are_refused_with_what_is_wrong(tmp_path, body, message):
    path = tmp_path / "bad_objective.py"
    path.write_text(body)
    with pytest.raises(ValueError, match=message):
        plugins.load([str(path)])


def test_missing_plugins_name_what_is_allowed(tmp_path):
    with pytest.raises(ValueError, match="cannot import 'no_such_objectives'"):
        plugins.load(["no_such_objectives"])
    with pytest.raises(ValueError, match="is not an existing .py file"):
        plugins.load([str(tmp_path / "missing.py")])


def test_a_refused_plugin_is_not_left_registered(tmp_path):
    (tmp_path / "liar_file.py").write_text(LIAR)
    with pytest.raises(ValueError, match="breaks the suite's contract"):
        plugins.load([str(tmp_path / "liar_file.py")])
    assert "liar" not in L.order() and not any(m.startswith("deft_plugin_liar_file") for m in sys.modules)


def test_a_plugin_module_is_found_by_a_child_started_elsewhere(tmp_path, monkeypatch):
    """A module found in the working directory: its folder is exported in PYTHONPATH as well."""
    (tmp_path / "my_objectives.py").write_text(EXAMPLE_SOURCE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))  # restored after the test
    monkeypatch.syspath_prepend(str(tmp_path))
    assert plugins.load(["my_objectives"]) == {"my_objectives": ["focal"]}
    code = "import deft.losses as L; print(L.order()[-1])"
    out = subprocess.run([sys.executable, "-c", code], cwd="/", env=os.environ.copy(), capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.split() == ["focal"], out.stderr[-2000:]
    sys.modules.pop("my_objectives", None)


def test_a_child_process_registers_the_exported_plugins():
    plugins.load([EXAMPLE])
    code = "import deft.losses as L; print(L.order()[-1], L.version('focal'))"
    out = subprocess.run([sys.executable, "-c", code], cwd="/", env=os.environ.copy(), capture_output=True,
                         text=True, check=True).stdout
    assert out.split() == ["focal", "1"]


@pytest.mark.slow
def test_snakemake_refuses_a_lying_plugin_before_planning_any_job(tmp_path):
    (tmp_path / "liar_module.py").write_text(LIAR)
    cfg = tiny_config(plugins=[str(tmp_path / "liar_module.py")])
    cfg["grid"]["objectives"] = ["nll", "liar"]
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile",
                           str(tmp_path / "cfg.yaml")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "objective 'liar'" in out and "breaks the suite's contract" in out
    assert "Job stats" not in out
