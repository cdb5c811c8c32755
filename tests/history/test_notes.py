"""Where HEAD is and the run notes (`workspace.commits`, `workspace.notes`), read from real
repositories with one git call each."""

from __future__ import annotations

from mlr_copilot.workspace.commits import head_info
from mlr_copilot.workspace.notes import _has_identity, append_note, read_notes
from tests.gitutil import git, make_repo, write


def test_head_info_of_a_branch_clean_and_dirty(tmp_path):
    repo = make_repo(tmp_path / "repo", {"train.py": "print(1)\n"})
    sha = git(repo, "rev-parse", "HEAD").strip()
    head = head_info(repo)
    assert (head.commit, head.branch, head.dirty) == (sha, "main", False)
    write(repo, "checkpoint.bin", "untracked outputs do not make a run dirty")
    assert head_info(repo).dirty is False
    write(repo, "train.py", "print(2)\n")
    assert head_info(repo).dirty is True
    git(repo, "add", "train.py")
    assert head_info(repo).dirty is True, "a staged change is a change too"


def test_head_info_detached_unborn_and_outside_git(tmp_path):
    repo = make_repo(tmp_path / "repo")
    sha = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "--detach")
    head = head_info(repo)
    assert (head.commit, head.branch) == (sha, None)

    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    assert head_info(empty) is None
    plain = tmp_path / "plain"
    plain.mkdir()
    assert head_info(plain) is None


def test_note_uses_the_users_identity_and_falls_back_without_one(tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "repo")
    sha = git(repo, "rev-parse", "HEAD").strip()
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Researcher")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "researcher@example.com")
    assert append_note(repo, sha, '{"run":"a"}')
    assert git(repo, "log", "-1", "--format=%cn", "refs/notes/mlr").strip() == "Researcher"

    # no identity anywhere, and git told not to guess one
    for name in ("GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "EMAIL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "user.useConfigOnly")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "true")
    _has_identity.cache_clear()
    try:
        assert append_note(repo, sha, '{"run":"b"}')
    finally:
        _has_identity.cache_clear()
    assert read_notes(repo, sha).split() == ['{"run":"a"}', '{"run":"b"}']
    assert git(repo, "log", "-1", "--format=%cn", "refs/notes/mlr").strip() == "MLR-Copilot"
