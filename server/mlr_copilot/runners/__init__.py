"""Sandboxed experiment runs: a local process tree or a Docker container, behind one
`Runner` interface, and `execute()` which turns a run into a `RunRecord`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

from .model import Failure, RunRecord, RunRequest

if TYPE_CHECKING:
    from .base import Runner, RunnerError, RunOutcome

log = logging.getLogger(__name__)

DEFAULT_IMAGE = "mlr-python:bookworm"
PROBE_TIMEOUT_S = 1.0


def pick_runner(name: Literal["auto", "local", "docker"] = "auto", image: str | None = None) -> Runner:
    """The runner for the `run.runner` setting; its `reason` says why it was chosen.

    "auto" takes Docker only when an engine answers within about a second and the configured
    image is already on this machine (images are never pulled); otherwise the local runner."""
    from .base import RunnerError
    from .local import LocalRunner

    if name == "local":
        return LocalRunner("runner set to local")
    # the docker SDK takes a large share of a short local run's start-up: only Docker pays for it
    from .docker import (
        DockerRunner,
        DockerUnavailableError,
        docker_client,
        engine_address,
        image_exists,
    )

    if name == "docker":
        return DockerRunner(image, reason="runner set to docker")
    if name != "auto":
        raise RunnerError(f"unknown runner '{name}'; use auto, local or docker")
    try:
        client = docker_client(timeout=PROBE_TIMEOUT_S)
    except DockerUnavailableError:
        return LocalRunner(f"auto: no Docker engine answers at {engine_address()}, so runs are local processes")
    wanted = image or DEFAULT_IMAGE
    if not image_exists(client, wanted):
        return LocalRunner(
            f"auto: Docker image '{wanted}' is not on this machine (build it with scripts/build-base-image.sh), "
            "so runs are local processes"
        )
    return DockerRunner(wanted, reason=f"auto: Docker engine found and image '{wanted}' is present")


def __getattr__(name: str):
    # The run machinery (process trees, log sinks, secret scrubbing) loads on first use: reading
    # run records (history, compare) imports this package but runs nothing.
    if name in ("Runner", "RunnerError", "RunOutcome"):
        from . import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DEFAULT_IMAGE", "Failure", "RunOutcome", "RunRecord", "RunRequest", "Runner", "RunnerError", "pick_runner"]
