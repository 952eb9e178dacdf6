"""The documentation's code blocks that are marked safe for CPU run, so README.md and docs/*.md
cannot drift from the code.

Convention (docs/testing.md): an HTML comment, invisible when rendered, on the line directly before
an opening fence marks the block::

    <!-- doctest: cpu -->                 (per-block limit 180 s)
    <!-- doctest: cpu timeout=300 -->     (a longer limit, in seconds)

* ``bash``/``sh``/``shell`` blocks run with ``bash -euo pipefail`` from the root of a temporary copy
  of the repository (the files git tracks or would track), so whatever they write is thrown away;
  this interpreter's ``bin/`` is first on PATH, PYTHONPATH is the copy, and the hubs are offline
  (HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1).
* ``python`` blocks run as a script with this interpreter in an empty temporary directory (what
  they write lands there), PYTHONPATH the repository, the hubs offline.

A block passes when it exits 0. Unmarked blocks are not run. Mark only blocks that are safe
(offline, CPU, nothing outside their directory) and quick (seconds to a couple of minutes on 2
cores). The collection fails when no block is marked, when a marker is not directly followed by a
fence, names another language, or carries an unknown option.

Select with ``pytest -m docs``.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.docs

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"^\s*<!--\s*doctest:\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+-]*)")
LANGS = {"bash": "bash", "sh": "bash", "shell": "bash", "python": "python"}
DEFAULT_TIMEOUT = 180
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "MPLBACKEND": "Agg"}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str  # "bash" or "python"
    code: str
    timeout: int

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}-{self.lang}"


def parse(page: Path) -> tuple[list[Block], list[str]]:
    """The marked blocks of one Markdown page, and what is wrong with its markers."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks, errors = [], []
    where = page.relative_to(ROOT)
    i = 0
    while i < len(lines):
        marker, fence = MARKER.match(lines[i]), FENCE.match(lines[i])
        if fence:  # an unmarked block: skip it whole (a marker shown inside it is an example)
            i = _closing(lines, i, fence.group(1)) + 1
            continue
        if not marker:
            i += 1
            continue
        options = marker.group(1).split()
        fence = FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
        if not options or options[0] != "cpu":
            errors.append(f"{where}:{i + 1}: marker {lines[i].strip()!r}: the first word must be 'cpu'")
        elif fence is None:
            errors.append(f"{where}:{i + 1}: marker is not directly followed by a ``` fence")
        elif fence.group(2) not in LANGS:
            errors.append(f"{where}:{i + 2}: marked block has language {fence.group(2)!r}; allowed: {sorted(LANGS)}")
        else:
            timeout, bad = DEFAULT_TIMEOUT, [o for o in options[1:] if not re.fullmatch(r"timeout=\d+", o)]
            if bad:
                errors.append(f"{where}:{i + 1}: unknown marker option(s) {bad}; allowed: timeout=SECONDS")
            for option in options[1:]:
                if option.startswith("timeout=") and not bad:
                    timeout = int(option.split("=", 1)[1])
            end = _closing(lines, i + 1, fence.group(1))
            if end == len(lines):
                errors.append(f"{where}:{i + 2}: marked block is never closed")
            blocks.append(Block(page, i + 2, LANGS[fence.group(2)], "\n".join(lines[i + 2:end]) + "\n", timeout))
            i = end + 1
            continue
        i += 1
    return blocks, errors


def _closing(lines: list[str], start: int, opening: str) -> int:
    """Index of the fence closing the block opened at ``start`` (len(lines) if none)."""
    for j in range(start + 1, len(lines)):
        stripped = lines[j].strip()
        if stripped and set(stripped) == {opening[0]} and len(stripped) >= len(opening):
            return j
    return len(lines)


def collect() -> tuple[list[Block], list[str]]:
    blocks, errors = [], []
    for page in PAGES:
        b, e = parse(page)
        blocks += b
        errors += e
    return blocks, errors


BLOCKS, ERRORS = collect()


def test_marked_blocks_exist_and_markers_are_well_formed():
    assert not ERRORS, "\n".join(ERRORS)
    assert BLOCKS, "no code block of README.md or docs/*.md is marked <!-- doctest: cpu -->"
    readme = [b for b in BLOCKS if b.page.name == "README.md"]
    assert any(b.lang == "python" for b in readme), "the README's Python examples must be marked and run"
    assert any(b.lang == "bash" for b in BLOCKS), "no shell block is marked"


def test_parser_finds_marked_blocks_and_rejects_bad_markers(tmp_path, monkeypatch):
    """The parser itself: a marked block is found, an example inside an unmarked fence is not,
    and malformed markers are reported (so a typo cannot silently turn a test off)."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    page = tmp_path / "page.md"
    page.write_text("\n".join([
        "<!-- doctest: cpu timeout=7 -->", "```bash", "echo ok", "```",
        "````markdown", "<!-- doctest: cpu -->", "```python", "raise SystemExit(1)", "```", "````",
        "<!-- doctest: gpu -->", "```bash", "true", "```",
        "<!-- doctest: cpu -->", "", "```bash", "true", "```",
        "<!-- doctest: cpu -->", "```yaml", "a: 1", "```",
        "<!-- doctest: cpu tiemout=5 -->", "```python", "pass", "```",
    ]) + "\n")
    blocks, errors = parse(page)
    assert [(b.line, b.lang, b.code, b.timeout) for b in blocks][0] == (2, "bash", "echo ok\n", 7)
    assert [b.line for b in blocks] == [2, 25]
    assert len(errors) == 4, errors
    assert "first word must be 'cpu'" in errors[0] and "not directly followed" in errors[1]
    assert "language 'yaml'" in errors[2] and "tiemout=5" in errors[3]


def _repo_copy(dest: Path) -> Path:
    """The files git tracks or would track (not the ignored ones: .venv, outputs) copied to dest."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _env(pythonpath: Path) -> dict:
    env = {**os.environ, **OFFLINE, "PYTHONPATH": str(pythonpath)}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")  # the venv's python first
    return env


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_doc_block_runs(block: Block, tmp_path):
    if block.lang == "bash":
        cwd = _repo_copy(tmp_path / "repo")
        cmd, env = ["bash", "-euo", "pipefail", "-c", block.code], _env(cwd)
    else:
        cwd = tmp_path / "work"
        cwd.mkdir()
        (cwd / "block.py").write_text(block.code)
        cmd, env = [sys.executable, "block.py"], _env(ROOT)
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=block.timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{block.id}: still running after {block.timeout} s (marker option timeout=SECONDS)")
    assert proc.returncode == 0, (f"{block.id} exited {proc.returncode}\n--- block ---\n{block.code}"
                                  f"--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-5000:]}")


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"^(```|~~~).*?^\1", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in re.findall(r"^#+ (.*)$", text, re.M)}


def test_relative_links_resolve():
    """Every relative link of README.md, docs/*.md and CHANGELOG.md names an existing file, and an
    existing heading where it has an anchor (pages move, sections get renamed)."""
    broken = []
    for page in [*PAGES, ROOT / "CHANGELOG.md"]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no heading #{anchor})")
    assert not broken, "\n".join(broken)
