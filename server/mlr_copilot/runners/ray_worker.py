"""The half of a Ray run that lives on the worker node: one streaming task per run
(`stream_command`), which unpacks the commit's tree, starts the command in a session of its
own, yields its output as it comes, enforces the time limit, and stops the whole process tree
when the time is up or the driver cancels the task.

A task, not an actor: Ray runs it in a warm worker process of its pool, where an actor would
start a fresh one (a second or more per run), and `ray.cancel` of a streaming task raises
KeyboardInterrupt in it, so its `finally` stops the tree before the driver hears it ended.

The driver ships this module (and `proctree`, whose `ProcessTree` kills the run) to the worker
by value (`ray_remote.ship_worker_code`), so a worker node needs Ray but not MLR-Copilot, and
runs exactly the code of the driver's version. Nothing here imports from the package at run
time for the same reason.

- The command's environment is the one the driver gives, plus the run's marker
  (`MLR_RUN_ID=<id>`, which finds escapees that left the session) and the worker's PATH,
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

import ctypes
import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from .proctree import RUN_ID_VAR, ProcessTree, marked_processes

BUFFER_CAP = 8 * 1024 * 1024
CHUNK_CAP = 1024 * 1024
POLL_S = 0.2
# after a stop, how long the output the command printed before it is still awaited
DRAIN_S = 5.0
_PR_SET_PDEATHSIG = 1
_PASSED_THROUGH = ("PATH", "HOME", "LANG")


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


# ("placed", (node IP, node id, the run's folder on the node)), ("output", bytes), then
# ("end", (timed out, exit code, results file or None, note on the results file))
Event = tuple[Literal["placed", "output", "end"], object]


def stream_command(tree: bytes | None, shared_dir: str | None, argv: list[str], env: dict[str, str], run_id: str,
                   timeout_s: float, grace_s: float, results_file: str, results_cap: int) -> Iterator[Event]:
    """One run, as a Ray streaming task (`ray.remote(stream_command)`): see `Event`."""
    command = CommandProcess()
    ended = False
    try:
        yield "placed", command.start(tree, shared_dir, argv, env, run_id)
        deadline = time.monotonic() + timeout_s
        timed_out = False
        while True:
            chunk, done, code = command.poll(POLL_S)
            if chunk:
                yield "output", chunk
            if done:
                break
            if not timed_out and time.monotonic() >= deadline:
                command.stop(grace_s)
                timed_out, deadline = True, time.monotonic() + DRAIN_S
            elif timed_out and time.monotonic() >= deadline:
                break
        results, note = command.finish(results_file, results_cap)
        ended = True
        yield "end", (timed_out, code, results, note)
    finally:
        if not ended:  # cancelled (KeyboardInterrupt), or the driver went away
            command.stop(grace_s)
            command.finish(results_file, 0)


class CommandProcess:
    """One run's command on this node."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._buffer = bytearray()
        self._done = False
        self._exit_code: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._owns_workdir = False
        self._run_id = ""

    def start(self, tree: bytes | None, shared_dir: str | None, argv: list[str], env: dict[str, str],
              run_id: str) -> tuple[str, str, str]:
        """Start `argv` in the unpacked `tree` (or in `shared_dir`, a folder this node sees);
        returns (this node's IP address, its Ray node id, the run's folder)."""
        import ray  # on the worker, where Ray is always present

        self._run_id = run_id
        if shared_dir is not None:
            self._workdir = Path(shared_dir)
        else:
            self._workdir = Path(tempfile.mkdtemp(prefix=f"mlr-{run_id}-"))
            self._owns_workdir = True
            unpack_tree(tree or b"", self._workdir)
        full_env = {key: os.environ[key] for key in _PASSED_THROUGH if key in os.environ}
        full_env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), *full_env.get("PATH", "").split(os.pathsep)])
        full_env.update(env)
        full_env[RUN_ID_VAR] = run_id
        started = threading.Event()
        # the thread that forks is the leader's "parent" for PDEATHSIG: it must live as long
        # as the command, so the pump thread itself starts it
        threading.Thread(target=self._pump, args=(argv, full_env, started), daemon=True).start()
        started.wait()
        ip = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]  # unannotated in Ray
        return ip, ray.get_runtime_context().get_node_id(), str(self._workdir)

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

    def _append(self, data: bytes) -> None:
        with self._cond:
            while len(self._buffer) > BUFFER_CAP:
                self._cond.wait()
            self._buffer += data
            self._cond.notify_all()

    def _finish(self, code: int) -> None:
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
        if self._process is not None:
            ProcessTree(self._process.pid, self._run_id, None).kill(grace=grace_s, deep=True)

    def finish(self, results_file: str, cap_bytes: int) -> tuple[bytes | None, str]:
        """The results file the command wrote (None, and why, when it wrote none or one over
        `cap_bytes`); then the unpacked tree is removed, by a thread of the worker process, so
        the run's resources are free for the next run at once (a worker that exits first
        leaves the folder to the node's temporary-file cleanup)."""
        try:
            return self._read_results(results_file, cap_bytes)
        finally:
            if self._owns_workdir and self._workdir is not None:
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
