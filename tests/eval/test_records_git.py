"""A record's git_dirty says whether the source differed from its commit: the study's own tracked
records under results/, which the pipeline writes over while it runs, do not count."""
import subprocess

from deft.eval.records import git_state


def git(repo, *args):
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=repo, check=True,
                   capture_output=True)


def test_git_dirty_counts_the_source_not_the_results(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results/record.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "start")
    assert git_state(tmp_path)["git_dirty"] is False
    (tmp_path / "results/record.json").write_text('{"new": 1}')  # a run rewrote a shipped record
    assert git_state(tmp_path)["git_dirty"] is False
    assert git_state(tmp_path / "results")["git_dirty"] is False  # from below the root too
    (tmp_path / "code.py").write_text("x = 2\n")
    state = git_state(tmp_path)
    assert state["git_dirty"] is True and len(state["git_commit"]) == 40
