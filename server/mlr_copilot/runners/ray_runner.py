"""The `ray` runner: each run is a Ray task on a cluster (`run.rayAddress`), holding the CPUs,
GPUs, memory and custom resources the run asks (`RunRequest.ray`, from the `run.ray*`
settings), driven by `supervise` like any runner.

- `preflight` connects (`ray_connect.connect`) and refuses a request no live node can hold,
  each in one line, before the run's log is written; Ray not installed is refused when the
  runner is chosen. `auto` never picks Ray: a cluster is chosen, never stumbled into.
- The job runs `ray_remote.run_on_ray` in a thread of its own: output chunks (whole lines)
  and the runner's notes go through one queue that `read()` drains in the log's thread, so
  the log keeps their order. The run's commit travels as a `git archive` tarball (a snapshot
  commit when the working copy is dirty), or with `run.rayCode: shared` the run's folder is
  used in place on a filesystem every node mounts at the same path. The results file the
  run wrote on its node comes back into the run's folder here. Paths under the run's
  folder on the worker are shown as the workspace's, so failures land on the workspace's
  files and lines as for a local run.
- The record's `sandbox` names the cluster as soon as the task is submitted and the node
  (its IP and Ray node id) once it is placed, with the run's container there or why it has
  none; the record's environment names the node's host. `run.raySandbox` says how the worker
  holds the command: `auto` (default) in a container of `run.image` with the `docker`
  runner's rules (`ray_docker`) where the node has MLR-Copilot, a Docker engine and the
  image, else as a plain process; `docker`: a container or the run is an error; `none`: a
  plain process. A run outside a container says so on the first line of its log, in its
  record's sandbox (`unsandboxed`, with the reason) and at the end of its message.
- A node that dies mid-run ends it `interrupted` with Ray's reason; a task that could not
  start on its node ends as `error`.
- After a crash, `reap` connects to the record's cluster and kills, on the record's node,
  every process carrying the run's marker (Ray itself stops the task of a driver that died);
  when the cluster does not answer, the record's warnings say what could not be stopped.

One process holds one Ray connection: runs of one process share the cluster of the last
address asked for.
"""

from __future__ import annotations

import functools
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from ..workspace.snapshot import SnapshotError, snapshot
from . import ray_worker
from .base import RunnerError, RunOutcome, new_run_id
from .environment import scrub_env
from .model import RunRecord, RunRequest, Sandbox
from .ray_connect import RayResources, check_fits, connect, ray_module
from .ray_remote import (
    Placed,
    PlacedCallback,
    RayJob,
    RayRunResult,
    run_on_ray,
    ship_worker_code,
    tree_tarball,
)
from .supervise import (
    Breach,
    Exit,
    Job,
    LineCallback,
    Placement,
    RunContext,
    Runner,
    StartCallback,
    StartFailed,
)

if TYPE_CHECKING:
    from .provenance import ProbeReport

REAP_TIMEOUT_S = 30.0


def ray_resources(request: RunRequest) -> RayResources:
    target = request.ray
    return RayResources(num_cpus=target.num_cpus, num_gpus=target.num_gpus, memory_mb=request.memory_mb,
                        custom=dict(target.resources))


class RayTaskJob(Job):
    """One run as a Ray task, followed by a thread of this process."""

    what = "the run's Ray task and every process of the run on its node"

    def __init__(self, ctx: RunContext):
        super().__init__()
        self.ctx = ctx
        self.result: RayRunResult | None = None
        self.error: BaseException | None = None
        self._items: queue.Queue[bytes | str] = queue.Queue()
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._workdir = b""
        self._held: list[str] = []  # notes that follow the placement's

    def start(self, started: StartCallback) -> None:
        request = self.ctx.request
        address = request.ray.address
        try:
            tree, commit, shared_dir = self._code()
        except RunnerError as exc:
            raise StartFailed(str(exc)) from exc
        env = _command_env(request)
        ray_job = RayJob(run_id=self.ctx.run_id, argv=request.argv(), env=env, timeout_s=request.timeout,
                         resources=ray_resources(request), results_file=request.results_file, tree=tree,
                         shared_dir=shared_dir, commit=commit, sandbox=request.ray.sandbox,
                         request=request.model_dump(exclude={"workspace", "command", "env"}))
        started(Sandbox(ray_address=address))

        def placed(where: Placed) -> None:
            self._workdir = where.workdir.encode()
            self.image = request.image if where.container else None
            held = where.unsandboxed or (f"sandbox: Docker container {(where.container or '')[:12]} of image "
                                         f"{request.image} on its Ray node, as the docker runner's")
            for note in (held, f"running on Ray node {where.ip} (node id {where.node_id})", *self._held):
                self._items.put(note)
            self._held.clear()
            started(Sandbox(ray_address=address, node_ip=where.ip, node_id=where.node_id, container=where.container,
                            unsandboxed=where.unsandboxed))

        self._thread = threading.Thread(target=self._follow, args=(ray_job, placed), daemon=True)
        self._thread.start()

    def _code(self) -> tuple[Callable[[], bytes] | None, str | None, str | None]:
        """How the run's tree reaches its node, (how to make its tarball, its commit, shared folder): see the
        module's docstring. The run's commit is the one `execute` placed (a rev, HEAD, or a
        snapshot of uncommitted work); a run outside `execute` snapshots here."""
        placement = self.ctx.placement
        if self.ctx.request.ray.code == "shared":
            return None, None, str(placement.tree if placement else self.ctx.workspace)
        if placement is not None:
            return functools.partial(tree_tarball, self.ctx.workspace, placement.commit), placement.commit, None
        try:
            commit = snapshot(self.ctx.workspace, self.ctx.run_id)
        except SnapshotError as exc:
            raise RunnerError(f"could not export the run's tree for Ray: {exc}") from exc
        if commit.uncommitted:
            # noted after the line saying how the run is held, the log's first
            self._held.append(f"the uncommitted working copy runs as snapshot commit {commit.commit[:12]} ({commit.ref})")
        return functools.partial(tree_tarball, self.ctx.workspace, commit.commit), commit.commit, None

    def _follow(self, ray_job: RayJob, placed: PlacedCallback) -> None:
        try:
            self.result = run_on_ray(connect(self.ctx.request.ray.address), ray_job, on_output=self._items.put,
                                     cancel=self._cancel, on_placed=placed)
        except BaseException as exc:  # the thread's end is the run's: the loop reports it
            self.error = exc
        finally:
            for note in self._held:  # never placed
                self._items.put(note)
            self._done.set()

    def read(self) -> bytes | None:
        try:
            item = self._items.get(timeout=0.1)
        except queue.Empty:
            if not self._done.is_set():
                return None
            try:
                item = self._items.get_nowait()
            except queue.Empty:
                return b""
        if isinstance(item, str):
            self.ctx.sink.note(item)  # in the log's own thread: in order with the output
            return None
        return item.replace(self._workdir, str(self.ctx.tree).encode()) if self._workdir else item

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    def memory_mb(self) -> float | None:
        return None  # Ray schedules by the memory asked; it does not report a task's use here

    def breach(self) -> Breach | None:
        return None

    def stop(self, grace: float) -> None:
        # `run_on_ray` cancels the task, whose `finally` stops the tree with the worker's grace
        self._cancel.set()

    def collect(self, stopped: bool) -> Exit:
        assert self._thread is not None
        self._thread.join()
        if self.result is None:
            return Exit(code=None)
        if self.result.results is not None and self.ctx.request.ray.code == "tarball":
            self._keep_results(self.result.results)
        return Exit(code=self.result.exit_code, signal=self.result.signal)

    def _keep_results(self, data: bytes) -> None:
        """The results file the run wrote on its node, where a local run would have left it (the
        run's tree), replacing what is there, never writing through a link."""
        name = Path(self.ctx.request.results_file)
        if name.is_absolute() or ".." in name.parts:
            return  # the worker refused it already, and said why
        target = self.ctx.tree / name
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{self.ctx.run_id}.part")
        partial.write_bytes(data)
        os.replace(partial, target)

    def close(self) -> None:
        self._cancel.set()


def _command_env(request: RunRequest) -> dict[str, str]:
    """The run's own variables, without secrets: never this machine's environment, which
    describes another machine than the worker."""
    env = scrub_env(request.env)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


class RayRunner(Runner):
    local_gpus = False  # the cluster node's, held by its task (`run.rayNumGpus`)

    def __init__(self, reason: str = "runner set to ray"):
        self.reason = reason
        self._jobs: dict[str, RayTaskJob] = {}

    @classmethod
    def chosen(cls, image: str | None) -> RayRunner:
        ray_module()  # Ray missing: one line saying how to install it
        return cls()

    @classmethod
    def for_auto(cls, image: str | None, declined: list[str]) -> str:
        return "Ray runs only when chosen (run.runner: ray)"

    def preflight(self, request: RunRequest) -> None:
        check_fits(connect(request.ray.address), ray_resources(request))

    def launch(self, ctx: RunContext) -> RayTaskJob:
        job = self._jobs[ctx.run_id] = RayTaskJob(ctx)
        return job

    def planned_image(self, request: RunRequest) -> str | None:
        return None  # known once the worker has said whether it runs a container

    def run(self, request: RunRequest, *, on_line: LineCallback | None = None,
            cancel: threading.Event | None = None, run_id: str | None = None,
            on_start: StartCallback | None = None, placement: Placement | None = None) -> RunOutcome:
        """As every runner's, with what only Ray tells: a lost node, a task that could not
        start, the host that ran it, and that it was unsandboxed when it was."""
        run_id = run_id or new_run_id()
        try:
            outcome = super().run(request, on_line=on_line, cancel=cancel, run_id=run_id, on_start=on_start,
                                  placement=placement)
        finally:
            job = self._jobs.pop(run_id, None)
        if job is None:
            return outcome
        if outcome.status not in ("cancelled", "timeout"):
            _take_ray_end(outcome, job)
        placed = job.result.placed if job.result is not None else None
        if placed is not None:
            outcome.node = placed.host
            if placed.unsandboxed:
                outcome.message = f"{outcome.message}; {placed.unsandboxed}" if outcome.message else placed.unsandboxed
        return outcome

    @classmethod
    def reap(cls, record: RunRecord) -> None:
        sandbox = record.sandbox or Sandbox()
        if sandbox.ray_address is None or sandbox.node_id is None:
            return  # never placed: Ray drops the queued task of a driver that died
        where = f"Ray node {sandbox.node_ip} (node id {sandbox.node_id})"
        if not sandbox.ray_address:
            record.warnings.append(f"it ran on {where} of a Ray instance its dead owner had started: not reachable to "
                                   "stop what the run left there")
            return
        ray = ray_module()
        try:
            ray = connect(sandbox.ray_address)
            if not any(node.get("NodeID") == sandbox.node_id and node.get("Alive") for node in ray.nodes()):
                record.warnings.append(f"{where} is gone: nothing of the run is left to stop")
                return
            _stop_on_node(ray, record.id, sandbox.node_id, sandbox.container)
        except (RunnerError, TimeoutError, ray.exceptions.RayError) as exc:
            record.warnings.append(f"what the run left on {where} was not stopped: {exc}")

    def python_environment(self, request: RunRequest, image: str | None, names: list[str]) -> tuple[ProbeReport, None]:
        from .provenance import ProbeReport

        return ProbeReport(), None  # the worker's interpreter is not this machine's to read

    def sees_host_gpus(self, request: RunRequest) -> bool:
        return False  # this machine's GPUs are not the worker's


def _take_ray_end(outcome: RunOutcome, job: RayTaskJob) -> None:
    """A run that ended on Ray's side (its node lost, its task failed, its time up on the
    worker) takes Ray's status and reason."""
    if job.error is not None:
        outcome.status, outcome.message = "error", " ".join(str(job.error).split()) or type(job.error).__name__
    elif job.result is not None and job.result.status in ("interrupted", "error", "timeout"):
        outcome.status, outcome.message = job.result.status, job.result.message


def _stop_on_node(ray: ModuleType, run_id: str, node_id: str, container: str | None) -> None:
    """Kill what carries the run's marker on node `node_id`, and remove the run's container
    there (the dead worker never did), as tasks pinned there."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from .docker_engine import remove_run_container

    ship_worker_code(ray)
    pinned = {"num_cpus": 0, "max_retries": 0, "scheduling_strategy": NodeAffinitySchedulingStrategy(node_id, soft=False)}
    ray.get(ray.remote(ray_worker.stop_marked).options(**pinned).remote(run_id), timeout=REAP_TIMEOUT_S)
    if container:
        # the package's own function, imported on the node, which ran the container with it
        ray.get(ray.remote(remove_run_container).options(**pinned).remote(container, run_id), timeout=REAP_TIMEOUT_S)
