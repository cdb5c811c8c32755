"""One run from start to end, the same for every runner: the runner interface and the one
supervision loop (cancel, time limit, limits, output cap, end status and message, the result).

A runner is registered by name in `registry` and made of two classes:

- a `Runner`, which chooses itself (`chosen`, or `for_auto` for `run.runner: auto`), checks
  what must hold before anything is written (`preflight`), builds one run's `Job` (`launch`),
  reads the environment the run's interpreter sees (`python_environment`), and cleans up after
  an owner that died mid-run: `reap` stops what one run record names, `sweep` what any dead
  owner left on the runner's engine.
- a `Job`: one run's sandbox, driven by `supervise()` through these hooks:

      start(started)    start the work; call `started(Sandbox)` as soon as it exists, so a
                        crash leaves a trace (raise `StartFailed` for a clean "error" run)
      read()            the next block of output: bytes; b"" at its end; None when nothing
                        came within ~0.1 s (raise `OutputLost` when the stream broke)
      wait(timeout)     True once the work has ended; waits at most `timeout` seconds
      memory_mb()       its peak memory so far, if known
      breach()          a limit the work passed ("processes" or "memory"), else None
      stop(grace)       stop all of it: ask, then kill after `grace` s (at once when 0)
      collect(stopped)  after the end: its `Exit`, having killed whatever it left running
                        (`stopped`: the loop stopped it, so a kill seen now is the loop's)
      close()           release what it holds (always called once start was tried)

  `read()` runs in a thread of its own; the other hooks run in the caller's thread. A job
  also says what `stop` stops (`what`, for the log), its `image` and its `warnings`.

A remote runner fits the same hooks: `ray_runner.RayRunner` submits a Ray task in `start`
(the commit's tree travels as a tarball), `read` takes the output chunks its thread received,
`stop` cancels the task and kills the run's process group on its node, `collect` reads the
task's end (a lost node is `interrupted`), and `reap` stops what a dead owner's run left on its
node. Adding a runner takes its module and one line in `registry.RUNNERS` (and the extension's
enum, which a test holds to that list).
"""

from __future__ import annotations

import signal
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from .base import (
    KILL_GRACE_S,
    RunClock,
    RunOutcome,
    describe_end,
    new_run_id,
    open_sink,
    resolve_workspace,
)
from .logsink import LogSink
from .model import RunRecord, RunRequest, Sandbox
from .registry import registered_name
from .secretfiles import secret_files
from .summary import RunStatus

if TYPE_CHECKING:
    from .provenance import ProbeReport

LineCallback = Callable[[str], None]
# Told where the run's processes are as soon as they exist (see `Sandbox`).
StartCallback = Callable[[Sandbox], None]
Breach = Literal["processes", "memory"]

POLL_S = 0.05
# How long the output may still take to drain once the work has ended.
DRAIN_S = 5.0


class StartFailed(Exception):
    """The work could not start: the run ends as "error" with this message."""


class OutputLost(Exception):
    """The output stream broke mid-run; the message goes to the log, the run is still judged."""


@dataclass(frozen=True)
class Placement:
    """Where a run executes when it is isolated from the user's checkout: its commit's tree
    (`tree`, a managed worktree) and that commit (what a remote runner ships), the folder its
    outputs outlive it in, the variables that tell it both (`env`, host paths), and the GPUs
    its slot owns (None: not pinned, the
    runner's own default; empty: none)."""

    tree: Path
    commit: str
    output_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    gpu_ids: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RunContext:
    """What a job is built from: the request, its resolved workspace (where the log and
    records are), the run's id, the workspace's secrets files (masked in the log, warned
    about), the log, and where the run executes (`placement`; None: in the workspace)."""

    request: RunRequest
    workspace: Path
    run_id: str
    secrets: list[Path]
    sink: LogSink
    placement: Placement | None = None

    @property
    def tree(self) -> Path:
        """The folder the run executes in."""
        return self.placement.tree if self.placement is not None else self.workspace


@dataclass(frozen=True)
class Exit:
    code: int | None
    signal: int | None = None
    oom: bool = False  # killed for the memory limit
    peak_mb: float | None = None  # what only the end tells (a process's own peak)


class Job(ABC):
    what: ClassVar[str]  # "the container": what `stop` stops, as the log names it
    image: str | None = None

    def __init__(self) -> None:
        self.warnings: list[str] = []

    @abstractmethod
    def start(self, started: StartCallback) -> None: ...

    @abstractmethod
    def read(self) -> bytes | None: ...

    @abstractmethod
    def wait(self, timeout: float) -> bool: ...

    @abstractmethod
    def memory_mb(self) -> float | None: ...

    @abstractmethod
    def breach(self) -> Breach | None: ...

    @abstractmethod
    def stop(self, grace: float) -> None: ...

    @abstractmethod
    def collect(self, stopped: bool) -> Exit: ...

    @abstractmethod
    def close(self) -> None: ...


class Runner(ABC):
    reason: str = ""  # why this runner was chosen, told to the user
    # False where a run's GPUs are another machine's, held there (a Ray task on its node): its
    # slot here only bounds how many runs this machine drives at once, and needs none of its GPUs
    local_gpus: bool = True

    @property
    def name(self) -> str:
        """The name it is registered by (what its run records say)."""
        return registered_name(type(self))

    @classmethod
    @abstractmethod
    def chosen(cls, image: str | None) -> Runner:
        """The runner when the setting names it."""

    @classmethod
    @abstractmethod
    def for_auto(cls, image: str | None, declined: list[str]) -> Runner | str:
        """The runner if `auto` may take it now, else why not; `declined` says why the
        runners asked before it could not run here."""

    @classmethod
    @abstractmethod
    def reap(cls, record: RunRecord) -> None:
        """Stop whatever run `record` left running: its owner died. A record is workspace
        content: what it names is checked before anything is stopped."""

    @classmethod
    def sweep(cls) -> None:
        """Stop what any dead owner left on this runner's engine, whichever workspace it ran
        for. A runner whose runs leave nothing beyond what `reap` stops has nothing to do."""
        return None

    @abstractmethod
    def launch(self, ctx: RunContext) -> Job:
        """One run's job, not started yet."""

    @abstractmethod
    def python_environment(self, request: RunRequest, image: str | None,
                           names: list[str]) -> tuple[ProbeReport, str | None]:
        """The Python version and the versions of the distributions providing `names` as the
        run's interpreter sees them, and the id of `image` where there is one."""

    def preflight(self, request: RunRequest) -> None:
        """Raise `RunnerError` when the run cannot start here, before its log is written; by
        default anything may start."""
        return None

    def planned_image(self, request: RunRequest) -> str | None:
        """The image a run record names before the run has resolved one."""
        return None

    def sees_host_gpus(self, request: RunRequest) -> bool:
        """Whether the run can use this machine's GPUs (they are then recorded with it)."""
        return request.gpus

    def run(self, request: RunRequest, *, on_line: LineCallback | None = None,
            cancel: threading.Event | None = None, run_id: str | None = None,
            on_start: StartCallback | None = None, placement: Placement | None = None) -> RunOutcome:
        """Run `request.command` in `placement.tree` (default: `request.workspace`); blocks
        until it ends, is cancelled, or hits a limit. The full output (up to the cap) lands in
        the workspace's `.mlr/logs/<run_id>.log`. `on_start` is told where the run's processes
        are as soon as they start."""
        workspace = resolve_workspace(request)
        run_id = run_id or new_run_id()
        self.preflight(request)
        secrets = secret_files(workspace)
        sink = open_sink(request, workspace, run_id, on_line, secrets)
        clock = RunClock(request.timeout)
        try:
            job = self.launch(RunContext(request, workspace, run_id, secrets, sink, placement))
            outcome = supervise(job, request, sink, clock, cancel or threading.Event(), on_start)
        finally:
            sink.close()
        outcome.log_metrics = dict(sink.metrics)
        return outcome


class _Pump:
    """Copies the job's output to the log until its end, or until told to stop (a process
    that escaped the kill may still hold a pipe open)."""

    def __init__(self, job: Job, sink: LogSink):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._copy, args=(job, sink), daemon=True)
        self._thread.start()

    def _copy(self, job: Job, sink: LogSink) -> None:
        try:
            while True:
                data = job.read()
                if data is None:
                    if self._stop.is_set():
                        return
                    continue
                if not data:
                    return
                sink.feed(data)
        except OutputLost as exc:
            sink.note(str(exc))

    def finish(self) -> None:
        self._stop.set()
        self._thread.join(timeout=DRAIN_S)


@dataclass(frozen=True)
class _Stop:
    status: RunStatus
    note: str  # for the log
    grace: float  # seconds the work gets to stop before it is killed
    limit_hit: bool = False


@dataclass
class _Watch:
    """What the loop saw while the work ran."""

    ended_by: RunStatus | None = None
    limit_hit: bool = False
    peak_mb: float = 0.0


def supervise(job: Job, request: RunRequest, sink: LogSink, clock: RunClock, cancel: threading.Event,
              on_start: StartCallback | None) -> RunOutcome:
    """Start `job`, watch it to its end and judge it."""
    if not request.argv():
        sink.note("empty command")
        return RunOutcome("error", None, sink.path, clock.elapsed, message="the run command is empty", image=job.image,
                          warnings=list(job.warnings))
    try:
        try:
            job.start(on_start or (lambda _sandbox: None))
        except StartFailed as exc:
            sink.note(str(exc))
            return RunOutcome("error", None, sink.path, clock.elapsed, message=str(exc), image=job.image,
                              warnings=list(job.warnings))
        pump = _Pump(job, sink)
        seen = _watch(job, request, sink, clock, cancel)
        end = job.collect(stopped=seen.ended_by is not None)
        pump.finish()
    finally:
        job.close()
    return _judge(job, end, seen, request, sink, clock)


def _watch(job: Job, request: RunRequest, sink: LogSink, clock: RunClock, cancel: threading.Event) -> _Watch:
    seen = _Watch()
    while True:
        ended = job.wait(POLL_S)
        seen.peak_mb = max(seen.peak_mb, job.memory_mb() or 0.0)
        if ended:
            return seen
        stop = _stop_reason(job, request, clock, cancel)
        if stop is not None:
            seen.ended_by, seen.limit_hit = stop.status, stop.limit_hit
            sink.note(stop.note)
            job.stop(stop.grace)
            return seen


def _stop_reason(job: Job, request: RunRequest, clock: RunClock, cancel: threading.Event) -> _Stop | None:
    """Why the run must stop now, if it must."""
    if cancel.is_set():
        return _Stop("cancelled", f"cancelled: stopping {job.what}", KILL_GRACE_S)
    if clock.expired:
        return _Stop("timeout", f"time limit of {request.timeout:g} s reached: stopping {job.what}", KILL_GRACE_S)
    breach = job.breach()
    if breach == "processes":
        # the kernel or engine caps the count; without this a fork bomb would spin until the timeout
        return _Stop("failed", f"more than {request.max_processes} processes: killing {job.what}", 0, limit_hit=True)
    if breach == "memory":
        return _Stop("oom", f"the run's processes together passed {request.memory_mb} MB and the kernel killed one: "
                            f"stopping {job.what}", 0)
    return None


def _judge(job: Job, end: Exit, seen: _Watch, request: RunRequest, sink: LogSink, clock: RunClock) -> RunOutcome:
    status: RunStatus = seen.ended_by or ("oom" if end.oom else "passed" if end.code == 0 else "failed")
    signal_name = signal.Signals(end.signal).name if end.signal else None
    message = describe_end(status, end.code, request, signal_name=signal_name)
    if seen.limit_hit:
        message = f"killed for starting more than {request.max_processes} processes"
    if sink.truncated:
        message += f"; output past {request.max_output_mb} MB was dropped from the log"
    peak = max(seen.peak_mb, end.peak_mb or 0.0)
    return RunOutcome(
        status=status,
        exit_code=end.code,
        log_path=sink.path,
        duration_s=clock.elapsed,
        peak_memory_mb=round(peak, 1) if peak else None,
        message=message,
        signal=end.signal,
        oom_killed=end.oom or status == "oom",
        output_truncated=sink.truncated,
        process_limit_hit=seen.limit_hit,
        image=job.image,
        warnings=list(job.warnings),
    )
