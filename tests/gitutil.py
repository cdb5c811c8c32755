"""The one git helper for tests that drive real repositories in temporary folders: the test's
own git commands (setting up, then looking at what the project did), never the project's."""

from __future__ import annotations

import os
import subprocess
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

USER = ["-c", "user.name=Test User", "-c", "user.email=user@example.com"]


def git(repo: Path | str, *args: str, check: bool = True) -> str:
    """The output of `git ARGS` in `repo`, with an identity for any commit it makes."""
    done = subprocess.run(["git", *USER, *args], cwd=repo, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def write(workspace: Path, name: str, text: str) -> Path:
    """`text` (dedented, so a test can indent a script it spells out) as the file `name`."""
    path = workspace / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def make_repo(path: Path, files: dict[str, str] | None = None, message: str = "initial") -> Path:
    """A repository on branch main with `files` committed as the first commit."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "--initial-branch=main")
    for rel, text in (files or {"train.py": "print('train')\n"}).items():
        write(path, rel, text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", message)
    return path


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    """Write `files` and commit everything; the new commit's sha."""
    for name, text in files.items():
        write(repo, name, text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def status(repo: Path) -> str:
    return git(repo, "status", "--porcelain=v1", "--untracked-files=all")


def snapshot(repo: Path) -> dict[str, bytes]:
    """Every file outside .git, by content."""
    return {
        p.relative_to(repo).as_posix(): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }


def git_processes_in(workspace: Path) -> list[int]:
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


@contextmanager
def project_git_processes() -> Iterator[list[list[str]]]:
    """The argv (after `git --no-pager`) of every git process the project starts meanwhile,
    gitsafe's read of the configuration included (its cache is emptied first); a test's own
    git commands (`git`, above) are not the project's and are left out."""
    from mlr_copilot.workspace import gitsafe

    started: list[list[str]] = []
    real = subprocess.Popen

    class Counted(real):  # type: ignore[valid-type,misc]
        def __init__(self, args, *rest, **options):
            if list(args[:2]) == ["git", "--no-pager"]:
                started.append(list(args[2:]))
            super().__init__(args, *rest, **options)

    gitsafe._cache.clear()
    subprocess.Popen = Counted  # type: ignore[misc]
    try:
        yield started
    finally:
        subprocess.Popen = real  # type: ignore[misc]
