"""Bundled tasks as workspaces: a fresh copy to work in, its data readied by the task's
`prepare` command, and the task's description as a `Paper` when it has no paper of its own."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MlrError
from ..taskfile import Task, bundled_tasks_root, load_task

if TYPE_CHECKING:
    from ..paper import Paper

# outputs of earlier runs and caches never travel with a copy
COPY_IGNORE = shutil.ignore_patterns("results.json", "predictions.csv", "__pycache__", ".mlr", ".git", "data")


class UnpreparedError(MlrError):
    """A task whose `prepare` command did not ready its data; the message is the command's own."""


def copy_task(task: Task, target: Path, *, with_data: bool = False) -> Path:
    """A fresh copy of the task folder; `with_data` takes its prepared `data/` along."""
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise MlrError(f"{target} is not empty: give a new folder for the copy of {task.name}")
    shutil.copytree(task.folder, target, ignore=COPY_IGNORE, dirs_exist_ok=True)
    if with_data and (task.folder / "data").is_dir():
        # data can be large (CIFAR-10, BabyLM) and experiments only read it: hard links cost no space
        shutil.copytree(task.folder / "data", target / "data", copy_function=_link_or_copy)
    return target


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copy2(source, target)


def prepare_task(task: Task, target: Path, *, online: bool, timeout: float) -> Task:
    """The task copied to `target` (with any data already in its folder) and readied there by its
    `prepare` command, once, so every attempt starts from the same data."""
    folder = copy_task(task, target, with_data=True)
    argv = shlex.split(task.prepare)
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable  # the Python that runs the experiments, with their packages
    env = dict(os.environ)
    if not online:
        env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    try:
        done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UnpreparedError(f"`{task.prepare}` did not finish within {timeout:g}s in {folder}") from None
    except OSError as exc:
        raise UnpreparedError(f"`{task.prepare}` could not start in {folder}: {exc}") from None
    if done.returncode != 0:
        said = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        reason = said[-1] if said else f"exited with code {done.returncode}"
        raise UnpreparedError(f"`{task.prepare}` failed in {folder}: {reason}")
    return load_task(folder)


def bundled_task(name: str) -> Task:
    return load_task(bundled_tasks_root() / name)


def paper_from_task(task: Task) -> Paper:
    """The task's description as a one-section paper, so the ideas phase can start from it."""
    # the paper package brings the PDF reader along: only the commands that start from a task
    from ..paper import Paper, Section

    readme = task.folder / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    body = f"{task.description}\n\nThe experiment runs with `{task.command}` and reports {task.metric.name} ({task.metric.direction})."
    return Paper(
        title=task.title, authors=[], abstract=task.description,
        sections=[Section(heading="Task", text=body), *([Section(heading="README", text=text)] if text else [])],
        references=[], pages=0, path=str(task.folder / "task.toml"),
        sha256=hashlib.sha256(body.encode()).hexdigest(),
    )
