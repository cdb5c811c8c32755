"""Run an experiment as a local process tree with limits: wall time, memory (the whole tree's
where a memory cgroup can be made, see `memcgroup`; each process's address space always),
process count, output size; no secrets in its environment; nothing left running when it ends."""

from __future__ import annotations

import logging
import os
import resource
import select
import signal
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .base import (
    KILL_GRACE_S,
    LineCallback,
    RunClock,
    Runner,
    RunOutcome,
    StartCallback,
    describe_end,
    new_run_id,
    open_sink,
    resolve_workspace,
)
from .environment import scrub_env
from .logsink import LogSink
from .memcgroup import MemoryCgroup
from .model import RunRequest, RunStatus, Sandbox
from .proctree import RUN_ID_VAR, PidsCgroup, ProcessTree, rss_mb, start_ticks
from .secretfiles import secret_files

if TYPE_CHECKING:
    from .provenance import ProbeReport

log = logging.getLogger(__name__)

POLL_S = 0.05


def run_environment(request: RunRequest, run_id: str) -> dict[str, str]:
    """The parent's environment and the request's own variables, without secrets: a key set
    explicitly for a run is dropped too, experiment code never sees credentials."""
    env = scrub_env({**os.environ, **request.env})
    env[RUN_ID_VAR] = run_id
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _pump(fd: int, sink: LogSink, stop: threading.Event) -> None:
    """Copy the child's output to the sink until EOF, or until told to stop (a process that
    escaped the kill may still hold the pipe open)."""
    while True:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            if stop.is_set():
                return
            continue
        try:
            data = os.read(fd, 1 << 20 if sink.truncated else 1 << 16)
        except OSError:
            return
        if not data:
            return
        sink.feed(data)


def secrets_warning(workspace: Path, exposed: list[Path]) -> str | None:
    """A local run is a process of the user: it can read any file of the workspace, the
    secrets files `exposed` included. Say so, since only the Docker runner can hide them."""
    if not exposed:
        return None
    names = ", ".join(path.relative_to(workspace).as_posix() for path in exposed)
    return (
        f"the workspace holds {names}, which this local run can read (a local process cannot be kept "
        "from a file); secret values are masked in this log, but the experiment could still use or send "
        "them. Use the Docker runner (run.runner: docker), which hides secrets files from the experiment"
    )


def _memory_cgroup(request: RunRequest, run_id: str, sink: LogSink) -> MemoryCgroup | None:
    """The cgroup that holds the whole tree to `run.memoryMb`; where there is none, the log
    says that the limit holds per process only."""
    memory, why = MemoryCgroup.create(run_id, request.memory_mb)
    if memory is None:
        sink.note(f"the memory limit of {request.memory_mb} MB holds per process only, not for the run's "
                  f"processes together ({why}); the Docker runner limits them together")
    return memory


class LocalRunner(Runner):
    name = "local"

    def __init__(self, reason: str = "runner set to local"):
        self.reason = reason

    def run(
        self,
        request: RunRequest,
        *,
        on_line: LineCallback | None = None,
        cancel: threading.Event | None = None,
        run_id: str | None = None,
        on_start: StartCallback | None = None,
    ) -> RunOutcome:
        workspace = resolve_workspace(request)
        run_id = run_id or new_run_id()
        cancel = cancel or threading.Event()
        secrets = secret_files(workspace)
        sink = open_sink(request, workspace, run_id, on_line, secrets)
        clock = RunClock(request.timeout)
        exposed = secrets_warning(workspace, secrets)
        if exposed:
            sink.note(f"warning: {exposed}")
        try:
            outcome = self._run(request, workspace, run_id, sink, clock, cancel, on_start)
        finally:
            sink.close()
        outcome.log_metrics = dict(sink.metrics)
        if exposed:
            outcome.warnings.append(exposed)
        return outcome

    def python_environment(self, request: RunRequest, image: str | None, names: list[str]) -> tuple[ProbeReport, None]:
        from .provenance import local_python_environment

        return local_python_environment(request, names), None

    def _run(
        self,
        request: RunRequest,
        workspace: Path,
        run_id: str,
        sink: LogSink,
        clock: RunClock,
        cancel: threading.Event,
        on_start: StartCallback | None,
    ) -> RunOutcome:
        argv = request.argv()
        if not argv:
            sink.note("empty command")
            return RunOutcome("error", None, sink.path, clock.elapsed, message="the run command is empty")
        cgroup = PidsCgroup.create(run_id, request.max_processes)
        memory = _memory_cgroup(request, run_id, sink)
        memory_bytes = request.memory_mb * 1024 * 1024

        def limit_child() -> None:
            # per process: an allocation past it fails at its line (a MemoryError in Python)
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if cgroup is not None:
                cgroup.join_self()
            if memory is not None:
                memory.join_self()

        try:
            proc = subprocess.Popen(
                argv,
                cwd=workspace,
                env=run_environment(request, run_id),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=limit_child,
                close_fds=True,
            )
        except OSError as exc:
            if cgroup is not None:
                cgroup.remove()
            if memory is not None:
                memory.remove()
            message = f"could not start {argv[0]!r}: {exc.strerror or exc}"
            sink.note(message)
            return RunOutcome("error", None, sink.path, clock.elapsed, message=message)

        tree = ProcessTree(proc.pid, run_id, cgroup)
        if on_start is not None:
            on_start(Sandbox(pid=proc.pid, started=start_ticks(proc.pid)))
        stop_pump = threading.Event()
        pump = threading.Thread(target=_pump, args=(proc.stdout.fileno(), sink, stop_pump), daemon=True)
        pump.start()
        waited: dict[str, object] = {}
        exited = threading.Event()

        def reap() -> None:
            _, status, usage = os.wait4(proc.pid, 0)
            waited["status"], waited["usage"] = status, usage
            exited.set()

        threading.Thread(target=reap, daemon=True).start()

        ended_by: RunStatus | None = None
        peak = 0.0
        limit_hit = False
        ticks = 0
        while not exited.wait(POLL_S):
            if cancel.is_set():
                ended_by = "cancelled"
            elif clock.expired:
                ended_by = "timeout"
            elif (cgroup is not None and cgroup.limit_hit()) or (
                cgroup is None and tree.count() > request.max_processes
            ):
                limit_hit = True
                ended_by = "failed"
            elif memory is not None and memory.oom_kills():
                ended_by = "oom"
            if ended_by is not None:
                break
            ticks += 1
            # Memory is sampled less often than limits are checked: it walks /proc.
            if ticks % 4 == 1:
                peak = max(peak, rss_mb(tree.members()))

        if ended_by == "cancelled":
            sink.note("cancelled: stopping every process of the run")
            tree.kill(grace=KILL_GRACE_S)
        elif ended_by == "timeout":
            sink.note(f"time limit of {request.timeout:g} s reached: stopping every process of the run")
            tree.kill(grace=KILL_GRACE_S)
        elif limit_hit:
            sink.note(f"more than {request.max_processes} processes: killing every process of the run")
            tree.kill_now()
        elif ended_by == "oom":
            sink.note(f"the run's processes together passed {request.memory_mb} MB and the kernel killed one: "
                      "stopping every process of the run")
            tree.kill_now()
        exited.wait()
        if ended_by is None and memory is not None and memory.oom_kills():
            ended_by = "oom"  # the kill that ended the main process itself
        # The main process is done; whatever it left running in the background goes too.
        leftovers = tree.members(deep=cgroup is None)
        if leftovers:
            log.info("run %s left %d processes behind; killing them", run_id, len(leftovers))
            tree.kill_now()
        stop_pump.set()
        pump.join(timeout=5.0)
        proc.stdout.close()
        if cgroup is not None:
            cgroup.remove()
        if memory is not None:
            memory.remove()

        status_word = waited["status"]
        proc.returncode = os.waitstatus_to_exitcode(status_word)
        # ru_maxrss (KiB) covers the main process and the children it reaped, but it starts
        # from this server's own size at fork; only growth beyond that says anything.
        child_max = waited["usage"].ru_maxrss
        if child_max > resource.getrusage(resource.RUSAGE_SELF).ru_maxrss:
            peak = max(peak, child_max / 1024)
        signal_number = -proc.returncode if proc.returncode < 0 else None
        if ended_by is not None:
            status: RunStatus = ended_by
        else:
            status = "passed" if proc.returncode == 0 else "failed"
        signal_name = signal.Signals(signal_number).name if signal_number else None
        message = describe_end(status, proc.returncode, request, signal_name=signal_name)
        if limit_hit:
            message = f"killed for starting more than {request.max_processes} processes"
        if sink.truncated:
            message += f"; output past {request.max_output_mb} MB was dropped from the log"
        return RunOutcome(
            status=status,
            exit_code=proc.returncode,
            log_path=sink.path,
            duration_s=clock.elapsed,
            peak_memory_mb=round(peak, 1) if peak else None,
            message=message,
            signal=signal_number,
            output_truncated=sink.truncated,
            process_limit_hit=limit_hit,
            oom_killed=status == "oom",
        )
