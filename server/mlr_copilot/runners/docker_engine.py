"""The Docker engine as every Docker run sees it: the client, the errors that say what to do,
and the labels that tie a container to its run and to the process that owns it, by which the
containers of owners that died are found and removed."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from .base import RunnerError, owner_alive, run_owner

log = logging.getLogger(__name__)

LABEL = "mlr-copilot"
RUN_LABEL = "mlr-copilot.run-id"
OWNER_LABEL = "mlr-copilot.owner"
DEFAULT_SOCKET = "unix:///var/run/docker.sock"


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
    seen: BaseException | None = exc
    while seen is not None:
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


def owner_label() -> str:
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
