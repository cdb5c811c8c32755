"""Research tasks: a folder with starter code and a `task.toml` that says what the problem
is, how to run the experiment and which metric decides. The bundled tasks live in
`workspaces/` of a checkout, or `mlr_copilot/workspaces` inside an installed wheel.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, NamedTuple

import tomllib

from .errors import MlrError
from .objective import Direction
from .plain import EMPTY_LIST, from_json
from .run_setup import TASK_FILE

__all__ = ["TASK_FILE", "Metric", "Task", "TaskError", "bundled_tasks_root", "get_task", "list_tasks", "load_task"]

# A plain record read by `plain.from_json` (types) and checked here (`_checked`: values), not a
# pydantic model: `history` reads the workspace's task for its objective and starts without pydantic.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class TaskError(MlrError):
    """A task folder that cannot be used: no description, bad TOML, a missing field."""


def _filled(name: str, value: str) -> None:
    if not value:
        raise ValueError(f"{name}: should have at least 1 character")


class Metric(NamedTuple):
    name: str
    direction: Direction
    file: str = "results.json"


class Task(NamedTuple):
    name: str
    title: str
    kind: Literal["offline", "download"]
    description: str
    command: str
    metric: Metric
    # the task folder; set by the loader, not read from task.toml
    folder: Path
    baseline_seconds: float | None = None
    prepare: str | None = None
    requirements: list[str] = EMPTY_LIST
    paper: str | None = None
    # a separate final evaluation (e.g. on a held-out split): run once, on the search's winner
    final_command: str | None = None

    @property
    def paper_path(self) -> Path | None:
        return self.folder / self.paper if self.paper else None


def _checked(task: Task) -> Task:
    """`task` when its values are those a task may have, else ValueError naming the field."""
    _filled("metric.name", task.metric.name)
    _filled("metric.file", task.metric.file)
    for name in ("name", "title", "description", "command"):
        _filled(name, getattr(task, name))
    if not _NAME.match(task.name):
        raise ValueError(f"name: should match {_NAME.pattern}")
    if task.baseline_seconds is not None and not task.baseline_seconds > 0:
        raise ValueError("baseline_seconds: should be greater than 0")
    return task


def _stripped(value: Any) -> Any:
    """Every string of a TOML value without its surrounding whitespace."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return [_stripped(item) for item in value]
    if isinstance(value, dict):
        return {key: _stripped(item) for key, item in value.items()}
    return value


def _unknown(raw: dict[str, Any]) -> list[str]:
    """The keys of `raw` that are no field of a task (or of its metric)."""
    fields = set(Task._fields) - {"folder"}
    metric = raw.get("metric")
    extra = [key for key in raw if key not in fields]
    if isinstance(metric, dict):
        extra += [f"metric.{key}" for key in metric if key not in Metric._fields]
    return extra


def load_task(folder: Path | str) -> Task:
    """Read `<folder>/task.toml` into a Task, or raise TaskError naming the file and fault."""
    folder = Path(folder).resolve()
    path = folder / TASK_FILE
    if not folder.is_dir():
        raise TaskError(f"{folder}: not a folder, so no task description")
    if not path.is_file():
        raise TaskError(f"{folder}: no task description (expected {TASK_FILE})")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise TaskError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TaskError(f"{path}: invalid TOML: {exc}") from exc
    if "metric" not in raw:
        raise TaskError(f"{path}: missing the [metric] table (name and direction of the metric)")
    if "folder" in raw:
        raise TaskError(f"{path}: 'folder' is not a task field")
    if extra := _unknown(raw):
        raise TaskError(f"{path}: {', '.join(extra)}: not a task field")
    try:
        task = _checked(from_json(Task, {**_stripped(raw), "folder": str(folder)}))
    except ValueError as exc:
        raise TaskError(f"{path}: {exc}") from exc
    if task.kind == "download" and not task.prepare:
        raise TaskError(f"{path}: a download task needs 'prepare', the command that fetches its data")
    if task.paper_path is not None and not task.paper_path.is_file():
        raise TaskError(f"{path}: paper '{task.paper}' is not a file in the task folder")
    return task


def list_tasks(root: Path | str) -> list[Task]:
    """Every task under `root` (one folder deep), sorted by name. Folders without a
    task.toml are not tasks and are passed over; a broken task.toml is an error."""
    root = Path(root)
    if not root.is_dir():
        raise TaskError(f"{root}: no such folder of tasks")
    tasks = [
        load_task(child)
        for child in sorted(root.iterdir())
        if child.is_dir() and (child / TASK_FILE).is_file()
    ]
    seen: dict[str, Path] = {}
    for task in tasks:
        if task.name in seen:
            raise TaskError(f"two tasks are named '{task.name}': {seen[task.name]} and {task.folder}")
        seen[task.name] = task.folder
    return sorted(tasks, key=lambda task: task.name)


def get_task(name: str, root: Path | str | None = None) -> Task:
    """The task called `name` among the bundled tasks (or those under `root`)."""
    tasks = list_tasks(root if root is not None else bundled_tasks_root())
    for task in tasks:
        if task.name == name:
            return task
    known = ", ".join(task.name for task in tasks) or "none"
    raise TaskError(f"no task named '{name}' (known: {known})")


def bundled_tasks_root() -> Path:
    """`mlr_copilot/workspaces` in an installed wheel, else `workspaces/` of the checkout."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "workspaces", package.parents[1] / "workspaces"):
        if candidate.is_dir():
            return candidate
    raise TaskError(f"the bundled tasks are missing: neither {package / 'workspaces'} nor "
                    f"{package.parents[1] / 'workspaces'} exists")
