"""The Docker runner: each run in a container of a local image (never pulled; see
scripts/build-base-image.sh), or of the workspace's own Dockerfile, built once per content.
The container and how it is held are `docker_container`'s, the images `docker_image`'s, the
engine and the labels that find a dead owner's containers `docker_engine`'s."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import DEFAULT_IMAGE, PROBE_TIMEOUT_S
from .base import RunnerError
from .docker_container import DockerJob, stand_in_secrets
from .docker_engine import (
    DockerUnavailableError,
    GpuUnavailableError,
    ImageNotFoundError,
    cleanup_orphans,
    docker_client,
    engine_address,
    image_exists,
    remove_run_container,
)
from .docker_image import build_workspace_image, probe_image, workspace_image_tag
from .logsink import LogSink
from .model import RunRecord, RunRequest
from .secretfiles import secret_files
from .slots import docker_device_requests
from .supervise import RunContext, Runner

if TYPE_CHECKING:
    from .provenance import ProbeReport

# what the rest of the engine takes from here (doctor, the CLI's eval, the benchmarks)
__all__ = ["DockerRunner", "DockerUnavailableError", "cleanup_orphans", "docker_client", "image_exists"]


def device_requests(ctx: RunContext) -> list[Any] | None:
    """The GPUs a run with `run.gpus` sees: its slot's (none when the slot has none), or every
    GPU for a run no slot pins."""
    if not ctx.request.gpus:
        return None
    pinned = ctx.placement.gpu_ids if ctx.placement is not None else None
    if pinned is not None:
        return docker_device_requests(pinned) or None
    from docker.types import DeviceRequest

    return [DeviceRequest(count=-1, capabilities=[["gpu"]])]


class DockerRunner(Runner):
    def __init__(self, image: str | None = None, *, client: Any | None = None, reason: str = "runner set to docker"):
        self.image = image
        self.reason = reason
        self._client = client

    @classmethod
    def chosen(cls, image: str | None) -> DockerRunner:
        return cls(image, reason="runner set to docker")

    @classmethod
    def for_auto(cls, image: str | None, declined: list[str]) -> DockerRunner | str:
        """Only when an engine answers within about a second and the image is already here."""
        try:
            client = docker_client(timeout=PROBE_TIMEOUT_S)
        except DockerUnavailableError:
            return f"no Docker engine answers at {engine_address()}"
        wanted = image or DEFAULT_IMAGE
        if not image_exists(client, wanted):
            return f"Docker image '{wanted}' is not on this machine (build it with scripts/build-base-image.sh)"
        return cls(wanted, reason=f"auto: Docker engine found and image '{wanted}' is present")

    @classmethod
    def reap(cls, record: RunRecord) -> None:
        if record.sandbox is not None and record.sandbox.container:
            remove_run_container(record.sandbox.container, record.id)

    @classmethod
    def sweep(cls) -> None:
        cleanup_orphans()

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = docker_client()
        return self._client

    def preflight(self, request: RunRequest) -> None:
        client = self.client  # connects now: without an engine the run leaves no log
        if request.gpus and "nvidia" not in (client.info().get("Runtimes") or {}):
            raise GpuUnavailableError()

    def planned_image(self, request: RunRequest) -> str | None:
        return request.image

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

    def launch(self, ctx: RunContext) -> DockerJob:
        # a run in a worktree builds its commit's Dockerfile and hides that tree's secrets files
        secrets = ctx.secrets
        if ctx.placement is not None:
            stand_in_secrets(ctx.tree, ctx.workspace, ctx.secrets)
            secrets = secret_files(ctx.tree)
        image = self.resolve_image(ctx.request, ctx.tree, secrets, ctx.sink)
        job = DockerJob(self.client, ctx, image, device_requests(ctx), secrets)
        if ctx.request.gpus and not job.device_requests:
            unpinned = "run.gpus is on but this run's slot owns no GPU (see run.gpuIds, run.gpusPerRun): it runs without"
            ctx.sink.note(f"warning: {unpinned}")
            job.warnings.append(unpinned)
        return job

    def python_environment(self, request: RunRequest, image: str | None, names: list[str]) -> tuple[ProbeReport, str | None]:
        """An image's Python and distributions never change: they are read once per image id
        and interpreter, in a container as closed as a run's, and kept in the user's cache."""
        from .provenance import ProbeReport, cached_probe, parse_probe, python_named

        if image is None:
            return ProbeReport(), None
        image_id: str = self.client.images.get(image).id
        interpreter = Path(python_named(request.argv()) or "python3").name
        key = hashlib.sha256(f"{image_id}\0{interpreter}".encode()).hexdigest()[:32]
        return cached_probe(key, lambda: parse_probe(probe_image(self.client, image_id, interpreter))), image_id
