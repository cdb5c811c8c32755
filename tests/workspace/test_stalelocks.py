"""A git process killed while it held `.git/index.lock` blocks the user's next git commands:
the next start removes such a lock, and never one a live git holds. Real git, real processes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from mlr_copilot.workspace import gitsafe, stalelocks, worktrees
from tests.gitutil import git, make_repo

IDENTITY = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@t"}


def slow_editor(tmp_path: Path) -> tuple[str, Path]:
    """An editor that waits (git holds `index.lock` meanwhile for `commit -a`) and notes its pid."""
    pid_file = tmp_path / "editor.pid"
    script = tmp_path / "editor.sh"
    script.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 60\n")
    script.chmod(0o755)
    return str(script), pid_file


def end_editor(pid_file: Path) -> None:
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        except ProcessLookupError:
            pass


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def commit_all_works(repo: Path) -> bool:
    return subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@t", "commit", "-qam", "next"],
                          cwd=repo, capture_output=True).returncode == 0


def test_a_lock_left_by_a_git_mlr_copilot_killed_is_removed_at_the_next_start(tmp_path, caplog):
    repo = make_repo(tmp_path / "ws", {"train.py": "v = 1\n"})
    (repo / "train.py").write_text("v = 2\n")
    editor, pid_file = slow_editor(tmp_path)
    lock = repo / ".git" / "index.lock"
    try:
        # a git command of the project that exceeds its timeout is killed (SIGKILL) mid-write
        with pytest.raises(subprocess.TimeoutExpired):
            gitsafe.run(repo, "commit", "-a", env={"GIT_EDITOR": editor, **IDENTITY}, timeout=2)
        assert lock.exists() and not commit_all_works(repo)
        age(lock, stalelocks.STALE_AFTER_S + 1)

        with caplog.at_level(logging.WARNING):
            worktrees.prune(repo)  # what every start runs
    finally:
        end_editor(pid_file)
    assert not lock.exists()
    [warning] = [r.getMessage() for r in caplog.records if "index.lock" in r.getMessage()]
    assert "\n" not in warning and "removed" in warning
    assert commit_all_works(repo) and git(repo, "show", "HEAD:train.py") == "v = 2\n"


def test_a_lock_a_live_git_holds_is_never_removed_and_a_young_one_is_left_alone(tmp_path):
    repo = make_repo(tmp_path / "ws", {"train.py": "v = 1\n"})
    (repo / "train.py").write_text("v = 2\n")
    editor, pid_file = slow_editor(tmp_path)
    lock = repo / ".git" / "index.lock"
    holder = subprocess.Popen(["git", "-c", "user.name=T", "-c", "user.email=t@t", "commit", "-a"], cwd=tmp_path / "ws",
                              env={**os.environ, "GIT_EDITOR": editor}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (lock.exists() and pid_file.exists()):
            assert time.monotonic() < deadline and holder.poll() is None
            time.sleep(0.02)
        age(lock, 3600)
        assert stalelocks.clear_stale_locks(repo) == [] and lock.exists()  # the user is typing the message

        holder.kill()
        holder.wait()
        end_editor(pid_file)
        age(lock, 1)
        assert stalelocks.clear_stale_locks(repo) == [] and lock.exists()  # young: may be a git starting now
        age(lock, stalelocks.STALE_AFTER_S + 1)
        [warning] = stalelocks.clear_stale_locks(repo)
        assert "index.lock" in warning and not lock.exists()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        end_editor(pid_file)


def test_where_processes_cannot_be_seen_the_user_is_told_what_to_delete(tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "ws")
    lock = repo / ".git" / "refs" / "notes" / "mlr.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("")
    age(lock, 3600)
    monkeypatch.setattr(stalelocks, "_PROC", tmp_path / "no-proc")
    [warning] = stalelocks.clear_stale_locks(repo)
    assert lock.exists() and f"rm '{lock}'" in warning and "\n" not in warning


def test_a_lock_too_young_at_the_start_is_judged_again_once_the_command_has_waited_for_it(tmp_path, caplog):
    from mlr_copilot.workspace.git import GitWorkspace

    repo = make_repo(tmp_path / "ws", {"train.py": "v = 1\n"})
    (repo / "train.py").write_text("v = 2\n")
    lock = repo / ".git" / "index.lock"
    lock.write_text("")  # left a moment ago by a git killed with the command that started it
    with caplog.at_level(logging.WARNING):
        sha = GitWorkspace(repo).commit_paths(["train.py"], "next")
    assert not lock.exists() and git(repo, "rev-parse", "HEAD").strip() == sha
    assert git(repo, "show", "HEAD:train.py") == "v = 2\n"
    [warning] = [r.getMessage() for r in caplog.records if "index.lock" in r.getMessage()]
    assert warning.startswith("removed ") and "\n" not in warning
