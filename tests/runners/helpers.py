"""Helpers for run tests: their processes and containers (workspaces come from `tests.gitutil`)."""

from __future__ import annotations

from mlr_copilot.runners.proctree import marked_processes

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
