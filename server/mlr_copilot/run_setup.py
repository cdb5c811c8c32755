"""Run set-up in one place: which objective judges a run and what a run executes, for the
engine's commands (run, debug, history) and the autonomous mode alike.

Precedence of the objective: the `run.metric` setting, else the plan of the hypothesis whose
branch is checked out, else the workspace's task description (`task.toml`). The direction is
the `run.direction` setting where it is set; else the task's when the metric is the task's;
else the plan's for a plan's metric; else "maximize". The autonomous mode passes no hypothesis:
its sessions are judged on the task's metric, whatever a hypothesis's plan names.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .objective import Direction, Objective

if TYPE_CHECKING:
    from .config import RunSettings
    from .ideas.model import Hypothesis
    from .ideas.summary import HypothesisSummary
    from .runners.model import RayTarget, RunRequest
    from .taskfile import Task

DEFAULT_COMMAND = "python train.py"
# the task description a task folder holds (`taskfile.py` reads it)
TASK_FILE = "task.toml"


def workspace_task(workspace: Path) -> Task | None:
    """The workspace's task description, or None when it has none that can be read."""
    if not (Path(workspace) / TASK_FILE).is_file():
        return None  # no task: no task model (pydantic) to import, `history` starts without it
    from .taskfile import TaskError, load_task

    try:
        return load_task(workspace)
    except TaskError:
        return None


def run_objective(metric: str | None, direction: Direction | None, workspace: Path,
                  hypothesis: Hypothesis | HypothesisSummary | None = None) -> Objective | None:
    """The objective a run in `workspace` is judged by (see the module's precedence), or None
    when nothing names a metric; `metric` and `direction` are the `run` settings'."""
    task = workspace_task(workspace)
    if metric:
        named_by_task = task is not None and task.metric.name == metric
        return Objective(metric, direction or (task.metric.direction if task and named_by_task else "maximize"))
    if hypothesis is not None:
        return Objective(hypothesis.plan.metric, hypothesis.plan.direction)
    if task is not None:
        return Objective(task.metric.name, direction or task.metric.direction)
    return None


def run_command(run: RunSettings, workspace: Path, hypothesis: Hypothesis | None = None) -> str:
    """The experiment's command: the setting, the plan's, the task's, else `python train.py`."""
    if run.command:
        return run.command
    if hypothesis is not None and hypothesis.plan.command:
        return hypothesis.plan.command
    task = workspace_task(workspace)
    return task.command if task is not None else DEFAULT_COMMAND


def run_request(run: RunSettings, workspace: Path, command: str | list[str] | None = None,
                timeout: float | None = None, hypothesis: Hypothesis | None = None) -> RunRequest:
    """What one run executes and within which limits, from the `run` settings."""
    from .runners.model import RunRequest  # the run's models: only the commands that run

    return RunRequest(
        workspace=str(workspace), command=run_command(run, workspace, hypothesis) if command is None else command,
        timeout=timeout or run.timeout, memory_mb=run.memory_mb, cpus=run.cpus, max_processes=run.max_processes,
        max_output_mb=run.max_output_mb, network=run.network, gpus=run.gpus, image=run.image,
        results_file=run.results_file, ray=ray_target(run),
    )


def ray_target(run: RunSettings) -> RayTarget:
    """What a `ray` run asks: its GPUs are `run.rayNumGpus`, else `run.gpusPerRun`, else none."""
    from .runners.model import RayTarget  # as in `run_request`

    gpus = run.ray_num_gpus if run.ray_num_gpus is not None else run.gpus_per_run or 0
    return RayTarget(address=run.ray_address, num_cpus=run.ray_num_cpus, num_gpus=gpus,
                     resources=run.ray_resources, code=run.ray_code, sandbox=run.ray_sandbox)
