"""`undo` runs git as plain processes through gitsafe (no GitPython), few of them, and reads
the log only back to the last MLR-Copilot commit."""

from __future__ import annotations

import subprocess

import pytest

from mlr_copilot.workspace import commits
from mlr_copilot.workspace.errors import (
    DetachedHeadError,
    DirtyTreeError,
    NoCommitsError,
    NothingToUndoError,
)
from mlr_copilot.workspace.git import GitWorkspace
from tests.cli.test_cli import cli, no_traceback
from tests.gitutil import git, make_repo, project_git_processes, status

TRAILERS = {"MLR-Hypothesis": "h1", "MLR-Step": "1"}


def test_nothing_to_undo_takes_three_git_processes(tmp_path):
    repo = make_repo(tmp_path / "r")
    with project_git_processes() as started, pytest.raises(NothingToUndoError, match="on branch main$"):
        GitWorkspace(repo).undo_last_agent_commit()
    assert [argv[0] for argv in started] == ["config", "rev-parse", "log"]


def test_an_undo_reverts_with_a_commit_in_ten_git_processes(tmp_path):
    repo = make_repo(tmp_path / "r", {"train.py": "lr = 0.1\n"})
    (repo / "train.py").write_text("lr = 0.01\n")
    agent = GitWorkspace(repo).commit_paths(["train.py"], "Lower lr", TRAILERS)
    with project_git_processes() as started:
        revert = GitWorkspace(repo).undo_last_agent_commit()
    # the configuration, the repository, the log; staged, touched and changed paths; the
    # identity (author, committer); the revert and its commit
    assert [argv[0] for argv in started] == ["config", "rev-parse", "log", "diff-index", "diff-tree", "status",
                                             "-c", "-c", "revert", "commit"]
    assert (repo / "train.py").read_text() == "lr = 0.1\n" and status(repo) == ""
    assert git(repo, "log", "-1", "--format=%H%n%s%n%(trailers:only)", "HEAD").split("\n")[:3] == [
        revert, 'Revert "Lower lr"', f"MLR-Reverts: {agent}"]


def test_the_log_is_read_only_back_to_the_last_agent_commit(tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "r", {"train.py": "lr = 0.1\n"})
    # a long past of the user's own below the agent's commit, written as one fast-import stream
    stream = "".join(f"commit refs/heads/main\ncommitter U <u@example.com> {1_700_000_000 + n} +0000\n"
                     f"data {len(f'user {n}')}\nuser {n}\n" + ("from refs/heads/main^0\n" if n == 0 else "") + "\n"
                     for n in range(2000))
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=stream, text=True, check=True)
    git(repo, "reset", "-q", "--hard")
    (repo / "train.py").write_text("lr = 0.01\n")
    agent = GitWorkspace(repo).commit_paths(["train.py"], "Lower lr", TRAILERS)
    git(repo, "commit", "-q", "--allow-empty", "-m", "after, of the user's own")
    parsed = []
    real = commits.parse_log
    monkeypatch.setattr(commits, "parse_log", lambda out: parsed.append(out) or real(out))
    assert GitWorkspace(repo).last_agent_commit().sha == agent
    assert len(parsed) == 2  # the user's commit on top, then the agent's: no further
    assert int(git(repo, "rev-list", "--count", "HEAD")) == 2003


def test_the_refusals_are_said_as_before(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    with pytest.raises(NoCommitsError, match="has no commits yet"):
        GitWorkspace(empty).undo_last_agent_commit()
    assert GitWorkspace(empty).last_agent_commit() is None
    repo = make_repo(tmp_path / "r", {"train.py": "lr = 0.1\n"})
    (repo / "train.py").write_text("lr = 0.01\n")
    GitWorkspace(repo).commit_paths(["train.py"], "Lower lr", TRAILERS)
    (repo / "train.py").write_text("lr = 0.5  # mine\n")
    with pytest.raises(DirtyTreeError, match=r"cannot undo .* \('Lower lr'\): train.py have uncommitted changes"):
        GitWorkspace(repo).undo_last_agent_commit()
    git(repo, "checkout", "-q", "--", "train.py")
    git(repo, "checkout", "-q", "--detach")
    with pytest.raises(DetachedHeadError, match="HEAD is detached"):
        GitWorkspace(repo).undo_last_agent_commit()


def test_undo_from_the_command_line(tmp_path):
    repo = make_repo(tmp_path / "r", {"train.py": "lr = 0.1\n"})
    nothing = cli("undo", "-w", str(repo))
    no_traceback(nothing)
    assert nothing.returncode == 2
    assert nothing.stderr.strip() == "mlr-copilot undo: no MLR-Copilot commit to undo on branch main"
    (repo / "train.py").write_text("lr = 0.01\n")
    GitWorkspace(repo).commit_paths(["train.py"], "Lower lr", TRAILERS)
    done = cli("undo", "-w", str(repo))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"reverted the last MLR-Copilot commit with {git(repo, 'rev-parse', 'HEAD')[:12]}"
    assert (repo / "train.py").read_text() == "lr = 0.1\n"
