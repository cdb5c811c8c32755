"""A Ray run in a Docker container of its node: the container the `docker` runner makes
(`docker_container.DockerJob`: the run's tree at /workspace, its secrets files hidden, no
network unless asked, the memory/CPU/process limits, no capability, always removed), for the
working copy the run's task laid out on the node, driven by the task (`ray_worker`).

Imported on the worker by the task, never shipped by value: a node runs Docker-sandboxed Ray
runs only when MLR-Copilot (with the Docker SDK) is installed in its Ray's Python, its Docker
engine answers and the run's image is there (never pulled, never built: a workspace's own
Dockerfile is built only by the `docker` runner). `unavailable` says which is missing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .docker_container import DockerJob
from .docker_engine import DockerUnavailableError, docker_client, image_exists
from .logsink import LogSink
from .model import RunRequest
from .secretfiles import secret_files
from .slots import docker_device_requests
from .supervise import RunContext

ENGINE_TIMEOUT_S = 5.0


def unavailable(image: str | None) -> str | None:
    """Why this node cannot run the run's container (None: it can)."""
    if not image:
        return "no Docker image is set (run.image)"
    try:
        client = docker_client(timeout=ENGINE_TIMEOUT_S)
    except DockerUnavailableError as exc:
        return f"no Docker engine answers at {exc.where}"
    if not image_exists(client, image):
        return f"Docker image '{image}' is not on this node (it is never pulled)"
    return None


class WorkerContainer:
    """One run's container on this node, as `ray_worker.CommandProcess` drives it."""

    def __init__(self, request: dict[str, Any], argv: list[str], env: dict[str, str], workdir: Path, run_id: str,
                 gpu_ids: list[str]):
        """`gpu_ids`: the node's GPUs the container is given (`ray_worker.gpu_access`, which
        also puts what CUDA should see inside into `env`)."""
        run = RunRequest.model_validate({**request, "workspace": str(workdir), "command": argv, "env": env})
        # The working copy is thrown away after the run: what the job would note about it (an
        # experiment that wrote a Dockerfile) concerns no later run, so its notes go nowhere.
        ctx = RunContext(run, workdir, run_id, secret_files(workdir), LogSink(Path(os.devnull), max_bytes=0))
        self._job = DockerJob(docker_client(timeout=ENGINE_TIMEOUT_S), ctx, run.image or "",
                              docker_device_requests(gpu_ids) or None)
        self._containers: list[str] = []

    def options(self) -> dict[str, Any]:
        """What the container will be created with (`docker_container.container_options`)."""
        return self._job.options()

    def start(self) -> str:
        """Create and start the container; its id."""
        self._job.start(lambda sandbox: self._containers.append(sandbox.container or ""))
        return self._containers[0]

    def read(self) -> bytes | None:
        """The next output, None when none came yet, b"" at its end."""
        return self._job.read()

    def exit_code(self) -> int | None:
        """The container's exit code (None when the engine cannot tell)."""
        try:
            return self._job.collect(stopped=False).code
        except Exception:  # the engine went away: the run ends without a code
            return None

    def stop(self, grace_s: float) -> None:
        if self._containers:
            self._job.stop(grace_s)

    def close(self) -> None:
        self._job.close()
