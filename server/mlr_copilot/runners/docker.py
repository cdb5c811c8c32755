"""Run an experiment in a Docker container: the workspace mounted at /workspace with its
secrets files hidden and its `.git` and `.mlr` read-only, no network unless asked,
memory/CPU/process limits from the engine, the workspace owner's user without any capability
and unable to make set-ID files, and a container that is always removed. Images are never
pulled: the image must exist locally (see scripts/build-base-image.sh), or the workspace's own
Dockerfile is built once per content. The output is read from a stream attached before the container
starts, in large blocks, so none of it is lost and a chatty run is not slowed down."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import (
    KILL_GRACE_S,
    LineCallback,
    RunClock,
    Runner,
    RunnerError,
    RunOutcome,
    StartCallback,
    describe_end,
    new_run_id,
    open_sink,
    owner_alive,
    resolve_workspace,
    run_owner,
)
from .environment import scrub_env
from .logsink import LogSink
from .model import RunRequest, RunStatus, Sandbox
from .proctree import RUN_ID_VAR
from .secretfiles import secret_files

if TYPE_CHECKING:
    from .provenance import ProbeReport

log = logging.getLogger(__name__)

CONTAINER_WORKDIR = "/workspace"
LABEL = "mlr-copilot"
RUN_LABEL = "mlr-copilot.run-id"
OWNER_LABEL = "mlr-copilot.owner"
DEFAULT_SOCKET = "unix:///var/run/docker.sock"
SKIP_DIRS = {".git", ".mlr"}
# What decides the image a later run builds; read-only in the container, like SKIP_DIRS.
BUILD_INPUTS = ("Dockerfile", ".dockerignore")
# Every command starts under setid_guard (see there why), given the image has a python3.
GUARD = "/opt/mlr-copilot/setid_guard.py"
GUARDED = (
    f'if command -v python3 >/dev/null 2>&1; then exec python3 -I -S {GUARD} "$@"; fi; '
    'echo "mlr-copilot: no python3 in this image, so set-ID files cannot be forbidden" >&2; exec "$@"'
)
# Read size of the output stream: one read takes many small writes of the program at once.
STREAM_BLOCK = 1 << 20
FRAME_HEADER = 8
IMAGE_PROBE_TIMEOUT_S = 30


class DockerUnavailableError(RunnerError):
    def __init__(self, where: str, detail: str = ""):
        super().__init__(
            f"no Docker engine answers at {where}; start dockerd or set runner to local"
            + (f" ({detail})" if detail else "")
        )
        self.where = where


class ImageNotFoundError(RunnerError):
    def __init__(self, image: str):
        super().__init__(
            f"Docker image '{image}' is not on this machine and is never pulled; build it with "
            f"scripts/build-base-image.sh {image} (or `docker build`), or set run.image to a local image"
        )
        self.image = image


class GpuUnavailableError(RunnerError):
    def __init__(self) -> None:
        super().__init__(
            "a GPU was requested but the Docker engine has no nvidia runtime, so no GPU is available "
            "in containers; install the NVIDIA Container Toolkit or set run.gpus to false"
        )


class ImageBuildError(RunnerError):
    pass


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET


def docker_client(timeout: float = 60.0) -> Any:
    """A client for the engine in DOCKER_HOST (or the default socket) that has answered a ping."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except (DockerException, OSError) as exc:
        raise DockerUnavailableError(engine_address(), _root_cause(exc)) from exc
    return client


def _root_cause(exc: BaseException) -> str:
    seen = exc
    while seen.__cause__ or seen.__context__:
        seen = seen.__cause__ or seen.__context__
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
    return str(exc).split(":", 1)[0]


def image_exists(client: Any, image: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(image)
    except ImageNotFound:
        return False
    return True


def _dockerfile_sources(text: str) -> list[str]:
    """Source paths of the COPY/ADD instructions that read from the build context."""
    sources: list[str] = []
    joined = re.sub(r"\\\n", " ", text)
    for line in joined.splitlines():
        words = line.strip().split()
        if len(words) < 3 or words[0].upper() not in ("COPY", "ADD"):
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from") for w in words[1:]):
            continue
        if args and args[0].startswith("["):
            continue
        sources.extend(args[:-1])
    return sources


def _walk_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        found.extend(Path(folder, name) for name in sorted(files))
    return found


def workspace_image_tag(workspace: Path) -> str | None:
    """`mlr-ws-<hash>` for a workspace with a Dockerfile: the hash covers the Dockerfile,
    .dockerignore and every context file its COPY/ADD instructions read."""
    dockerfile = workspace / "Dockerfile"
    if not dockerfile.is_file():
        return None
    text = dockerfile.read_text(encoding="utf-8", errors="replace")
    digest = hashlib.sha256(dockerfile.read_bytes())
    ignore = workspace / ".dockerignore"
    if ignore.is_file():
        digest.update(b"\0.dockerignore\0" + ignore.read_bytes())
    files: set[Path] = set()
    for source in _dockerfile_sources(text):
        for match in workspace.glob(source.lstrip("/")) if source not in (".", "./") else [workspace]:
            files.update(_walk_files(match))
    for path in sorted(files):
        if not path.is_file():
            continue
        digest.update(b"\0" + path.relative_to(workspace).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return f"mlr-ws-{digest.hexdigest()[:12]}"


def _base_images(text: str) -> list[str]:
    stages: set[str] = set()
    bases = []
    for line in text.splitlines():
        words = line.strip().split()
        if len(words) >= 2 and words[0].upper() == "FROM":
            args = [w for w in words[1:] if not w.startswith("--")]
            if not args:
                continue
            if args[0].lower() != "scratch" and args[0] not in stages and "$" not in args[0]:
                bases.append(args[0])
            if len(args) >= 3 and args[1].upper() == "AS":
                stages.add(args[2])
    return bases


def _build_context(workspace: Path, secrets: list[Path]) -> Any:
    """The build context as `docker build` sends it (the workspace, less what its .dockerignore
    names), less the secrets files `secrets`, `.git` and `.mlr`: a `COPY . .` would otherwise bake
    the user's keys into an image that every container made from it can read."""
    from docker.api.build import process_dockerfile
    from docker.utils.build import tar

    ignore = workspace / ".dockerignore"
    lines = ignore.read_text(encoding="utf-8", errors="replace").splitlines() if ignore.is_file() else []
    # later patterns win, so nothing the .dockerignore says brings these back
    patterns = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    patterns += sorted(SKIP_DIRS) + [path.relative_to(workspace).as_posix() for path in secrets]
    return tar(str(workspace), exclude=patterns, dockerfile=process_dockerfile("Dockerfile", str(workspace)))


def build_workspace_image(client: Any, workspace: Path, tag: str, secrets: list[Path], sink: LogSink | None = None) -> str:
    """Build the workspace's Dockerfile as `tag` unless that tag exists; never pulls, never sends
    the workspace's secrets files."""
    if image_exists(client, tag):
        return tag
    for base in _base_images((workspace / "Dockerfile").read_text(encoding="utf-8", errors="replace")):
        if not image_exists(client, base):
            raise ImageNotFoundError(base)
    if sink is not None:
        sink.note(f"building the workspace Dockerfile as {tag}")
    error = None
    context = _build_context(workspace, secrets)
    try:
        for chunk in client.api.build(
            fileobj=context, custom_context=True, dockerfile="Dockerfile", tag=tag, rm=True, forcerm=True, pull=False,
            decode=True, network_mode="host",
        ):
            if "stream" in chunk and sink is not None:
                sink.feed(chunk["stream"].encode("utf-8", errors="replace"))
            if "error" in chunk:
                error = chunk["error"].strip()
    finally:
        context.close()
    if error or not image_exists(client, tag):
        raise ImageBuildError(f"building {workspace / 'Dockerfile'} failed: {error or 'no image was produced'}")
    return tag


def _sandbox_user(workspace: Path) -> str:
    """The invoking user; when that is root, the workspace's owner. The container can then write
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


def remove_containers(client: Any, filters: dict[str, Any], keep: Callable[[Any], bool] | None = None) -> int:
    from docker.errors import APIError, NotFound

    removed = 0
    for container in client.containers.list(all=True, filters=filters):
        if keep is not None and keep(container):
            continue
        try:
            container.remove(force=True)
            removed += 1
        except NotFound:
            pass
        except APIError as exc:
            log.warning("could not remove container %s: %s", container.short_id, exc)
    return removed


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


def _owner_label() -> str:
    host, pid = run_owner()
    return f"{host}:{pid}"


def _label_owner_alive(label: str | None) -> bool:
    host, _, pid = (label or "").rpartition(":")
    return owner_alive(host, int(pid) if pid.isdigit() else None)


def remove_run_container(container_id: str, run_id: str, client: Any | None = None) -> bool:
    """Remove (killing it first) the container of run `run_id`, whose owner died. A run record
    is workspace content: the container must carry that run's label, so a planted record cannot
    name another container. False when no engine answers or it is gone already."""
    try:
        client = client or docker_client(timeout=5.0)
    except DockerUnavailableError:
        return False
    return remove_containers(client, {"id": container_id, "label": f"{RUN_LABEL}={run_id}"}) > 0


def cleanup_orphans(client: Any | None = None) -> int:
    """Remove the containers of servers and CLIs that died mid-run (their owner process is
    gone); runs of live processes on the same engine are left alone."""
    try:
        client = client or docker_client(timeout=5.0)
    except DockerUnavailableError:
        return 0
    return remove_containers(
        client, {"label": f"{LABEL}=1"}, keep=lambda container: _label_owner_alive(container.labels.get(OWNER_LABEL))
    )


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
        if hasattr(candidate, "settimeout"):
            candidate.settimeout(None)


def _close(stream: Any) -> None:
    for candidate in (stream, getattr(stream, "_sock", None)):
        try:
            if candidate is not None:
                candidate.close()
        except OSError:
            pass


class DockerRunner(Runner):
    name = "docker"

    def __init__(self, image: str | None = None, *, client: Any | None = None, reason: str = "runner set to docker"):
        self.image = image
        self.reason = reason
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = docker_client()
        return self._client

    def resolve_image(self, request: RunRequest, workspace: Path, secrets: list[Path], sink: LogSink | None = None) -> str:
        tag = workspace_image_tag(workspace)
        if tag is not None:
            return build_workspace_image(self.client, workspace, tag, secrets, sink)
        image = request.image or self.image
        if not image:
            raise RunnerError("no Docker image is set (run.image) and the workspace has no Dockerfile")
        if not image_exists(self.client, image):
            raise ImageNotFoundError(image)
        return image

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
        argv = request.argv()
        client = self.client
        device_requests = None
        if request.gpus:
            if "nvidia" not in (client.info().get("Runtimes") or {}):
                raise GpuUnavailableError()
            from docker.types import DeviceRequest

            device_requests = [DeviceRequest(count=-1, capabilities=[["gpu"]])]
        secrets = secret_files(workspace)
        sink = open_sink(request, workspace, run_id, on_line, secrets)
        clock = RunClock(request.timeout)
        try:
            image = self.resolve_image(request, workspace, secrets, sink)
            if not argv:
                sink.note("empty command")
                return RunOutcome("error", None, sink.path, clock.elapsed, message="the run command is empty", image=image)
            absent = [name for name in BUILD_INPUTS if not (workspace / name).exists()]
            outcome = self._run(request, workspace, run_id, argv, image, device_requests, secrets, sink, clock, cancel,
                                on_start)
            created = _created_build_inputs(workspace, absent)
            if created:
                sink.note(f"warning: {created}")
                outcome.warnings.append(created)
        finally:
            sink.close()
        outcome.log_metrics = dict(sink.metrics)
        return outcome

    def python_environment(self, request: RunRequest, image: str | None, names: list[str]) -> tuple[ProbeReport, str | None]:
        """An image's Python and distributions never change: they are read once per image id
        and interpreter, in a container as closed as a run's, and kept in the user's cache."""
        from .provenance import ProbeReport, cached_probe, parse_probe, python_named

        if image is None:
            return ProbeReport(), None
        image_id = self.client.images.get(image).id
        interpreter = Path(python_named(request.argv()) or "python3").name
        key = hashlib.sha256(f"{image_id}\0{interpreter}".encode()).hexdigest()[:32]
        return cached_probe(key, lambda: parse_probe(self._probe_image(image_id, interpreter))), image_id

    def _probe_image(self, image_id: str, interpreter: str) -> bytes:
        from docker.types import LogConfig, Mount

        from .provenance import MAX_PROBE_BYTES

        probe = "/opt/mlr-copilot/env_probe.py"
        container = self.client.containers.create(
            image_id, entrypoint=[interpreter], command=["-I", probe, "--all"], user="65534:65534", network_mode="none",
            mem_limit="512m", memswap_limit="512m", nano_cpus=int(1e9), pids_limit=64, cap_drop=["ALL"],
            security_opt=["no-new-privileges"], working_dir="/",
            mounts=[Mount(target=probe, source=str(Path(__file__).with_name("env_probe.py")), type="bind", read_only=True)],
            # the image may be a workspace Dockerfile's: what it prints is bounded like a run's
            log_config=LogConfig(type="json-file", config={"max-size": str(MAX_PROBE_BYTES), "max-file": "1"}),
            labels={LABEL: "1", OWNER_LABEL: _owner_label()}, detach=True,
        )
        try:
            container.start()
            container.wait(timeout=IMAGE_PROBE_TIMEOUT_S)
            return container.logs(stdout=True, stderr=False)[-MAX_PROBE_BYTES:]
        finally:
            container.remove(force=True)

    def _run(
        self,
        request: RunRequest,
        workspace: Path,
        run_id: str,
        argv: list[str],
        image: str,
        device_requests: list[Any] | None,
        secrets: list[Path],
        sink: LogSink,
        clock: RunClock,
        cancel: threading.Event,
        on_start: StartCallback | None = None,
    ) -> RunOutcome:
        from docker.errors import APIError, NotFound
        from docker.types import LogConfig

        env = scrub_env(request.env)
        env.update({"HOME": "/tmp", RUN_ID_VAR: run_id})
        env.setdefault("PYTHONUNBUFFERED", "1")
        container = self.client.containers.create(
            image,
            command=["/bin/sh", "-c", GUARDED, "sh", *argv],
            working_dir=CONTAINER_WORKDIR,
            user=_sandbox_user(workspace),
            environment=env,
            volumes={str(workspace): {"bind": CONTAINER_WORKDIR, "mode": "rw"}},
            mounts=_protecting_mounts(workspace, secrets),
            network_mode="host" if request.network else "none",
            mem_limit=f"{request.memory_mb}m",
            memswap_limit=f"{request.memory_mb}m",
            nano_cpus=int(request.cpus * 1e9),
            pids_limit=request.max_processes,
            device_requests=device_requests,
            labels={LABEL: "1", RUN_LABEL: run_id, OWNER_LABEL: _owner_label()},
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
        try:
            if on_start is not None:
                on_start(Sandbox(container=container.id))
            return self._watch(container, request, sink, clock, cancel, image)
        finally:
            try:
                container.remove(force=True)
            except NotFound:
                pass
            except APIError as exc:
                log.warning("could not remove container %s of run %s: %s", container.short_id, run_id, exc)

    def _attach(self, container: Any) -> Any:
        """The container's output stream, attached before it starts so nothing is missed."""
        stream = self.client.api.attach_socket(container.id, params={"stdout": 1, "stderr": 1, "stream": 1})
        _blocking(stream)
        return stream

    def _watch(self, container: Any, request: RunRequest, sink: LogSink, clock: RunClock, cancel: threading.Event, image: str) -> RunOutcome:
        from docker.utils.socket import read

        stream = self._attach(container)
        try:
            container.start()
        except BaseException:
            _close(stream)
            raise
        container.reload()
        pid = container.attrs["State"].get("Pid") or 0
        peak_file = _cgroup_file(pid, "memory", "memory.max_usage_in_bytes", "memory.peak")
        pids_events = _cgroup_file(pid, "pids", "pids.events", "pids.events")
        peak = _read_mb(peak_file) or 0.0

        def pump() -> None:
            decoder = FrameDecoder()
            try:
                while True:
                    block = read(stream, STREAM_BLOCK)
                    if block is None:  # interrupted read: try again
                        continue
                    if not block:
                        return
                    sink.feed(decoder.feed(block))
            except Exception as exc:  # the engine went away mid-run: the wait below reports it
                sink.note(f"output stream from the Docker engine ended early: {exc}")
            finally:
                _close(stream)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        ended_by: RunStatus | None = None
        limit_hit = False
        while reader.is_alive():
            reader.join(0.05)
            peak = max(peak, _read_mb(peak_file) or 0.0)
            if cancel.is_set():
                ended_by = "cancelled"
                sink.note("cancelled: stopping the container")
                _halt(container, KILL_GRACE_S)
            elif clock.expired:
                ended_by = "timeout"
                sink.note(f"time limit of {request.timeout:g} s reached: stopping the container")
                _halt(container, KILL_GRACE_S)
            elif _pids_limit_hit(pids_events):
                # The engine caps the count; without this a fork bomb would spin until the timeout.
                ended_by, limit_hit = "failed", True
                sink.note(f"more than {request.max_processes} processes: killing the container")
                _halt(container, 0)
            if ended_by is not None:
                break
        reader.join(timeout=5.0)
        exit_code = container.wait(timeout=30).get("StatusCode")
        container.reload()
        oom = bool(container.attrs["State"].get("OOMKilled"))
        if ended_by is not None:
            status: RunStatus = ended_by
        elif oom:
            status = "oom"
        else:
            status = "passed" if exit_code == 0 else "failed"
        message = describe_end(status, exit_code, request)
        if limit_hit:
            message = f"killed for starting more than {request.max_processes} processes"
        if sink.truncated:
            message += f"; output past {request.max_output_mb} MB was dropped from the log"
        return RunOutcome(
            status=status,
            exit_code=exit_code,
            log_path=sink.path,
            duration_s=clock.elapsed,
            peak_memory_mb=round(peak, 1) if peak else None,
            message=message,
            oom_killed=oom,
            output_truncated=sink.truncated,
            process_limit_hit=limit_hit,
            image=image,
        )
