"""The half of a Ray run that lives on the worker node: one streaming task per run
(`stream_command`), which lays out the commit's tree, starts the command in a session of its
own (or in a Docker container, `ray_docker`), yields its output as it comes, enforces the time
limit, and stops the whole process tree when the time is up or the driver cancels the task.

A task, not an actor: Ray runs it in a warm worker process of its pool, where an actor would
start a fresh one (a second or more per run), and `ray.cancel` of a streaming task raises
KeyboardInterrupt in it, so its `finally` stops the tree before the driver hears it ended.

The driver ships this module (and `proctree`, whose `ProcessTree` kills the run) to the worker
by value (`ray_remote.ship_worker_code`), so a worker node needs Ray but not MLR-Copilot, and
runs exactly the code of the driver's version. Nothing here imports from the package at run
time for the same reason, except a run in Docker, which needs the package's Docker runner on
the node (`ray_docker`; without it the worker says so and, unless Docker was required, runs
the command unsandboxed).

- The commit's tree travels once per commit and node (the archive, an object of Ray's store,
  is fetched to a node once, by a zero-CPU preparation task, `prepare_tree`, sent by the driver
  to each node that could take the run while it waits for a CPU). A run takes a reused run
  folder of the node (`ray_rundirs`: at most one per CPU, leased with `flock`) and syncs it
  from the archive: only the files that differ from what the folder last held are written,
  and whatever the previous run left or changed is removed (2,000 files take a second or more
  to write; checking them, tens of ms). When every folder is leased, or one cannot be synced,
  the run gets a working copy of its own from the node's cache of unpacked trees
  (`TreeCache`, under its temporary folder; made elsewhere and renamed into place, so a half
  tree is never seen; runs of one commit wait for each other instead of repeating the work):
  a commit that runs again there is kept unpacked and its next copy made while it runs. The
  node keeps the last `CACHE_KEEP` commits, and fewer when they take more than
  `CACHE_MAX_BYTES` of its disk (least recently used go first), never one a run of the node is
  running or copying.
- The command's environment is the one the driver gives, plus the run's marker
  (`MLR_RUN_ID=<id>`, which finds escapees that left the session), the GPUs Ray gave the task
  (`gpu_access`: a container gets exactly those devices) and the worker's PATH,
  HOME and LANG where the driver gives none: never the Ray worker's own environment. The
  folder of the worker's Python leads that PATH, so `python` is the Python of the node's
  Ray (the one a cluster's image or environment provides for its jobs).
- The leader dies with the worker (PR_SET_PDEATHSIG): a worker whose node is killed takes
  the run's leader along, so the run does not go on unseen. Its descendants outlive it (the
  kernel tells only the direct child), as they outlive any dead supervisor.
- Output waits in a bounded buffer, and the task's stream holds a bounded number of chunks
  (Ray's generator backpressure): a driver that reads slowly blocks the command's writes (as a
  full pipe would), and no line is ever dropped.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import importlib
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .proctree import RUN_ID_VAR, ProcessTree, marked_processes
from .ray_rundirs import RunDir, sync
from .ray_rundirs import lease as rundir_lease

BUFFER_CAP = 8 * 1024 * 1024
CHUNK_CAP = 1024 * 1024
POLL_S = 0.2
# after a stop, how long the output the command printed before it is still awaited
DRAIN_S = 5.0
# commits whose unpacked tree a node keeps (least recently used go first)
CACHE_KEEP = 16
# and the most their trees and spares may take on its disk: 16 commits of a repository with a
# small dataset checked in would otherwise fill a worker's /tmp
CACHE_MAX_BYTES = 2 << 30
# a half-made tree this old was left by a worker that died making it
PARTIAL_STALE_S = 3600.0
_PR_SET_PDEATHSIG = 1
_PASSED_THROUGH = ("PATH", "HOME", "LANG")
_COMMIT = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
_PARTIAL = re.compile(r"\.[0-9a-f]{40}")
UNSANDBOXED = "unsandboxed: the Ray worker ran it as a plain process of its node, not in a Docker container"
SandboxMode = Literal["auto", "docker", "none"]


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the thread that started it exits."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def unpack_tree(tree: bytes, into: Path) -> None:
    """A `git archive` tar into `into`, refusing members that would land outside it."""
    with tarfile.open(fileobj=io.BytesIO(tree), mode="r:") as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(into, filter="data")
            return
        # a worker's Python older than 3.10.12/3.11.4 has no extraction filters
        for member in archive.getmembers():
            targets = [member.name, *([member.linkname] if member.issym() or member.islnk() else [])]
            if any(Path(name).is_absolute() or ".." in Path(name).parts for name in targets):
                raise ValueError(f"the run's tree has a member outside its folder: {member.name}")
        archive.extractall(into)


@contextlib.contextmanager
def _locked(path: Path, mode: int) -> Iterator[bool]:
    """`flock` on `path` (made if missing); yields False when LOCK_NB was asked and it is taken."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, mode)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


class TreeCache:
    """Unpacked commit trees on this node, shared by the runs of each commit (see the module's
    docstring): `<root>/<commit>/` the tree, `<commit>.spare/` a copy ready for the next run,
    `<commit>.lock` held while either is made (exclusively) or copied (shared), `<commit>.use`
    held (shared) by each run of the commit while it runs (`use`)."""

    def __init__(self, root: Path | None = None, max_bytes: int = CACHE_MAX_BYTES):
        self.root = root or Path(tempfile.gettempdir()) / f"mlr-ray-trees-{os.getuid()}"
        self.max_bytes = max_bytes

    def _paths(self, commit: str) -> tuple[Path, Path, Path]:
        if not _COMMIT.fullmatch(commit):
            raise ValueError(f"not a commit id: {commit!r}")
        return self.root / commit, self.root / f"{commit}.spare", self.root / f"{commit}.lock"

    def use(self, commit: str) -> int:
        """A descriptor holding the commit as in use by a run (eviction leaves it) until it is
        closed; the kernel closes it when the worker dies, so a dead run holds nothing."""
        self._paths(commit)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.root / f"{commit}.use", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_SH)
        return fd

    def prepare(self, commit: str, tree: list[Any]) -> None:
        """A working copy of the commit ready here for its next run (the spare): copied from the
        node's tree of the commit when there is one, else unpacked from the archive (one
        tree written per commit run once, which is most of them)."""
        entry, spare, lock = self._paths(commit)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _locked(lock, fcntl.LOCK_EX):
            if spare.is_dir():
                return
            if entry.is_dir():
                self._place(spare, lambda into: _copy_tree(entry, into))
                os.utime(entry)
            else:
                self._place(spare, lambda into: _unpack_ref(tree, into))
            # a spare copied from a kept tree doubles the commit's bytes: the size cap applies
            # after either
            self._evict(keep=commit)

    def take(self, commit: str, tree: list[Any], into: Path) -> bool:
        """A working copy of the commit at `into` (which must not exist): the spare when there
        is one (or once the preparation making it is done), else a copy of the node's tree of
        the commit, else unpacked now. True when the commit ran here before."""
        entry, spare, lock = self._paths(commit)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        ran = self.root / f"{commit}.ran"
        again = ran.exists()
        ran.touch()
        with contextlib.suppress(FileNotFoundError):
            os.rename(spare, into)
            return again
        with _locked(lock, fcntl.LOCK_SH):
            with contextlib.suppress(FileNotFoundError):
                os.rename(spare, into)
                return again
            if entry.is_dir():
                _copy_tree(entry, into)
                return again
        into.mkdir()
        _unpack_ref(tree, into)
        return again

    def refill(self, commit: str, tree: list[Any]) -> None:
        """For a commit that runs again here: its tree kept on the node, and a spare made."""
        entry, _, lock = self._paths(commit)
        with _locked(lock, fcntl.LOCK_EX):
            if not entry.is_dir():
                self._place(entry, lambda into: _unpack_ref(tree, into))
            os.utime(entry)
        self.prepare(commit, tree)

    def _place(self, target: Path, make: Any) -> None:
        """`make(folder)` into a fresh folder, renamed to `target` once complete."""
        partial = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=self.root))
        try:
            make(partial)
            os.rename(partial, target)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise

    def _evict(self, keep: str) -> None:
        """Remove the least recently used commits past `CACHE_KEEP` or past `max_bytes` on disk
        (`keep`'s own included), leaving any in use, and what dead workers left half made. One
        in use stays and its bytes still count: the cache may be over its size until it ends."""
        stale = time.time() - PARTIAL_STALE_S
        for path in self.root.iterdir():
            with contextlib.suppress(OSError):
                if _PARTIAL.match(path.name) and path.stat().st_mtime < stale:
                    shutil.rmtree(path)
        used: dict[str, float] = {}  # commit -> when its tree or spare was last made or used
        for path in self.root.iterdir():
            commit = path.name.removesuffix(".spare")
            if _COMMIT.fullmatch(commit) and commit != keep and path.is_dir():
                used[commit] = max(used.get(commit, 0.0), path.stat().st_mtime)
        size = {commit: self._disk_bytes(commit) for commit in [keep, *used]}
        total = sum(size.values())
        recent_first = sorted(used, key=used.__getitem__, reverse=True)
        for rank in range(len(recent_first) - 1, -1, -1):  # least recently used first
            if rank < CACHE_KEEP - 1 and total <= self.max_bytes:
                break
            if self._remove(recent_first[rank]):
                total -= size[recent_first[rank]]

    def _remove(self, commit: str) -> bool:
        """The commit's tree and spare removed, unless being made, copied or run (False)."""
        entry, spare, lock = self._paths(commit)
        with _locked(lock, fcntl.LOCK_EX | fcntl.LOCK_NB) as free, \
                _locked(self.root / f"{commit}.use", fcntl.LOCK_EX | fcntl.LOCK_NB) as unused:
            if not (free and unused):
                return False
            shutil.rmtree(spare, ignore_errors=True)
            shutil.rmtree(entry, ignore_errors=True)
            (self.root / f"{commit}.ran").unlink(missing_ok=True)
            return True

    def _disk_bytes(self, commit: str) -> int:
        """What the commit's tree and spare take on disk (blocks, not apparent sizes)."""
        total = 0
        for top in self._paths(commit)[:2]:
            for folder, dirs, files in os.walk(top):
                for name in [*dirs, *files]:
                    with contextlib.suppress(OSError):
                        total += os.lstat(os.path.join(folder, name)).st_blocks * 512
        return total


def _unpack_ref(tree: list[Any], into: Path) -> None:
    import ray  # on the worker, where Ray is always present

    unpack_tree(ray.get(tree[0]), into)


def _copy_tree(source: Path, into: Path) -> None:
    """A copy of `source`'s files (their modes, links as links) filling the folder `into`."""
    shutil.copytree(source, into, symlinks=True, copy_function=shutil.copy, dirs_exist_ok=True)


def prepare_tree(commit: str, tree: list[Any], after: object = None) -> str:
    """A zero-CPU Ray task: the commit's archive fetched to this node before a run of it takes
    its CPU here (`after`: the result of the node's previous preparation, which Ray waits for,
    so a node fetches one at a time in one worker process); the run syncs a reused folder
    from it (`ray_rundirs`), or unpacks it when every folder is taken. Says what went wrong
    rather than raising: nobody waits for it but the next preparation."""
    import ray  # on the worker, where Ray is always present

    try:
        ray.get(tree[0])
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


@dataclass(frozen=True)
class WorkerJob:
    """What the driver sends a run's task. `tree` holds the commit's archive (an ObjectRef,
    inside a list so that Ray fetches it only for a node that lacks the commit); `commit`
    keys the node's cache (None: a tree of no commit, unpacked for this run only)."""

    run_id: str
    argv: list[str]
    env: dict[str, str]
    timeout_s: float
    grace_s: float
    results_file: str
    results_cap: int
    tree: list[Any] | None = None
    commit: str | None = None
    shared_dir: str | None = None
    sandbox: SandboxMode = "none"
    # the run's request (`RunRequest` fields) that a container is made from
    request: dict[str, Any] = field(default_factory=dict)


# ("placed", {ip, node_id, workdir, host, container, unsandboxed}), ("output", bytes), then
# ("end", (timed out, exit code, results file or None, note on the results file)); or only
# ("refused", why), when Docker was required and the node cannot run a container
Event = tuple[Literal["placed", "output", "end", "refused"], object]


def stream_command(job: WorkerJob) -> Iterator[Event]:
    """One run, as a Ray streaming task (`ray.remote(stream_command)`): see `Event`."""
    docker, why = _docker_for(job)
    if docker is None and job.sandbox == "docker":
        yield "refused", f"run.raySandbox is docker but this Ray node cannot run a container: {why}"
        return
    command = CommandProcess()
    ended = False
    try:
        yield "placed", command.start(job, docker, why)
        deadline = time.monotonic() + job.timeout_s
        timed_out = False
        while True:
            chunk, done, code = command.poll(POLL_S)
            if chunk:
                yield "output", chunk
            if done:
                break
            if not timed_out and time.monotonic() >= deadline:
                command.stop(job.grace_s)
                timed_out, deadline = True, time.monotonic() + DRAIN_S
            elif timed_out and time.monotonic() >= deadline:
                break
        results, note = command.finish(job.results_file, job.results_cap)
        ended = True
        yield "end", (timed_out, code, results, note)
    finally:
        if not ended:  # cancelled (KeyboardInterrupt), or the driver went away
            command.stop(job.grace_s)
            command.finish(job.results_file, 0)


def gpu_access(assigned: list[Any], container: bool) -> tuple[list[str], dict[str, str]]:
    """What a run sees of the GPUs Ray gave its task (`assigned`: `ray.get_gpu_ids()`, the
    node's indices): the node's GPU ids its container is given (as a DeviceRequest; none for
    a plain process), and its CUDA_VISIBLE_DEVICES. A plain process sees every GPU of the node,
    so it is told the node's indices. A container sees only the devices it was given, numbered
    from 0 (the node's GPU 1 is 0 inside), so it is told 0..n-1: a node index would name a GPU
    it does not have. None assigned: an empty CUDA_VISIBLE_DEVICES, so the run cannot take a
    GPU Ray gave another task (nor, in a container, one an engine whose default runtime is
    nvidia would show it): the local runner's rule (`slots.cuda_env`)."""
    ids = [str(gpu) for gpu in assigned]
    if container:
        return ids, {"CUDA_VISIBLE_DEVICES": ",".join(str(index) for index in range(len(ids)))}
    return [], {"CUDA_VISIBLE_DEVICES": ",".join(ids)}


def container_for(job: WorkerJob, docker: Any, workdir: Path, assigned: list[Any]) -> Any:
    """The run's container (`docker`: the package's `ray_docker`), not started yet, given the
    GPUs `assigned` to the task."""
    devices, gpu_env = gpu_access(assigned, container=True)
    return docker.WorkerContainer(job.request, job.argv, {**job.env, **gpu_env}, workdir, job.run_id, devices)


def _docker_for(job: WorkerJob) -> tuple[Any, str]:
    """The package's `ray_docker` module when the run goes in a container on this node, else
    None and why not."""
    if job.sandbox == "none":
        return None, "run.raySandbox is none"
    if job.shared_dir is not None:
        return None, "a run in a shared folder (run.rayCode: shared) runs in place, outside Docker"
    try:
        module = importlib.import_module("mlr_copilot.runners.ray_docker")
    except ImportError as exc:
        return None, f"MLR-Copilot's Docker runner cannot be imported on this node ({exc})"
    why = module.unavailable(job.request.get("image"))
    return (None, why) if why else (module, "")


class CommandProcess:
    """One run's command on this node: a process of its own session, or a container."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._buffer = bytearray()
        self._done = False
        self._exit_code: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._container: Any = None
        self._workdir: Path | None = None
        self._owns_workdir = False
        self._in_use: int | None = None
        self._rundir: RunDir | None = None  # a reused run folder (`ray_rundirs`), leased
        self._run_id = ""

    def start(self, job: WorkerJob, docker: Any, unsandboxed: str) -> dict[str, str | None]:
        """Start the job's command in its tree (in a container when `docker`, the package's
        `ray_docker`, is given; else as a plain process, `unsandboxed` saying why); returns
        where it runs (see `Event`)."""
        import ray  # on the worker, where Ray is always present

        self._run_id = job.run_id
        self._workdir = self._lay_out(job)
        if docker is not None:
            self._container = container_for(job, docker, self._workdir, ray.get_gpu_ids())
            container_id = self._container.start()
            threading.Thread(target=self._pump_container, daemon=True).start()
        else:
            container_id = None
            full_env = {key: os.environ[key] for key in _PASSED_THROUGH if key in os.environ}
            full_env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent),
                                                *full_env.get("PATH", "").split(os.pathsep)])
            full_env.update(job.env)
            # Ray's allocation wins over a variable the driver passed, as a slot's does locally
            full_env.update(gpu_access(ray.get_gpu_ids(), container=False)[1])
            full_env[RUN_ID_VAR] = job.run_id
            started = threading.Event()
            # the thread that forks is the leader's "parent" for PDEATHSIG: it must live as long
            # as the command, so the pump thread itself starts it
            threading.Thread(target=self._pump, args=(job.argv, full_env, started), daemon=True).start()
            started.wait()
        return {
            "ip": ray.util.get_node_ip_address(),  # type: ignore[no-untyped-call]  # unannotated in Ray
            "node_id": ray.get_runtime_context().get_node_id(),
            "workdir": str(self._workdir),
            "host": socket.gethostname(),
            "container": container_id,
            "unsandboxed": None if docker is not None else f"{UNSANDBOXED} ({unsandboxed})",
        }

    def _lay_out(self, job: WorkerJob) -> Path:
        """The folder the command runs in: the shared one, a reused run folder synced to the
        commit, or a working copy of its own."""
        if job.shared_dir is not None:
            return Path(job.shared_dir)
        self._owns_workdir = True
        if job.commit is None:
            workdir = Path(tempfile.mkdtemp(prefix=f"mlr-{job.run_id}-"))
            import ray

            unpack_tree(ray.get(job.tree[0]) if job.tree else b"", workdir)
            return workdir
        import ray

        held = rundir_lease(job.commit)
        if held is not None:
            try:
                sync(held.path, job.commit, ray.get(job.tree[0]) if job.tree else b"")
            except BaseException as exc:
                held.release()
                if not isinstance(exc, OSError):  # a tree that cannot be laid out anywhere
                    raise
                # the run gets a copy of its own; a later sync repairs the folder
            else:
                self._rundir = held
                return held.path
        cache = TreeCache()
        # held until `finish`: its tree is what the seeded re-runs of this commit copy next
        self._in_use = cache.use(job.commit)
        workdir = Path(tempfile.mkdtemp(prefix=f".run-{job.run_id}-", dir=_made(cache.root)))
        workdir.rmdir()  # the spare is renamed to this name
        if cache.take(job.commit, job.tree or [], workdir):
            # a commit run again here (seeded re-runs): the next run finds its copy ready, made
            # while this one runs; a commit run once (most) costs no copy it never uses
            threading.Thread(target=_refill, args=(cache, job.commit, job.tree or []), daemon=True).start()
        return workdir

    def _pump(self, argv: list[str], env: dict[str, str], started: threading.Event) -> None:
        try:
            self._process = subprocess.Popen(
                argv, cwd=self._workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            self._append(f"could not start {argv[0] if argv else 'an empty command'}: {exc}\n".encode())
            self._finish(127)
            return
        finally:
            started.set()
        assert self._process.stdout is not None
        fd = self._process.stdout.fileno()
        while data := os.read(fd, 1 << 16):
            self._append(data)
        self._finish(self._process.wait())

    def _pump_container(self) -> None:
        try:
            while (data := self._container.read()) != b"":
                if data:
                    self._append(data)
        except Exception as exc:  # the engine went away mid-run: the exit code still judges it
            self._append(f"\n{exc}\n".encode())
        self._finish(self._container.exit_code())

    def _append(self, data: bytes) -> None:
        with self._cond:
            while len(self._buffer) > BUFFER_CAP:
                self._cond.wait()
            self._buffer += data
            self._cond.notify_all()

    def _finish(self, code: int | None) -> None:
        with self._cond:
            self._exit_code = code
            self._done = True
            self._cond.notify_all()

    def poll(self, wait_s: float) -> tuple[bytes, bool, int | None]:
        """(output since the last poll, cut after its last complete line; whether the command
        ended and all its output was taken; its exit code, negative for a signal). Waits up to
        `wait_s` for something new."""
        with self._cond:
            if not self._buffer and not self._done:
                self._cond.wait(wait_s)
            end = len(self._buffer) if self._done else self._buffer.rfind(b"\n", 0, CHUNK_CAP) + 1
            if end == 0 and len(self._buffer) >= CHUNK_CAP:
                end = CHUNK_CAP  # one line longer than a chunk: passed on in pieces
            end = min(end, CHUNK_CAP)
            chunk = bytes(self._buffer[:end])
            del self._buffer[:end]
            self._cond.notify_all()
            return chunk, self._done and not self._buffer, self._exit_code

    def stop(self, grace_s: float) -> None:
        """SIGTERM the run's session and every process carrying its marker, SIGKILL what is
        left after `grace_s`."""
        if self._container is not None:
            self._container.stop(grace_s)
        elif self._process is not None:
            ProcessTree(self._process.pid, self._run_id, None).kill(grace=grace_s, deep=True)

    def finish(self, results_file: str, cap_bytes: int) -> tuple[bytes | None, str]:
        """The results file the command wrote (None, and why, when it wrote none or one over
        `cap_bytes`); then the container is removed, and the run folder handed back (a reused
        one is cleaned by its next sync; a copy of its own is removed by a thread of the worker
        process, so the run's resources are free for the next run at once; a worker that exits
        first leaves it to the node's temporary-file cleanup)."""
        try:
            return self._read_results(results_file, cap_bytes)
        finally:
            if self._container is not None:
                self._container.close()
            if self._in_use is not None:
                os.close(self._in_use)
                self._in_use = None
            if self._rundir is not None:
                self._rundir.release()  # what the run left is removed by the next sync
            elif self._owns_workdir and self._workdir is not None:
                threading.Thread(target=shutil.rmtree, args=(self._workdir,), kwargs={"ignore_errors": True},
                                 daemon=True).start()

    def _read_results(self, results_file: str, cap_bytes: int) -> tuple[bytes | None, str]:
        if self._workdir is None or Path(results_file).is_absolute() or ".." in Path(results_file).parts:
            return None, f"results file {results_file!r} is not a path inside the run's folder"
        try:
            fd = os.open(self._workdir / results_file, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None, ""
        except OSError as exc:
            return None, f"could not read {results_file}: {exc.strerror}"
        with os.fdopen(fd, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > cap_bytes:
                return None, f"{results_file} is {size / 2**20:.1f} MB, over the {cap_bytes / 2**20:g} MB cap: not kept"
            return handle.read(cap_bytes + 1)[:cap_bytes], ""


def stop_marked(run_id: str) -> int:
    """Kill every process of this node that carries `run_id`'s marker (what a run whose
    driver died left behind); returns how many there were. A Ray task of its own."""
    found = marked_processes(run_id)
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(found)


def _made(folder: Path) -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _refill(cache: TreeCache, commit: str, tree: list[Any]) -> None:
    with contextlib.suppress(Exception):  # a spare is a saving, never a run's failure
        cache.refill(commit, tree)
