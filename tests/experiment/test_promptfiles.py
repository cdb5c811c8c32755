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
def git_started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The git subcommands the project starts from now on (each still runs, for real), by name:
    `cat-file` reads a file at a commit (not the tests' own commands, which set no `--no-pager`)."""
    started: list[str] = []
    real = subprocess.run

    def counted(args, *rest, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(args, list) and args and Path(str(args[0])).name == "git" and "--no-pager" in args:
            started.append(str(args[args.index("--no-pager") + 1]))
        return real(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "run", counted)
    return started


def test_a_base_commit_is_read_once_however_many_prompts_show_it(tmp_path, git_started):
    ws = make_repo(tmp_path / "ws", {"train.py": "print('base')\n", "model.py": "W = 1\n"})
    base = git(ws, "rev-parse", "HEAD").strip()
    first = promptfiles.baseline_text(ws, base)
    reads = git_started.count("cat-file")
    assert first == "## train.py\n```\nprint('base')\n\n```\n\n## model.py\n```\nW = 1\n\n```"
    assert reads == len(promptfiles.STARTER_FILES)  # one per starter file, the first time

    assert [promptfiles.baseline_text(ws, base) for _ in range(10)] == [first] * 10
    assert git_started.count("cat-file") == reads  # no git process for the same commit again

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
    before = git_started.count("cat-file")
    promptfiles.baseline_text(two, sha)  # another workspace: its own entry (the sha may not be there)
    assert git_started.count("cat-file") == before + len(promptfiles.STARTER_FILES)


def test_the_paths_changed_since_the_base_in_the_order_first_changed_and_none_without_a_git_log(tmp_path,
                                                                                            git_started):
    ws = make_repo(tmp_path / "ws", {"train.py": "A = 1\n", "model.py": "B = 1\n"})
    base = git(ws, "rev-parse", "HEAD").strip()
    assert promptfiles.changed_since(ws, base) == []
    assert git_started[-1] == "diff"  # nothing changed: no history to order
    commit(ws, {"model.py": "B = 2\n"}, "one")
    commit(ws, {"train.py": "A = 2\n"}, "two")
    commit(ws, {"new.py": "C = 1\n"}, "three")
    commit(ws, {"model.py": "B = 1\n"}, "model.py back as it was")
    assert promptfiles.changed_since(ws, base) == ["train.py", "new.py"]
    assert git_started[-2:] == ["diff", "log"]
