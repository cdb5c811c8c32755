"""Running a task's scripts the way a user would: a private copy of the folder, a real
Python process, no network."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from mlr_copilot.taskfile import Task

LEFTOVERS = shutil.ignore_patterns("data", "__pycache__", "results.json", "predictions.csv")


def copy_task(task: Task, into: Path) -> Path:
    target = into / task.name
    shutil.copytree(task.folder, target, ignore=LEFTOVERS)
    return target


def offline_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        # Any request that slips through goes to a closed local port and fails at once.
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        NO_PROXY="",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def run(folder: Path, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(command)
    if argv[0] in {"python", "python3"}:
        argv[0] = sys.executable
    return subprocess.run(argv, cwd=folder, env=offline_env(), capture_output=True, text=True, timeout=timeout)


def tree(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}
