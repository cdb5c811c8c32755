"""What a run is asked to do (`RunRequest`) and what is kept of it (`RunRecord`, `Failure`).

Records are saved as JSON under `.mlr/runs/` and summarised in git notes; NaN and infinite
metric values are kept as the JSON constants `NaN`/`Infinity` so a diverged run reads back
exactly as it ended.
"""

from __future__ import annotations

import shlex
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ..objective import Direction
from .registry import record_name
from .summary import RUN_ID_PATTERN, RunStatus, of_commit

FailureKind = Literal["exception", "oom", "timeout", "nan", "no-metric", "exit", "killed"]
# the name of a registered runner
RunnerKind = Annotated[str, BeforeValidator(record_name)]


class RayTarget(BaseModel):
    """Where a `ray` run goes and what it asks of its node (the `run.ray*` settings); the
    memory it asks is the request's `memory_mb`."""

    # built when a run is first requested: the commands that only read records never build it
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    address: str = ""
    num_cpus: float = Field(default=1.0, gt=0)
    num_gpus: float = Field(default=0.0, ge=0)
    resources: dict[str, float] = Field(default_factory=dict)
    code: Literal["tarball", "shared"] = "tarball"
    # how the worker holds the command: a container of the run's image where it can (auto),
    # always (docker: else the run is an error) or never (none)
    sandbox: Literal["auto", "docker", "none"] = "auto"


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # as RayTarget

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
    ray: RayTarget = Field(default_factory=RayTarget)

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


class Sandbox(BaseModel):
    """Where a run's processes are, so a later start can stop them after their owner died:
    the local tree's leader (its pid is the tree's process group and session) with its start
    time, which tells it from a later process given the same pid; the Docker container; or
    the Ray cluster and the node (its IP and Ray node id) of a `ray` run."""

    model_config = ConfigDict(frozen=True)

    pid: int | None = None
    started: int | None = Field(default=None, description="start time of `pid`, in clock ticks since boot")
    container: str | None = None
    # a `ray` run: the cluster, and the node that runs it once it is placed
    ray_address: str | None = None
    node_ip: str | None = None
    node_id: str | None = None
    # why a run that could have been in a container ran as a plain process (a `ray` run on a
    # node without Docker, or with `run.raySandbox: none`)
    unsandboxed: str | None = None


class RunEnvironment(BaseModel):
    """What a run ran on, so two runs of one commit that disagree can be told apart: the
    Python of the interpreter that ran it, the versions of the distributions its code imports
    (and its requirements name), the Docker image, the machine and its GPUs."""

    model_config = ConfigDict(frozen=True)

    python: str | None = None
    packages: dict[str, str] = Field(default_factory=dict, description="distribution name -> version")
    runner: RunnerKind
    node: str = Field(description="host name of the machine that ran it")
    image: str | None = None
    image_id: str | None = None
    gpus: list[str] = Field(default_factory=list, description="one model name per GPU the run could use")


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
    # the search's node it is a run of (`n004`), for a node's run and its seeded re-runs; the
    # machine that ran it is `environment.node`
    search_node: str | None = None
    warnings: list[str] = Field(default_factory=list)
    # The process that runs it: a "running" record whose owner is gone was interrupted.
    owner_host: str | None = None
    owner_pid: int | None = None
    owner_started: int | None = Field(default=None, description="start time of the owner, in clock ticks since boot")
    sandbox: Sandbox | None = None
    # False from the record's start until its commit's git note holds its summary: an owner
    # killed in between leaves it False, and the next start writes the note
    noted: bool = True
    # None in records written before environments were recorded, or when it could not be read
    environment: RunEnvironment | None = None
    # Where it ran: True in a worktree of `commit` of its own (`.mlr/worktrees/<id>/`); False
    # in the workspace folder itself (records from before, or a folder without git commits).
    isolated: bool = False
    # `commit` is a hidden snapshot of the working copy's uncommitted work, kept as `snapshot_ref`
    uncommitted: bool = False
    snapshot_ref: str | None = None
    snapshot_of: str | None = Field(default=None, description="the commit checked out (HEAD) when the snapshot was taken")
    outputs: str | None = Field(default=None, description="workspace-relative folder of what the run kept ($MLR_OUTPUT_DIR)")
    # the queue's slot it held, that slot's GPUs it was given, and how long it waited for it
    slot: int | None = None
    gpu_ids: list[str] | None = None
    queue_wait_s: float | None = None

    @property
    def primary_value(self) -> float | None:
        if self.primary_metric is None:
            return None
        return self.metrics.get(self.primary_metric)

    @property
    def of_commit(self) -> str | None:
        """The commit this is a run of: for a run of uncommitted work, the commit it was made
        on (its own `commit` is the hidden snapshot, `snapshot_ref`)."""
        return of_commit(self.commit, self.uncommitted, self.snapshot_of)
