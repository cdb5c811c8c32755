"""Helpers for run tests: their processes and containers (workspaces come from `tests.gitutil`)."""

from __future__ import annotations

from pathlib import Path

from mlr_copilot.runners.proctree import marked_processes
from tests.gitutil import git

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def leftover_processes(run_id: str) -> set[int]:
    return marked_processes(run_id)


def remove_containers(*containers) -> None:
    """Remove a test's containers whatever state it left them in (a removed one is fine)."""
    for container in containers:
        try:
            container.remove(force=True)
        except Exception:
            pass


def worktrees_listed(repo: Path) -> list[str]:
    return [line for line in git(repo, "-c", "safe.directory=*", "worktree", "list", "--porcelain").splitlines() if line.startswith("worktree ")]


def only_clean_idle_trees(repo: Path) -> None:
    """What runs leave: no worktree but the pool's idle ones (`run.reuseWorktrees`), each
    exactly its commit's files, nothing of a run in it and no owner."""
    folder = repo / ".mlr" / "worktrees"
    trees = sorted(p for p in folder.iterdir() if p.is_dir())
    assert all(p.name.startswith("pool-") for p in trees), trees
    assert worktrees_listed(repo) == [f"worktree {repo}"] + [f"worktree {p}" for p in trees]
    assert not list(folder.glob("*.owner.json"))
    for tree in trees:
        assert git(tree, "-c", "safe.directory=*", "--no-optional-locks", "status", "--porcelain", "--ignored", "--untracked-files=all") == ""
