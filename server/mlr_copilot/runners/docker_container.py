"""One Docker run's container: the run's tree (its commit's worktree; else the workspace)
mounted at /workspace with its secrets files hidden and its `.git`, `.mlr` and build inputs
read-only (for a worktree: its outputs folder writable at /mlr-output, the workspace's ignored
data it links read-only at /workspace/<name>, and never the repository its `.git` file points
to), no network unless asked, memory/CPU/process limits from the
request, the workspace owner's user without any capability and unable to make set-ID files,
and a container that is always removed. The output is read from a stream attached before the
container starts, in large blocks, so none of it is lost and a chatty run is not slowed down.
`DockerJob` is the supervision loop's view of it (see `supervise`)."""

from __future__ import annotations

import logging
import math
import os
import threading
from pathlib import Path
from typing import Any

from ..workspace.worktrees import linked_ignored, output_env, without_git_location
from .docker_engine import LABEL, OWNER_LABEL, RUN_LABEL, owner_label
from .docker_image import BUILD_INPUTS, SKIP_DIRS
from .environment import scrub_env
from .model import Sandbox
from .proctree import RUN_ID_VAR
from .supervise import Breach, Exit, Job, OutputLost, Placement, RunContext, StartCallback

log = logging.getLogger(__name__)

CONTAINER_WORKDIR = "/workspace"
# where a run in a worktree finds its outputs folder (`MLR_OUTPUT_DIR`)
CONTAINER_OUTPUT = "/mlr-output"
# Every command starts under setid_guard (see there why), given the image has a python3.
GUARD = "/opt/mlr-copilot/setid_guard.py"
GUARDED = (
    f'if command -v python3 >/dev/null 2>&1; then exec python3 -I -S {GUARD} "$@"; fi; '
    'echo "mlr-copilot: no python3 in this image, so set-ID files cannot be forbidden" >&2; exec "$@"'
)
# Read size of the output stream: one read takes many small writes of the program at once.
STREAM_BLOCK = 1 << 20
FRAME_HEADER = 8


def _sandbox_user(workspace: Path) -> str:
    """The invoking user; when that is root, the owner of `workspace` (the run's tree). The container can then write
    what that user can write in the workspace and nothing more (it has no capabilities), so no
    file's mode ever needs widening. A root-owned workspace is thus written by a root without
    capabilities, which, like any owner, is bound by the files' mode bits."""
    uid, gid = os.getuid(), os.getgid()
    if uid != 0:
        return f"{uid}:{gid}"
    owner = workspace.stat()
    return f"{owner.st_uid}:{owner.st_gid}"


def _cgroup_file(pid: int, controller: str, v1_name: str, v2_name: str) -> Path | None:
    """A file of the container's cgroup for `controller` (cgroup v1 or v2), if readable."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            candidate = Path("/sys/fs/cgroup", controller, path.lstrip("/"), v1_name)
        elif controllers == "":
            candidate = Path("/sys/fs/cgroup", path.lstrip("/"), v2_name)
        else:
            continue
        if candidate.exists():
            return candidate
    return None


def _pids_limit_hit(events: Path | None) -> bool:
    if events is None:
        return False
    try:
        return any(
            line.split()[0] == "max" and int(line.split()[1]) > 0 for line in events.read_text().splitlines() if line
        )
    except (OSError, ValueError, IndexError):
        return False


def _read_mb(path: Path | None) -> float | None:
    if path is None:
        return None
    try:
        return int(path.read_text().strip()) / (1024 * 1024)
    except (OSError, ValueError):
        return None


def _halt(container: Any, grace: float) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds (at once when 0); a container that already
    ended is fine."""
    from docker.errors import APIError

    try:
        if grace > 0:
            container.stop(timeout=max(1, math.ceil(grace)))
        else:
            container.kill()
    except APIError as exc:
        log.debug("stopping container %s: %s", container.short_id, exc)


def _protecting_mounts(workspace: Path, secrets: list[Path]) -> list[Any]:
    """Mounts over the parts of the workspace the experiment must not see or change:
    - each secrets file (`secrets`) reads as empty (/dev/null), each secrets folder as an empty
      folder: they hold the user's keys;
    - `.git`, `.mlr`, the Dockerfile and .dockerignore are read-only: the host runs git in that
      repository, trusts its own records and builds that Dockerfile, so nothing the container
      writes may change what the host later executes.
    Only what exists is mounted over (the engine would create a missing target in the
    workspace), and never through a symlink, which would mount its target instead. The
    command's guard (setid_guard.py) is mounted too."""
    from docker.types import Mount

    def target(path: Path) -> str:
        return f"{CONTAINER_WORKDIR}/{path.relative_to(workspace).as_posix()}"

    mounts = [
        Mount(target=target(path), source=None, type="tmpfs", read_only=True) if path.is_dir()
        else Mount(target=target(path), source="/dev/null", type="bind", read_only=True)
        for path in secrets
    ]
    for name in (*sorted(SKIP_DIRS), *BUILD_INPUTS):
        path = workspace / name
        if path.exists() and not path.is_symlink():
            mounts.append(Mount(target=target(path), source=str(path), type="bind", read_only=True))
    mounts.append(Mount(target=GUARD, source=str(Path(__file__).with_name("setid_guard.py")), type="bind", read_only=True))
    return mounts


def _created_build_inputs(workspace: Path, absent: list[str]) -> str | None:
    """A warning when the experiment created a Dockerfile (or .dockerignore) where there was
    none: the next Docker run would build it, and a build has the network."""
    created = [name for name in absent if (workspace / name).exists()]
    if not created:
        return None
    return (f"the experiment created {', '.join(created)}; the next Docker run builds the workspace's Dockerfile "
            "(with network access), so read it before running again")


class FrameDecoder:
    """The payloads of the engine's multiplexed output stream, whose frames (an 8-byte header:
    stream, three zero bytes, big-endian size; then the payload) may be cut anywhere by a read."""

    def __init__(self) -> None:
        self._header = bytearray()
        self._left = 0

    def feed(self, block: bytes) -> bytes:
        payloads = []
        view = memoryview(block)
        at, end = 0, len(block)
        while at < end:
            if self._left:
                take = min(self._left, end - at)
                payloads.append(view[at : at + take])
                at += take
                self._left -= take
                continue
            need = FRAME_HEADER - len(self._header)
            self._header += view[at : at + need]
            at += need
            if len(self._header) == FRAME_HEADER:
                self._left = int.from_bytes(self._header[4:], "big")
                self._header.clear()
        return b"".join(payloads)


def _blocking(stream: Any) -> None:
    """A run may print nothing for hours: its output stream must never time out."""
    for candidate in (stream, getattr(stream, "_sock", None)):
        if candidate is not None and hasattr(candidate, "settimeout"):
            candidate.settimeout(None)


def _close(stream: Any) -> None:
    for candidate in (stream, getattr(stream, "_sock", None)):
        try:
            if candidate is not None:
                candidate.close()
        except OSError:
            pass


def stand_in_secrets(tree: Path, workspace: Path, secrets: list[Path]) -> None:
    """An empty file (or folder) in the run's worktree for each of the workspace's secrets
    files the tree lacks (they are never committed), made by this process before the container
    starts: the mounts that hide them then find them, so the experiment reads each as empty as
    it always did, and the engine never creates them as root (which would stop the worktree's
    owner from deleting it). None is made through a symlink of the tree."""
    for path in secrets:
        target = tree / path.relative_to(workspace)
        inside = [target, *target.relative_to(tree).parents]
        if any((tree / part).is_symlink() for part in inside if part != Path(".")) or target.exists():
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                target.mkdir()
            else:
                target.touch()
        except OSError as exc:
            log.warning("could not make a stand-in for %s in the run's worktree: %s", path.name, exc)


def _placement_mounts(placement: Placement | None, workspace: Path) -> list[Any]:
    """For a run in a worktree: its outputs folder, writable at `CONTAINER_OUTPUT`, and each of
    the workspace's ignored entries its tree links to (datasets, checkpoints: those holding no
    secrets file, see `worktrees.link_ignored`), read-only where the link is. A link names a
    host path the container does not have: it is replaced in the tree by an empty stand-in the
    mount covers (on the host the stand-in stays empty, so removing the worktree never reaches
    the data). The repository the tree's `.git` file points to is not mounted: the run needs
    no git (its commit is in `MLR_COMMIT`), so nothing in the container can write the user's
    refs, objects, configuration or hooks."""
    from docker.types import Mount

    if placement is None:
        return []
    mounts = [Mount(target=CONTAINER_OUTPUT, source=str(placement.output_dir), type="bind", read_only=False)]
    for entry in linked_ignored(placement.tree, workspace):
        stand_in = placement.tree / entry.name
        try:
            source = entry.resolve(strict=True)
            stand_in.unlink()
            if source.is_dir():
                stand_in.mkdir()
            else:
                stand_in.touch()
        except OSError as exc:
            log.warning("the run does not see %s: %s", entry.name, exc.strerror or exc)
            continue
        mounts.append(Mount(target=f"{CONTAINER_WORKDIR}/{entry.name}", source=str(source), type="bind",
                            read_only=True))
    return mounts


def _container_env(ctx: RunContext) -> dict[str, str]:
    env = scrub_env(ctx.request.env)
    if ctx.placement is not None:
        env.update(without_git_location({**ctx.placement.env, **output_env(CONTAINER_OUTPUT)}))
    env.update({"HOME": "/tmp", RUN_ID_VAR: ctx.run_id})
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def create_container(client: Any, ctx: RunContext, image: str, device_requests: list[Any] | None,
                     secrets: list[Path]) -> Any:
    """The run's container, created but not started; `secrets`: the secrets files of the tree
    it runs (hidden from it)."""
    return client.containers.create(image, **container_options(ctx, device_requests, secrets))


def container_options(ctx: RunContext, device_requests: list[Any] | None, secrets: list[Path]) -> dict[str, Any]:
    """The arguments of `containers.create` after the image. A placed run's ignored files
    linked into its tree are replaced by stand-ins (`_placement_mounts`) here."""
    from docker.types import LogConfig

    request = ctx.request
    return dict(
        command=["/bin/sh", "-c", GUARDED, "sh", *request.argv()],
        working_dir=CONTAINER_WORKDIR,
        user=_sandbox_user(ctx.tree),
        environment=_container_env(ctx),
        volumes={str(ctx.tree): {"bind": CONTAINER_WORKDIR, "mode": "rw"}},
        mounts=_protecting_mounts(ctx.tree, secrets) + _placement_mounts(ctx.placement, ctx.workspace),
        network_mode="host" if request.network else "none",
        mem_limit=f"{request.memory_mb}m",
        memswap_limit=f"{request.memory_mb}m",
        nano_cpus=int(request.cpus * 1e9),
        pids_limit=request.max_processes,
        device_requests=device_requests,
        labels={LABEL: "1", RUN_LABEL: ctx.run_id, OWNER_LABEL: owner_label()},
        # The attached stream is the only copy needed: an engine-side log would write every
        # byte to disk again, and gigabytes of output would fill it.
        log_config=LogConfig(type="none"),
        init=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        detach=True,
        stdin_open=False,
        tty=False,
    )


class DockerJob(Job):
    """One run in its container; the container is removed when the job closes."""

    what = "the container"

    def __init__(self, client: Any, ctx: RunContext, image: str, device_requests: list[Any] | None,
                 secrets: list[Path] | None = None):
        super().__init__()
        self.client, self.ctx = client, ctx
        self.image: str = image
        self.device_requests = device_requests
        self._secrets = ctx.secrets if secrets is None else secrets
        # a worktree is discarded with what the run wrote in it: only the workspace's matter
        self._absent = [] if ctx.placement else [name for name in BUILD_INPUTS if not (ctx.workspace / name).exists()]
        self._container: Any = None
        self._stream: Any = None
        self._decoder = FrameDecoder()
        self._ended = threading.Event()
        self._peak_file: Path | None = None
        self._pids_events: Path | None = None
        self._peak = 0.0

    def options(self) -> dict[str, Any]:
        """What `start` creates the container with, after the image."""
        return container_options(self.ctx, self.device_requests, self._secrets)

    def start(self, started: StartCallback) -> None:
        self._container = container = create_container(self.client, self.ctx, self.image, self.device_requests,
                                                       self._secrets)
        started(Sandbox(container=container.id))
        # attached before it starts, so nothing is missed
        self._stream = self.client.api.attach_socket(container.id, params={"stdout": 1, "stderr": 1, "stream": 1})
        _blocking(self._stream)
        container.start()
        container.reload()
        pid = container.attrs["State"].get("Pid") or 0
        self._peak_file = _cgroup_file(pid, "memory", "memory.max_usage_in_bytes", "memory.peak")
        self._pids_events = _cgroup_file(pid, "pids", "pids.events", "pids.events")
        self._peak = _read_mb(self._peak_file) or 0.0

    def read(self) -> bytes | None:
        from docker.utils.socket import read

        try:
            block = read(self._stream, STREAM_BLOCK)
        except Exception as exc:  # the engine went away mid-run: the wait for the exit reports it
            self._ended.set()
            raise OutputLost(f"output stream from the Docker engine ended early: {exc}") from exc
        if block is None:  # interrupted read: try again
            return None
        if not block:
            self._ended.set()
            return b""
        return self._decoder.feed(block) or None

    def wait(self, timeout: float) -> bool:
        return self._ended.wait(timeout)

    def memory_mb(self) -> float:
        self._peak = max(self._peak, _read_mb(self._peak_file) or 0.0)
        return self._peak

    def breach(self) -> Breach | None:
        return "processes" if _pids_limit_hit(self._pids_events) else None

    def stop(self, grace: float) -> None:
        _halt(self._container, grace)

    def collect(self, stopped: bool) -> Exit:
        code = self._container.wait(timeout=30).get("StatusCode")
        self._container.reload()
        return Exit(code=code, oom=bool(self._container.attrs["State"].get("OOMKilled")))

    def close(self) -> None:
        from docker.errors import APIError, NotFound

        if self._stream is not None:
            _close(self._stream)
        if self._container is not None:
            try:
                self._container.remove(force=True)
            except NotFound:
                pass
            except APIError as exc:
                log.warning("could not remove container %s of run %s: %s", self._container.short_id, self.ctx.run_id, exc)
        created = _created_build_inputs(self.ctx.workspace, self._absent)
        if created:
            self.ctx.sink.note(f"warning: {created}")
            self.warnings.append(created)
