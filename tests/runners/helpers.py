"""Real workspaces for run tests: a folder with scripts, optionally a git repository."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

from mlr_copilot.runners.proctree import marked_processes

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def write(workspace: Path, name: str, text: str) -> Path:
    path = workspace / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def make_repo(path: Path, files: dict[str, str] | None = None, message: str = "initial") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    for name, text in (files or {"README.md": "demo\n"}).items():
        write(path, name, text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", message)
    return path


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        write(repo, name, text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def leftover_processes(run_id: str) -> set[int]:
    return marked_processes(run_id)


def remove_containers(*containers) -> None:
    """Remove a test's containers whatever state it left them in (a removed one is fine)."""
    for container in containers:
        try:
            container.remove(force=True)
        except Exception:
            pass
