"""Helpers for tests that drive real git repositories in temporary folders."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

USER = ["-c", "user.name=Test User", "-c", "user.email=user@example.com"]


def git(repo: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(["git", *USER, *args], cwd=repo, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    """A repository on branch main with `files` committed as the first commit."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "--initial-branch=main")
    for rel, text in (files or {"train.py": "print('train')\n"}).items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def status(repo: Path) -> str:
    return git(repo, "status", "--porcelain=v1", "--untracked-files=all")


def snapshot(repo: Path) -> dict[str, bytes]:
    """Every file outside .git, by content."""
    return {
        p.relative_to(repo).as_posix(): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }


def git_processes_in(workspace) -> list[int]:
    """The git processes working in `workspace` (Linux's /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "git" \
                    and os.readlink(entry / "cwd") == str(workspace):
                found.append(int(entry.name))
        except OSError:
            continue
    return found
