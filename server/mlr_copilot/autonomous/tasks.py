"""Bundled tasks as workspaces: a fresh copy to work in, and the task's description as a
`Paper` when the task has no paper of its own."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from ..errors import MlrError
from ..tasks import Task, bundled_tasks_root, load_task

# outputs of earlier runs and caches never travel with a copy
COPY_IGNORE = shutil.ignore_patterns("results.json", "predictions.csv", "__pycache__", ".mlr", ".git", "data")


def copy_task(task: Task, target: Path) -> Path:
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise MlrError(f"{target} is not empty: give a new folder for the copy of {task.name}")
    shutil.copytree(task.folder, target, ignore=COPY_IGNORE, dirs_exist_ok=True)
    return target


def bundled_task(name: str) -> Task:
    return load_task(bundled_tasks_root() / name)


def paper_from_task(task: Task):
    """The task's description as a one-section paper, so the ideas phase can start from it."""
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
