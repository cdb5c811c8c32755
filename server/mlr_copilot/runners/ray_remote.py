"""Run one command for a commit's tree on a Ray cluster: the substance of the `ray` runner.

How the tree reaches the worker. Two ways, chosen per run (`RayJob`):
- `tree`: the bytes of `git archive` of the commit (`tree_tarball`), put in Ray's object store
  once per commit (this process keeps the reference of the last `TREES_KEPT` commits). Before
  the run's task is queued, a zero-CPU task (`ray_worker.prepare_tree`) goes to each live node
  that could hold the run (up to `PREPARE_NODES`, one at a time per node) to fetch it there, so
  the run does not spend the CPU it holds on the transfer; the run syncs a reused run folder of
  the node to it (`ray_rundirs`: only the files that differ are written), or, when the node has
  none free, takes a working copy of its own (`ray_worker.TreeCache`). It needs nothing of
  the cluster but Ray. We ship the bytes ourselves rather than through
  `runtime_env={"working_dir": ...}`, which would do the same through the GCS, but needs the
  tree as a folder (or a zip at a URL) first, caps its size, and takes a fresh worker process
  per tree, where a task runs in a warm one.
- `shared_dir`: a folder every node sees at the same path (NFS, a Lustre or Slurm scratch
  mount, a Kubernetes volume mounted in each KubeRay pod), holding the tree already (a managed
  worktree there): nothing travels, and the run writes its outputs in place.
Datasets and the Hugging Face cache do not travel with the tree: point `HF_HOME` (and the
task's data path) at a folder on each node or a shared mount, through the run's `env`.

A run is a streaming Ray task (`ray_worker.stream_command`) holding the run's resources
(`RayResources`) while it runs. It yields the command's output as it comes, which the driver
passes on in order (`on_output` gets chunks of whole lines; nothing is dropped), and ends with
the exit code and the results file (up to 16 MB); the node's address, id and host name, and
how the run is held there (a Docker container, `ray_docker`, or a plain process and why),
come first. The
time limit is kept on the worker, from the moment the command starts (time spent waiting for a
node with room does not count), with the driver as a backstop; cancel is `ray.cancel` of the
task: either way the command's session and every process carrying its marker get SIGTERM, then
SIGKILL, and the driver returns only once the task has finished doing so. A node that dies
ends the run as `interrupted` with Ray's reason, as soon as Ray declares the node dead (its
health check: 30 s by default).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from ..workspace import gitsafe
from . import proctree, ray_rundirs, ray_worker
from .base import KILL_GRACE_S, RunnerError
from .ray_connect import RayResources, check_fits, fitting_nodes
from .ray_worker import SandboxMode

# error: the run could not start on its node (the task itself failed, e.g. a corrupt tree)
RayStatus = Literal["passed", "failed", "timeout", "cancelled", "interrupted", "error"]
OutputCallback = Callable[[bytes], None]


@dataclass(frozen=True)
class Placed:
    """Where the command runs, as soon as it does: the node (IP, Ray id, host name), the run's
    folder there, and its container, or why it runs as a plain process of the node."""

    ip: str
    node_id: str
    host: str
    workdir: str
    container: str | None = None
    unsandboxed: str | None = None


PlacedCallback = Callable[[Placed], None]

RESULTS_CAP = 16 * 1024 * 1024
POLL_S = 0.2
# Chunks of output (up to 1 MB each) the task may get ahead of the driver by.
BACKPRESSURE_CHUNKS = 16
# How long past the time limit (or after a cancel) the driver waits for the task to say it ended.
BACKSTOP_S = 30.0
# commits whose archive this process keeps in the object store; nodes a tree is prepared on
TREES_KEPT = 32
PREPARE_NODES = 8
# the terminal colours Ray puts in a task's error (`ray::stream_command()` in cyan)
_COLOURS = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class RayJob:
    run_id: str
    argv: list[str]
    env: Mapping[str, str]
    timeout_s: float
    resources: RayResources
    # the archive, or how to make it (only when this process has not sent that commit yet)
    tree: bytes | Callable[[], bytes] | None = None
    shared_dir: str | None = None
    results_file: str = "results.json"
    # the commit `tree` is the archive of: its tree then travels once per commit and node
    commit: str | None = None
    # Docker on the worker (`ray_docker`): auto, docker (required) or none; `request` is the
    # run's `RunRequest` (as a dict) its container is made from
    sandbox: SandboxMode = "none"
    request: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class RayRunResult:
    status: RayStatus
    exit_code: int | None
    message: str
    node_ip: str | None
    node_id: str | None
    duration_s: float
    results: bytes | None = None
    signal: int | None = None
    placed: Placed | None = None


def tree_tarball(workspace: Path | str, commit: str) -> bytes:
    """The tree of `commit` as a tar, built by git without running anything the repository names."""
    done = gitsafe.run(workspace, "archive", "--format=tar", f"{commit}^{{tree}}", timeout=300)
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise RunnerError(f"could not export commit {commit[:12]} for Ray: {reason[-1] if reason else 'git archive failed'}")
    return done.stdout


def ship_worker_code(ray: ModuleType) -> None:
    """Send the worker's code by value with each task: the nodes need Ray, not this package."""
    for module in (ray_worker, proctree, ray_rundirs):
        ray.cloudpickle.register_pickle_by_value(module)


def run_on_ray(ray: ModuleType, job: RayJob, *, on_output: OutputCallback | None = None,
               cancel: threading.Event | None = None, on_placed: PlacedCallback | None = None) -> RayRunResult:
    """Run `job` on the cluster `ray` is connected to (`ray_connect.connect`); blocks until the
    command ends, is cancelled, times out or its node is lost."""
    if (job.tree is None) == (job.shared_dir is None):
        raise RunnerError("a Ray run needs exactly one of a tree tarball and a shared folder")
    check_fits(ray, job.resources)
    ship_worker_code(ray)
    task = ray.remote(ray_worker.stream_command).options(
        num_returns="streaming", max_retries=0, _generator_backpressure_num_objects=BACKPRESSURE_CHUNKS,
        **job.resources.task_options())
    tree = None
    if job.tree is not None:
        tree = [_TREES.ref(ray, job.commit, job.tree)]
        if job.commit is not None:
            _TREES.prepare(ray, job.commit, tree, job.resources)
    stream = task.remote(ray_worker.WorkerJob(
        run_id=job.run_id, argv=list(job.argv), env=dict(job.env), timeout_s=job.timeout_s, grace_s=KILL_GRACE_S,
        results_file=job.results_file, results_cap=RESULTS_CAP, tree=tree, commit=job.commit,
        shared_dir=job.shared_dir, sandbox=job.sandbox, request=dict(job.request)))
    return _Run(ray, stream, job, cancel or threading.Event()).follow(on_output, on_placed)


class _Trees:
    """The commits' archives this process put in the object store, and the nodes each was sent
    to, for the current connection (a new one starts afresh)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job_id: object = None
        self._refs: OrderedDict[str, Any] = OrderedDict()
        self._prepared: set[tuple[str, str]] = set()
        self._last: dict[str, Any] = {}  # node -> its latest preparation

    def _current(self, ray: ModuleType) -> None:
        job_id = ray.get_runtime_context().get_job_id()
        if job_id != self._job_id:
            self._job_id, self._refs, self._prepared, self._last = job_id, OrderedDict(), set(), {}

    def ref(self, ray: ModuleType, commit: str | None, tree: bytes | Callable[[], bytes]) -> Any:
        """The archive in the object store: put once per commit."""
        if commit is None:
            return ray.put(tree() if callable(tree) else tree)
        with self._lock:
            self._current(ray)
            if commit not in self._refs:
                self._refs[commit] = ray.put(tree() if callable(tree) else tree)
                while len(self._refs) > TREES_KEPT:
                    self._refs.popitem(last=False)
            self._refs.move_to_end(commit)
            return self._refs[commit]

    def prepare(self, ray: ModuleType, commit: str, tree: list[Any], resources: RayResources) -> None:
        """Fetch the commit's archive to the nodes that could take the run, not waiting for them: one
        preparation at a time per node, each after the last (a zero-CPU task still takes a
        worker process, and a burst of them would start one each)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        fitting = fitting_nodes(ray, resources)[:PREPARE_NODES]
        with self._lock:
            self._current(ray)
            for node in fitting:
                if (node, commit) in self._prepared:
                    continue
                self._prepared.add((node, commit))
                task = ray.remote(ray_worker.prepare_tree).options(
                    num_cpus=0, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
                self._last[node] = task.remote(commit, tree, self._last.get(node))


_TREES = _Trees()


class _Run:
    """One run's driver side: following its task's stream to the end."""

    def __init__(self, ray: ModuleType, stream: Any, job: RayJob, cancel: threading.Event):
        self.ray, self.stream, self.job, self.cancel = ray, stream, job, cancel
        self.node: tuple[str, str] | None = None
        self.placed: Placed | None = None
        self.began = time.monotonic()

    def result(self, status: RayStatus, message: str, exit_code: int | None = None,
               results: bytes | None = None) -> RayRunResult:
        ip, node_id = self.node or (None, None)
        signal = -exit_code if exit_code is not None and exit_code < 0 else None
        return RayRunResult(status, None if signal else exit_code, message, ip, node_id,
                            time.monotonic() - self.began, results, signal, self.placed)

    def follow(self, on_output: OutputCallback | None, on_placed: PlacedCallback | None) -> RayRunResult:
        errors = self.ray.exceptions
        try:
            while True:
                if self.cancel.is_set():
                    return self._cancel("cancelled", "cancelled" if self.node else "cancelled while waiting for a node with room")
                if self.node and time.monotonic() > self.began + self.job.timeout_s + BACKSTOP_S:
                    return self._cancel("timeout", f"stopped after the time limit of {self.job.timeout_s:g} s")
                if not self.ray.wait([self.stream], timeout=POLL_S)[0]:
                    continue
                kind, payload = self.ray.get(next(self.stream))
                if kind == "output" and on_output is not None:
                    on_output(payload)
                elif kind == "placed":
                    self.placed = Placed(ip=payload["ip"], node_id=payload["node_id"], host=payload["host"],
                                         workdir=payload["workdir"], container=payload["container"],
                                         unsandboxed=payload["unsandboxed"])
                    self.node, self.began = (self.placed.ip, self.placed.node_id), time.monotonic()
                    if on_placed is not None:
                        on_placed(self.placed)
                elif kind == "refused":
                    return self.result("error", payload)
                elif kind == "end":
                    return self._ended(*payload)
        except StopIteration:
            return self.result("interrupted", "the run's Ray task ended without a result")
        except errors.RayTaskError as exc:
            return self.result("error", f"the run could not start on its Ray node: {_reason(exc)}")
        except errors.RayError as exc:
            return self.result("interrupted", f"the run's Ray worker was lost: {_reason(exc)}")

    def _cancel(self, status: RayStatus, message: str) -> RayRunResult:
        """Cancel the task and wait (bounded) until its `finally` has stopped the command."""
        self.ray.cancel(self.stream)
        end = time.monotonic() + BACKSTOP_S
        try:
            while time.monotonic() < end:
                if self.ray.wait([self.stream], timeout=POLL_S)[0]:
                    self.ray.get(next(self.stream))
        except (StopIteration, self.ray.exceptions.RayError):
            return self.result(status, message)
        return self.result(status, f"{message}; the Ray task did not confirm it stopped within {BACKSTOP_S:g} s")

    def _ended(self, timed_out: bool, code: int | None, results: bytes | None, note: str) -> RayRunResult:
        if timed_out:
            return self.result("timeout", f"stopped after the time limit of {self.job.timeout_s:g} s", results=results)
        if code == 0:
            message = "exited with code 0"
        elif code is not None and code < 0:
            message = f"killed by signal {-code}"
        else:
            message = f"exited with code {code}"
        return self.result("passed" if code == 0 else "failed", f"{message}; {note}" if note else message, code, results)


def _reason(exc: BaseException) -> str:
    """Ray's account of a lost task, on one line (its messages run to many). A task that
    raised is told by its own exception: Ray's text wraps it in the worker's traceback and
    terminal colours, and the cut at 400 characters fell before the reason (a container its
    node's Docker engine would not start)."""
    cause = getattr(exc, "cause", None)
    shown = cause if isinstance(cause, BaseException) else exc
    text = " ".join(_COLOURS.sub("", str(shown)).split())
    return f"{type(shown).__name__}: {text[:400]}"


__all__ = ["Placed", "RayJob", "RayResources", "RayRunResult", "RayStatus", "run_on_ray", "tree_tarball"]
