"""Run an experiment as a local process tree with limits: wall time, memory (the whole tree's
where a memory cgroup can be made, see `memcgroup`; each process's address space always),
process count, output size; no secrets in its environment; nothing left running when it ends."""

from __future__ import annotations

import logging
import os
import resource
import select
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..workspace.worktrees import without_git_location
from .environment import scrub_env
from .logsink import LogSink
from .memcgroup import MemoryCgroup
from .model import RunRecord, RunRequest, Sandbox
from .proctree import RUN_ID_VAR, PidsCgroup, ProcessTree, kill_leftovers, rss_mb, start_ticks
from .slots import cuda_env
from .supervise import Breach, Exit, Job, Placement, RunContext, Runner, StartCallback, StartFailed

if TYPE_CHECKING:
    from .provenance import ProbeReport

log = logging.getLogger(__name__)

# Memory is sampled once in this many polls of the loop: it walks /proc.
MEMORY_EVERY = 4


def run_environment(request: RunRequest, run_id: str, placement: Placement | None = None) -> dict[str, str]:
    """The parent's environment and the request's own variables, without secrets: a key set
    explicitly for a run is dropped too, experiment code never sees credentials. A placed run
    also learns its outputs folder, id and commit, and sees only its slot's GPUs."""
    env = scrub_env({**os.environ, **request.env})
    if placement is not None:
        env = {**without_git_location(env), **placement.env}
        if placement.gpu_ids is not None:
            # empty for a slot without GPUs: on a GPU machine such a run must not take them all
            env.update(cuda_env(placement.gpu_ids))
    env[RUN_ID_VAR] = run_id
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


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


def _limit_child(memory_bytes: int, cgroups: list[PidsCgroup | MemoryCgroup]) -> Callable[[], None]:
    def limit() -> None:
        # per process: an allocation past it fails at its line (a MemoryError in Python)
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        for cgroup in cgroups:
            cgroup.join_self()

    return limit


class LocalJob(Job):
    """One run as a process tree of this machine, in its own session and cgroups."""

    what = "every process of the run"

    def __init__(self, ctx: RunContext):
        super().__init__()
        self.ctx = ctx
        self._cgroup: PidsCgroup | None = None
        self._memory: MemoryCgroup | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._tree: ProcessTree | None = None
        self._waited: tuple[int, resource.struct_rusage] | None = None
        self._exited = threading.Event()
        self._polls = 0
        self._peak = 0.0

    def start(self, started: StartCallback) -> None:
        request, run_id = self.ctx.request, self.ctx.run_id
        argv = request.argv()
        self._cgroup = PidsCgroup.create(run_id, request.max_processes)
        self._memory = _memory_cgroup(request, run_id, self.ctx.sink)
        cgroups = [cgroup for cgroup in (self._cgroup, self._memory) if cgroup is not None]
        try:
            self._proc = subprocess.Popen(
                argv, cwd=self.ctx.tree, env=run_environment(request, run_id, self.ctx.placement), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_limit_child(request.memory_mb * 1024 * 1024, cgroups), close_fds=True,
            )
        except OSError as exc:
            raise StartFailed(f"could not start {argv[0]!r}: {exc.strerror or exc}") from exc
        pid = self._proc.pid
        self._tree = ProcessTree(pid, run_id, self._cgroup)
        started(Sandbox(pid=pid, started=start_ticks(pid)))
        threading.Thread(target=self._reap, args=(pid,), daemon=True).start()

    def _reap(self, pid: int) -> None:
        _, status, usage = os.wait4(pid, 0)
        self._waited = status, usage
        self._exited.set()

    def read(self) -> bytes | None:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            return None
        try:
            return os.read(fd, 1 << 20 if self.ctx.sink.truncated else 1 << 16)
        except OSError:
            return b""

    def wait(self, timeout: float) -> bool:
        return self._exited.wait(timeout)

    def memory_mb(self) -> float:
        assert self._tree is not None
        self._polls += 1
        if self._polls % MEMORY_EVERY == 1:
            self._peak = max(self._peak, rss_mb(self._tree.members()))
        return self._peak

    def breach(self) -> Breach | None:
        assert self._tree is not None
        cgroup, memory = self._cgroup, self._memory
        if cgroup.limit_hit() if cgroup is not None else self._tree.count() > self.ctx.request.max_processes:
            return "processes"
        if memory is not None and memory.oom_kills():
            return "memory"
        return None

    def stop(self, grace: float) -> None:
        assert self._tree is not None
        self._tree.kill(grace=grace)

    def collect(self, stopped: bool) -> Exit:
        assert self._tree is not None and self._proc is not None
        self._exited.wait()
        # the kill that ended the main process itself
        oom = not stopped and self._memory is not None and self._memory.oom_kills() > 0
        # The main process is done; whatever it left running in the background goes too.
        leftovers = self._tree.members(deep=self._cgroup is None)
        if leftovers:
            log.info("run %s left %d processes behind; killing them", self.ctx.run_id, len(leftovers))
            self._tree.kill_now()
        assert self._waited is not None
        status, usage = self._waited
        code = self._proc.returncode = os.waitstatus_to_exitcode(status)
        # ru_maxrss (KiB) covers the main process and the children it reaped, but it starts
        # from this server's own size at fork; only growth beyond that says anything.
        grown = usage.ru_maxrss > resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return Exit(code=code, signal=-code if code < 0 else None, oom=oom,
                    peak_mb=usage.ru_maxrss / 1024 if grown else None)

    def close(self) -> None:
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()
        for cgroup in (self._cgroup, self._memory):
            if cgroup is not None:
                cgroup.remove()


class LocalRunner(Runner):
    def __init__(self, reason: str = "runner set to local"):
        self.reason = reason

    @classmethod
    def chosen(cls, image: str | None) -> LocalRunner:
        return cls("runner set to local")

    @classmethod
    def for_auto(cls, image: str | None, declined: list[str]) -> LocalRunner:
        return cls(f"auto: {'; '.join(declined) or 'no other runner'}, so runs are local processes")

    @classmethod
    def reap(cls, record: RunRecord) -> None:
        sandbox = record.sandbox or Sandbox()
        kill_leftovers(record.id, sandbox.pid, sandbox.started)

    def launch(self, ctx: RunContext) -> LocalJob:
        job = LocalJob(ctx)
        exposed = secrets_warning(ctx.workspace, ctx.secrets)
        if exposed:
            ctx.sink.note(f"warning: {exposed}")
            job.warnings.append(exposed)
        return job

    def python_environment(self, request: RunRequest, image: str | None, names: list[str]) -> tuple[ProbeReport, None]:
        from .provenance import local_python_environment

        return local_python_environment(request, names), None

    def sees_host_gpus(self, request: RunRequest) -> bool:
        return True  # a local process sees every GPU of the machine
