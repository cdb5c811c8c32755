"""What a run is asked to do (`RunRequest`) and what is kept of it (`RunRecord`, `Failure`).

Records are saved as JSON under `.mlr/runs/` and summarised in git notes; NaN and infinite
metric values are kept as the JSON constants `NaN`/`Infinity` so a diverged run reads back
exactly as it ended.
"""

from __future__ import annotations

import shlex
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RunStatus = Literal["passed", "failed", "timeout", "oom", "cancelled", "interrupted", "error", "running"]
FailureKind = Literal["exception", "oom", "timeout", "nan", "no-metric", "exit", "killed"]
Direction = Literal["maximize", "minimize"]
RunnerKind = Literal["local", "docker"]


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workspace: str
    command: list[str] | str
    timeout: float = Field(default=3600.0, gt=0, description="wall time in seconds")
    memory_mb: int = Field(default=4096, ge=16)
    cpus: float = Field(default=2.0, gt=0)
    max_processes: int = Field(default=256, ge=1)
    max_output_mb: int = Field(default=200, ge=1)
    network: bool = False
    gpus: bool = False
    image: str | None = None
    results_file: str = "results.json"
    env: dict[str, str] = Field(default_factory=dict)

    def argv(self) -> list[str]:
        """The command as an argument list; a string is split like a POSIX shell would."""
        if isinstance(self.command, str):
            return shlex.split(self.command)
        return list(self.command)

    def command_text(self) -> str:
        return self.command if isinstance(self.command, str) else shlex.join(self.command)


class Failure(BaseModel):
    """One reason a run went wrong, placed at a workspace file and line when one is known."""

    model_config = ConfigDict(frozen=True)

    path: str | None = Field(default=None, description="workspace-relative, POSIX separators")
    line: int | None = None
    kind: FailureKind
    error_type: str | None = None
    message: str


# A run's id names its record, log and cgroup: a record read back from a cloned workspace's
# .mlr/ must not reach another folder or cgroup (`../..` would be the cgroup of every process).
RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$"


class Sandbox(BaseModel):
    """Where a run's processes are, so a later start can stop them after their owner died:
    the local tree's leader (its pid is the tree's process group and session) with its start
    time, which tells it from a later process given the same pid; or the Docker container."""

    model_config = ConfigDict(frozen=True)

    pid: int | None = None
    started: int | None = Field(default=None, description="start time of `pid`, in clock ticks since boot")
    container: str | None = None


class RunRecord(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="constants")

    id: str = Field(pattern=RUN_ID_PATTERN)
    commit: str | None = None
    branch: str | None = None
    dirty: bool = False
    command: str
    runner: RunnerKind
    image: str | None = None
    started_at: str = Field(description="ISO 8601, UTC")
    duration_s: float | None = None
    status: RunStatus = "running"
    exit_code: int | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    primary_metric: str | None = None
    direction: Direction | None = None
    log_path: str | None = Field(default=None, description="workspace-relative")
    peak_memory_mb: float | None = None
    message: str = ""
    failures: list[Failure] = Field(default_factory=list)
    hypothesis: str | None = None
    baseline: bool = False
    warnings: list[str] = Field(default_factory=list)
    # The process that runs it: a "running" record whose owner is gone was interrupted.
    owner_host: str | None = None
    owner_pid: int | None = None
    owner_started: int | None = Field(default=None, description="start time of the owner, in clock ticks since boot")
    sandbox: Sandbox | None = None
    # False from the record's start until its commit's git note holds its summary: an owner
    # killed in between leaves it False, and the next start writes the note
    noted: bool = True

    @property
    def primary_value(self) -> float | None:
        if self.primary_metric is None:
            return None
        return self.metrics.get(self.primary_metric)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)
