"""Objectives defined outside the package: load them, and check they keep the suite's contract.

A plugin is a Python module that registers objectives with the public decorator::

    from deft.losses import objective, weighted_terms

    @objective("focal", gamma=2.0)
    def focal(z, logp, valid, gamma):
        return weighted_terms(logp, (1 - logp.detach().exp()).pow(gamma), valid)

A config names it in ``plugins:`` (a module importable from the working directory or PYTHONPATH,
or the path of a ``.py`` file relative to the working directory). ``load`` imports each one, checks
every objective it registered on random logits (``check_contract``; a refused one is unregistered)
and exports the list in ``DEFT_PLUGINS`` (and a module's folder in PYTHONPATH), so that every process
the pipeline starts (training under a launcher, evaluation, analyses) registers them too when it
imports ``deft.losses``, wherever it runs.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path

import torch

ENV = "DEFT_PLUGINS"
NAME = re.compile(r"^[a-z_]+$")  # the workflow's objective wildcard: a path segment and a table column
RESERVED = {"base"}  # the label of the un-fine-tuned model in records and tables


def _import(entry: str):
    """Import one plugin entry: a ``.py`` path (relative to the working directory) or a module name."""
    if entry.endswith(".py"):
        path = Path(entry).resolve()
        if not path.is_file():
            raise ValueError(f"plugins: {entry!r} is not an existing .py file (looked at {path})")
        module_name = f"deft_plugin_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
        if module_name in sys.modules:
            return sys.modules[module_name]
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]  # a module that failed half-way is not cached as loaded
            raise
        return module
    if os.getcwd() not in sys.path:  # scripts run by Snakemake do not have the working directory on sys.path
        sys.path.append(os.getcwd())
    try:
        return importlib.import_module(entry)
    except ModuleNotFoundError as err:
        raise ValueError(f"plugins: cannot import {entry!r} ({err}); allowed: a module on PYTHONPATH or in the "
                         f"working directory {os.getcwd()}, or the path of a .py file") from None


def load(entries, *, check: bool = True, export: bool = True) -> dict[str, list[str]]:
    """Import every plugin entry; returns entry -> the objectives it registered (in definition order).

    ``check``: verify each new objective's contract (ValueError naming the objective and what failed).
    ``export``: record the entries in the environment for the processes this one starts."""
    from .core import REGISTRY

    entries = [str(e) for e in (entries or [])]
    found, roots = {}, []
    for entry in entries:
        before = set(REGISTRY)
        module = _import(entry)
        new = [n for n, o in REGISTRY.items() if n not in before or o.module == module.__name__]
        found[entry] = new
        if check:
            try:
                for name in new:
                    check_contract(name, source=entry)
            except ValueError:  # a refused objective does not stay usable in this process
                for name in new:
                    REGISTRY.pop(name, None)
                sys.modules.pop(module.__name__, None)
                raise
        if not entry.endswith(".py") and getattr(module, "__file__", None):
            # the folder it was imported from, so that a child started elsewhere finds it too
            roots.append(str(Path(module.__file__).resolve().parents[entry.count(".") +
                                                                      (module.__file__.endswith("__init__.py"))]))
    if export and entries:
        absolute = [str(Path(e).resolve()) if e.endswith(".py") else e for e in entries]
        os.environ[ENV] = os.pathsep.join(absolute)
        paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(roots + paths))
    return found


def load_from_env() -> None:
    """Register the plugins a parent process exported (no contract check: it was checked there)."""
    value = os.environ.get(ENV, "")
    if value:
        load(value.split(os.pathsep), check=False, export=False)


def check_contract(name: str, *, source: str = "", n_tokens: int = 64, vocab: int = 23, seed: int = 0) -> None:
    """The suite's contract for an objective, on random float64 logits and labels (some ignored):
    Terms of shape [N]; finite loss; a bool ``keep`` within the counted tokens; a detached gate that
    is zero off ``keep``; and the logit gradient of the summed loss equal to
    ``gate * (softmax(z) - onehot(y))`` (what the chunked linear path, the gradient maps and the
    confident-conflict analysis rely on). Raises ValueError naming the objective and the failure."""
    from .api import terms
    from .core import REGISTRY, Terms

    where = f" (from plugin {source!r})" if source else ""
    if not NAME.match(name) or name in RESERVED:
        raise ValueError(f"objective {name!r}{where}: the name must match {NAME.pattern} and not be "
                         f"{sorted(RESERVED)} (it names a results folder and a table column)")

    def fail(what):
        raise ValueError(f"objective {name!r}{where} breaks the suite's contract: {what}")

    g = torch.Generator().manual_seed(seed)
    # spread logits so that the test covers confident and diffuse tokens
    z = (torch.randn(n_tokens, vocab, generator=g, dtype=torch.float64)
         * torch.linspace(0.1, 8.0, n_tokens, dtype=torch.float64)[:, None]).requires_grad_(True)
    y = torch.randint(0, vocab, (n_tokens,), generator=g)
    y[::7] = -100
    try:
        t = terms(name, z, y, **REGISTRY[name].defaults)
    except Exception as err:  # noqa: BLE001 - any failure of the user's code is reported with its name
        fail(f"calling it on logits [{n_tokens}, {vocab}] raised {type(err).__name__}: {err}")
    if not isinstance(t, Terms):
        fail(f"it must return deft.losses.Terms (e.g. from weighted_terms or deformed_terms), got {type(t).__name__}")
    for field in ("loss", "gate", "keep"):
        value = getattr(t, field)
        if not isinstance(value, torch.Tensor) or value.shape != (n_tokens,):
            fail(f"Terms.{field} must be a tensor of shape [{n_tokens}] (one value per token), got "
                 f"{getattr(value, 'shape', type(value).__name__)}")
    valid = y != -100
    if t.keep.dtype != torch.bool or (t.keep & ~valid).any():
        fail("Terms.keep must be a bool mask within the counted (label != ignore_index) tokens")
    if not torch.isfinite(t.loss).all() or not torch.isfinite(t.gate).all():
        fail("the per-token loss and gate must be finite")
    if t.gate.requires_grad:
        fail("Terms.gate must be detached (the gate is a weight, not a path for gradients)")
    if (t.gate[~t.keep] != 0).any() or (t.loss[~t.keep] != 0).any():
        fail("loss and gate must be 0 on tokens the objective does not keep")
    (grad,) = torch.autograd.grad(t.loss.sum(), z, allow_unused=True)
    grad = torch.zeros_like(z) if grad is None else grad
    pi = torch.softmax(z.detach(), dim=-1)
    onehot = torch.nn.functional.one_hot(torch.where(valid, y, 0), vocab).to(pi.dtype)
    expected = t.gate[:, None] * (pi - onehot)
    err = (grad - expected).abs().max().item()
    if err > 1e-6 * max(1.0, expected.abs().max().item()):
        worst = int((grad - expected).abs().amax(-1).argmax())
        fail(f"its logit gradient is not gate * (softmax - onehot): max difference {err:.3g} (token {worst}: "
             f"declared gate {t.gate[worst].item():.4g}); return the gate that the loss's gradient has")
