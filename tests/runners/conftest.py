from __future__ import annotations

import os
from pathlib import Path

import pytest

TEST_IMAGE = os.environ.get("MLR_TEST_IMAGE", "mlr-python:bookworm")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


def live_docker_client():
    """A client for a live engine holding the test image; skips only when no engine answers."""
    from mlr_copilot.runners.docker import DockerUnavailableError, docker_client, image_exists

    try:
        client = docker_client(timeout=10)
    except DockerUnavailableError as exc:
        pytest.skip(f"Docker tests need an engine: {exc}")
    if not image_exists(client, TEST_IMAGE):
        pytest.fail(f"the Docker engine answers but image {TEST_IMAGE} is missing; run scripts/build-base-image.sh")
    return client


@pytest.fixture(scope="session")
def docker_client():
    return live_docker_client()
