"""The starter files every change prompt opens with (`promptfiles.baseline_text`): read once per
process for a commit named by its sha, whose files never change, and afresh for a ref or the
working copy, which do. Counted in real git processes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlr_copilot.experiment import promptfiles
from tests.gitutil import commit, git, make_repo


@pytest.fixture
def git_started(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The git commands started from now on (each still runs, for real): the tests count the
    reads of a file at a commit (`cat-file`), not the tests' own commands or gitsafe's one look at
    a repository's configuration."""
    started: list[list[str]] = []
    real = subprocess.run

    def counted(args, *rest, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(args, list) and args and Path(str(args[0])).name == "git" and "cat-file" in args:
            started.append([str(a) for a in args])
        return real(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "run", counted)
    return started


def test_a_base_commit_is_read_once_however_many_prompts_show_it(tmp_path, git_started):
    ws = make_repo(tmp_path / "ws", {"train.py": "print('base')\n", "model.py": "W = 1\n"})
    base = git(ws, "rev-parse", "HEAD").strip()
    first = promptfiles.baseline_text(ws, base)
    reads = len(git_started)
    assert first == "## train.py\n```\nprint('base')\n\n```\n\n## model.py\n```\nW = 1\n\n```"
    assert reads == len(promptfiles.STARTER_FILES)  # one per starter file, the first time

    assert [promptfiles.baseline_text(ws, base) for _ in range(10)] == [first] * 10
    assert len(git_started) == reads  # no git process for the same commit again

    later = commit(ws, {"train.py": "print('later')\n"}, "later")
    assert "print('later')" in promptfiles.baseline_text(ws, later)
    assert promptfiles.baseline_text(ws, base) == first  # each commit its own files


def test_a_ref_and_the_working_copy_are_read_afresh(tmp_path):
    ws = make_repo(tmp_path / "ws", {"train.py": "print('base')\n"})
    assert "print('base')" in promptfiles.baseline_text(ws, "main")
    commit(ws, {"train.py": "print('moved')\n"}, "moved")
    assert "print('moved')" in promptfiles.baseline_text(ws, "main")  # a branch moves: never kept
    (ws / "train.py").write_text("print('edited')\n")
    assert "print('edited')" in promptfiles.baseline_text(ws, None)


def test_the_same_sha_in_another_repository_is_read_there(tmp_path, git_started):
    one = make_repo(tmp_path / "one", {"train.py": "print('same')\n"})
    two = make_repo(tmp_path / "two", {"train.py": "print('same')\n"})
    sha = git(one, "rev-parse", "HEAD").strip()
    promptfiles.baseline_text(one, sha)
    before = len(git_started)
    promptfiles.baseline_text(two, sha)  # another workspace: its own entry (the sha may not be there)
    assert len(git_started) == before + len(promptfiles.STARTER_FILES)
