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


@pytest.fixture(scope="session")
def ray_cluster():
    """A real two-node Ray cluster on 127.0.0.1 (see ray_cluster.py), and this process
    connected to it through its Ray Client port; skips only where Ray cannot start."""
    from mlr_copilot.runners import ray_connect

    from .ray_cluster import RayUnavailable, start_cluster

    try:
        cluster = start_cluster()
    except RayUnavailable as exc:
        pytest.skip(f"Ray tests need Ray: {exc}")
    try:
        try:
            cluster.wait_for_nodes(ray_connect.connect(cluster.address), 2)
        except (RayUnavailable, ray_connect.RayUnavailableError) as exc:
            pytest.skip(f"Ray tests need a Ray cluster to start: {exc}")
        yield cluster
    finally:
        try:
            ray_connect.disconnect()
        finally:
            cluster.stop()
