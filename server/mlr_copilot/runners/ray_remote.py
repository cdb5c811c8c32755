"""Run one command for a commit's tree on a Ray cluster: the substance of the `ray` runner.

How the tree reaches the worker. Two ways, chosen per run (`RayJob`):
- `tree`: the bytes of `git archive` of the commit (`tree_tarball`), put in Ray's object store
  and unpacked by the run's actor into a fresh folder on its node, removed when the run ends.
  It needs nothing of the cluster but Ray; a commit's tree is read once per run (large data
  belongs outside the repository, see below). We ship the bytes ourselves rather than through
  `runtime_env={"working_dir": ...}`, which would do the same through the GCS, but caches each
  tree by hash on every node with no way to remove it when the run ends, caps it at 500 MB and
  would need the tree on the driver's disk as a folder first.
- `shared_dir`: a folder every node sees at the same path (NFS, a Lustre or Slurm scratch
  mount, a Kubernetes volume mounted in each KubeRay pod), holding the tree already (a managed
  worktree there): nothing travels, and the run writes its outputs in place.
Datasets and the Hugging Face cache do not travel with the tree: point `HF_HOME` (and the
task's data path) at a folder on each node or a shared mount, through the run's `env`.

A run is an actor (`ray_worker.CommandActor`) holding the run's resources (`RayResources`) for
its lifetime. The driver polls it for output and passes it on in order (`on_output` gets
chunks of whole lines; nothing is dropped), stops it on cancel or timeout (SIGTERM, then
SIGKILL, to the command's session and every process carrying its marker, then the actor), and
reads back the exit code, the node's address and id and the results file (up to 16 MB). A node
that dies, or stops answering for a minute, ends the run as `interrupted` with Ray's reason.
Time spent waiting for a node with room (the cluster is busy) does not count against the
timeout; cancel works while waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from ..workspace import gitsafe
from . import proctree, ray_worker
from .base import KILL_GRACE_S, RunnerError
from .ray_connect import RayResources, check_fits

RayStatus = Literal["passed", "failed", "timeout", "cancelled", "interrupted"]
OutputCallback = Callable[[bytes], None]
# Told (node IP, node id) as soon as the command runs on its node.
PlacedCallback = Callable[[str, str], None]

RESULTS_CAP = 16 * 1024 * 1024
POLL_WAIT_S = 0.2
# How long a call to the actor may go unanswered before the run is given up as interrupted.
UNRESPONSIVE_S = 60.0
_CALL_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RayJob:
    run_id: str
    argv: list[str]
    env: Mapping[str, str]
    timeout_s: float
    resources: RayResources
    tree: bytes | None = None
    shared_dir: str | None = None
    results_file: str = "results.json"


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


def tree_tarball(workspace: Path | str, commit: str) -> bytes:
    """The tree of `commit` as a tar, built by git without running anything the repository names."""
    done = gitsafe.run(workspace, "archive", "--format=tar", f"{commit}^{{tree}}", timeout=300)
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise RunnerError(f"could not export commit {commit[:12]} for Ray: {reason[-1] if reason else 'git archive failed'}")
    return done.stdout


def ship_worker_code(ray: ModuleType) -> None:
    """Send the worker's code by value with each actor: the nodes need Ray, not this package."""
    for module in (ray_worker, proctree):
        ray.cloudpickle.register_pickle_by_value(module)


def run_on_ray(ray: ModuleType, job: RayJob, *, on_output: OutputCallback | None = None,
               cancel: threading.Event | None = None, on_placed: PlacedCallback | None = None) -> RayRunResult:
    """Run `job` on the cluster `ray` is connected to (`ray_connect.connect`); blocks until the
    command ends, is cancelled, times out or its node is lost."""
    if (job.tree is None) == (job.shared_dir is None):
        raise RunnerError("a Ray run needs exactly one of a tree tarball and a shared folder")
    check_fits(ray, job.resources)
    ship_worker_code(ray)
    actor_class = ray.remote(ray_worker.CommandActor).options(
        max_concurrency=4, max_restarts=0, max_task_retries=0, **job.resources.actor_options())
    actor = actor_class.remote()
    run = _Run(ray, actor, job, on_output, cancel or threading.Event())
    try:
        return run.execute(on_placed)
    finally:
        ray.kill(actor, no_restart=True)


class _Run:
    """One run's driver side: placement, streaming, stopping, and its end."""

    def __init__(self, ray: ModuleType, actor: Any, job: RayJob, on_output: OutputCallback | None,
                 cancel: threading.Event):
        self.ray, self.actor, self.job, self.on_output, self.cancel = ray, actor, job, on_output, cancel
        self.node: tuple[str, str] | None = None
        self.began = time.monotonic()

    def result(self, status: RayStatus, message: str, exit_code: int | None = None,
               results: bytes | None = None) -> RayRunResult:
        ip, node_id = self.node or (None, None)
        signal = -exit_code if exit_code is not None and exit_code < 0 else None
        return RayRunResult(status, None if signal else exit_code, message, ip, node_id,
                            time.monotonic() - self.began, results, signal)

    def execute(self, on_placed: PlacedCallback | None) -> RayRunResult:
        died = self.ray.exceptions.RayActorError
        try:
            if not self._place():
                return self.result("cancelled", "cancelled while waiting for a node with room")
            if on_placed is not None and self.node is not None:
                on_placed(*self.node)
            return self._stream()
        except died as exc:
            return self.result("interrupted", f"the run's Ray worker died: {_reason(exc)}")
        except _Unresponsive as exc:
            return self.result("interrupted", str(exc))

    def _place(self) -> bool:
        """Start the command once a node has room; False when cancelled first."""
        tree = self.ray.put(self.job.tree) if self.job.tree is not None else None
        started = self.actor.start.remote(tree, self.job.shared_dir, list(self.job.argv), dict(self.job.env),
                                          self.job.run_id)
        while not self.ray.wait([started], timeout=POLL_WAIT_S)[0]:
            if self.cancel.is_set():
                return False
        self.node = tuple(self.ray.get(started))
        self.began = time.monotonic()
        return True

    def _stream(self) -> RayRunResult:
        deadline = self.began + self.job.timeout_s
        while True:
            done, code = self._take(POLL_WAIT_S)
            if done:
                return self._ended(code)
            if self.cancel.is_set():
                return self._stop("cancelled", "cancelled")
            if time.monotonic() >= deadline:
                return self._stop("timeout", f"stopped after the time limit of {self.job.timeout_s:g} s")

    def _take(self, wait_s: float) -> tuple[bool, int | None]:
        chunk, done, code = self._call(self.actor.poll, wait_s)
        if chunk and self.on_output is not None:
            self.on_output(chunk)
        return done, code

    def _call(self, method: Any, *args: Any) -> Any:
        """One call to the actor; an actor that answers nothing for UNRESPONSIVE_S is given up."""
        ref = method.remote(*args)
        waited = 0.0
        while True:
            try:
                return self.ray.get(ref, timeout=_CALL_TIMEOUT_S)
            except (self.ray.exceptions.GetTimeoutError, self.ray.exceptions.ActorUnavailableError) as exc:
                waited += _CALL_TIMEOUT_S
                if waited >= UNRESPONSIVE_S:
                    raise _Unresponsive(f"the run's Ray worker stopped answering for {UNRESPONSIVE_S:g} s") from exc
                if isinstance(exc, self.ray.exceptions.ActorUnavailableError):
                    time.sleep(1.0)
                    ref = method.remote(*args)

    def _stop(self, status: RayStatus, message: str) -> RayRunResult:
        self._call(self.actor.stop, KILL_GRACE_S)
        # what the command printed before it was stopped is still wanted
        end = time.monotonic() + 5.0
        while not self._take(0.05)[0] and time.monotonic() < end:
            pass
        results, _ = self._call(self.actor.finish, self.job.results_file, RESULTS_CAP)
        return self.result(status, message, results=results)

    def _ended(self, code: int | None) -> RayRunResult:
        results, note = self._call(self.actor.finish, self.job.results_file, RESULTS_CAP)
        if code == 0:
            message = "exited with code 0"
        elif code is not None and code < 0:
            message = f"killed by signal {-code}"
        else:
            message = f"exited with code {code}"
        return self.result("passed" if code == 0 else "failed", f"{message}; {note}" if note else message, code, results)


class _Unresponsive(Exception):
    pass


def _reason(exc: BaseException) -> str:
    """Ray's account of a lost actor, on one line (its messages run to many)."""
    text = " ".join(str(exc).split())
    for marker in ("The actor died because", "The actor is dead because", "died because"):
        at = text.find(marker)
        if at >= 0:
            text = text[at:]
            break
    return f"{type(exc).__name__}: {text[:400]}"


__all__ = ["RayJob", "RayResources", "RayRunResult", "RayStatus", "run_on_ray", "tree_tarball"]
