"""The package is grouped by pipeline stage and imports only run downward:
report -> eval -> train -> data | integrations -> losses (the suite's trainer reuses the
integrations' loss and LM-head bypass), with the leaf utilities (io, logs, stats) below all
of them, and ``deft.config`` (the pipeline's validation) and the ``deft.regenerate`` entry point
above, and ``deft.stage`` (what a configuration downloads, which reads the config) above those. No import cycle is possible then."""
import ast
from pathlib import Path

import pytest

DEFT = Path(__file__).resolve().parents[1] / "deft"
LAYER = {"io": 0, "logs": 0, "stats": 0, "reference": 0, "losses": 1, "integrations": 2, "data": 2, "train": 3, "eval": 4,
         "report": 5, "config": 6, "regenerate": 6, "stage": 7}


def _stage(module: str) -> str:
    """deft.eval.records -> eval; deft.stats -> stats."""
    return module.split(".")[1]


def _imports(path: Path) -> list[str]:
    parts = path.relative_to(DEFT.parent).with_suffix("").parts  # ('deft', 'eval', 'records')
    package = parts[:-1] if path.name != "__init__.py" else parts[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.startswith("deft.")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[:len(package) - node.level + 1])
                name = ".".join(base + ([node.module] if node.module else []))
                out += [name] if node.module else [f"{name}.{a.name}" for a in node.names]
            elif node.module and node.module.startswith("deft."):
                out.append(node.module)
            elif node.module == "deft":
                out += [f"deft.{a.name}" for a in node.names]
    return out


MODULES = sorted(p for p in DEFT.rglob("*.py"))


def test_every_module_belongs_to_a_stage():
    unknown = {_stage(".".join(p.relative_to(DEFT.parent).with_suffix("").parts)) for p in MODULES
               if p.parent != DEFT or p.name != "__init__.py"} - set(LAYER)
    assert not unknown, f"modules outside the stages {sorted(LAYER)}: {unknown}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(DEFT)))
def test_imports_run_downward(path):
    if path.parent == DEFT and path.name == "__init__.py":
        return
    own = _stage(".".join(path.relative_to(DEFT.parent).with_suffix("").parts))
    upward = [m for m in _imports(path) if LAYER[_stage(m)] > LAYER[own]]
    assert not upward, f"{path.relative_to(DEFT.parent)} ({own}) imports a later stage: {upward}"


def test_the_check_sees_an_upward_import(tmp_path):
    bad = DEFT / "data" / "_probe_upward.py"
    bad.write_text("from ..report import tables\n")
    try:
        assert [m for m in _imports(bad) if LAYER[_stage(m)] > LAYER["data"]] == ["deft.report"]
    finally:
        bad.unlink()
