"""What every runner shares: the `RunOutcome` of a run, its id and owner, its clock, its log
and the words that end it. The runner interface and the loop that drives it are `supervise`'s.

A runner knows nothing of metrics, git or records; `execute()` builds those from the
`RunOutcome` and the log file a runner leaves behind.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..errors import MlrError
from ..state import StateDir
from .environment import secret_values
from .logsink import MB, LogSink
from .model import RunRequest
from .owner import owner_alive as owner_alive  # its home is owner.py; importers of base keep it
from .owner import run_owner as run_owner
from .summary import RunStatus

# How long a process tree gets to exit after SIGTERM before it is killed outright.
KILL_GRACE_S = 2.0


class RunnerError(MlrError):
    """A run could not be started (the sandbox is missing or misconfigured)."""


class WorkspaceMissingError(RunnerError):
    def __init__(self, workspace: str):
        super().__init__(f"workspace folder {workspace} does not exist")


@dataclass
class RunOutcome:
    status: RunStatus
    exit_code: int | None
    log_path: Path
    duration_s: float
    peak_memory_mb: float | None = None
    message: str = ""
    signal: int | None = None
    oom_killed: bool = False
    output_truncated: bool = False
    process_limit_hit: bool = False
    image: str | None = None
    # things the user should know about this run although it went fine (kept in its record)
    warnings: list[str] = field(default_factory=list)
    # METRIC lines of the output, read as it streamed (see logsink.MetricScanner)
    log_metrics: dict[str, float] = field(default_factory=dict)
    # host name of the machine that ran it when that is not this one (a Ray worker's)
    node: str | None = None


def new_run_id() -> str:
    """Sortable by start time, unique across processes."""
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def log_path_for(workspace: str | Path, run_id: str) -> Path:
    return StateDir(workspace).logs / f"{run_id}.log"


def resolve_workspace(request: RunRequest) -> Path:
    workspace = Path(request.workspace).expanduser().resolve()
    if not workspace.is_dir():
        raise WorkspaceMissingError(request.workspace)
    return workspace


class RunClock:
    """Wall-time bookkeeping shared by the runners."""

    def __init__(self, timeout: float):
        self.start = time.monotonic()
        self.deadline = self.start + timeout

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.deadline


def open_sink(request: RunRequest, workspace: Path, run_id: str, on_line: Callable[[str], None] | None,
              secrets: list[Path]) -> LogSink:
    """The run's log, with the secrets this process knows masked: the environment's (a local
    run can still read them from its parent's /proc entry) and those of the workspace's secrets
    files (`secrets`, found once per run by `secret_files`)."""
    return LogSink(
        log_path_for(workspace, run_id),
        max_bytes=request.max_output_mb * MB,
        on_line=on_line,
        secrets=secret_values({**os.environ, **request.env}, secrets),
    )


def describe_end(status: RunStatus, exit_code: int | None, request: RunRequest, *, signal_name: str | None = None) -> str:
    if status == "timeout":
        return f"stopped after the time limit of {request.timeout:g} s"
    if status == "cancelled":
        return "cancelled"
    if status == "oom":
        return f"killed for using more than {request.memory_mb} MB of memory"
    if signal_name:
        return f"killed by {signal_name}"
    if status == "passed":
        return "exited with code 0"
    return f"exited with code {exit_code}"
