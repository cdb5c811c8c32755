"""A Ray run's GPUs: those Ray gives its task (`ray.get_gpu_ids()`) reach its container as a
DeviceRequest for exactly those ids, and CUDA_VISIBLE_DEVICES numbers them as the container
sees them; a plain process is told the node's ids. No GPU here: the cluster's second node
declares two (`ray_cluster.NODE2_GPUS`), and a container is followed up to its create call."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import pytest
from docker.types import DeviceRequest

from mlr_copilot.engine import Engine
from mlr_copilot.runners import ray_docker
from mlr_copilot.runners.ray_connect import connect
from mlr_copilot.runners.ray_worker import WorkerJob, container_for, gpu_access
from mlr_copilot.work import Work
from tests.gitutil import make_repo

from .conftest import TEST_IMAGE, live_docker_client
from .ray_cluster import NODE2_GPUS

GPU_PROBE = "import os\nprint('GPUS', repr(os.environ.get('CUDA_VISIBLE_DEVICES')))\n"


@pytest.mark.parametrize(("assigned", "container", "devices", "visible"), [
    ([1], True, ["1"], "0"),  # the node's GPU 1 is the container's only one: 0 inside
    (["0", "1"], True, ["0", "1"], "0,1"),
    ([1], False, [], "1"),  # a plain process sees the node's GPUs: their own ids
    ([], True, [], ""),
    ([], False, [], ""),  # none: CUDA sees none, not every GPU of the node
])
def test_what_a_run_sees_of_the_gpus_ray_gave_its_task(assigned, container, devices, visible):
    assert gpu_access(assigned, container) == (devices, {"CUDA_VISIBLE_DEVICES": visible})


def _job(run_id: str) -> WorkerJob:
    return WorkerJob(run_id=run_id, argv=["python", "train.py"], env={"CUDA_VISIBLE_DEVICES": "7", "SEED": "1"},
                     timeout_s=60, grace_s=1, results_file="results.json", results_cap=1024, sandbox="docker",
                     request={"image": TEST_IMAGE, "memory_mb": 256, "cpus": 1.0, "timeout": 60})


def test_a_worker_container_is_created_with_exactly_its_tasks_gpus(tmp_path):
    live_docker_client()
    options = container_for(_job("ray-gpu-a"), ray_docker, tmp_path, [1]).options()
    assert options["device_requests"] == [DeviceRequest(device_ids=["1"], capabilities=[["gpu"]])]
    # Ray's allocation wins over what the driver passed
    assert options["environment"]["CUDA_VISIBLE_DEVICES"] == "0" and options["environment"]["SEED"] == "1"
    none = container_for(_job("ray-gpu-b"), ray_docker, tmp_path, []).options()
    assert none["device_requests"] is None and none["environment"]["CUDA_VISIBLE_DEVICES"] == ""


def _options_on_node(job: WorkerJob) -> tuple[list[str], list[dict], dict[str, str]]:
    """On the node: the GPUs Ray gave this task, and the container `ray_worker` would make."""
    import ray

    from mlr_copilot.runners import ray_docker, ray_worker

    assigned = ray.get_gpu_ids()
    with tempfile.TemporaryDirectory() as workdir:
        options = ray_worker.container_for(job, ray_docker, Path(workdir), assigned).options()
    return ([str(gpu) for gpu in assigned], [dict(request) for request in options["device_requests"] or []],
            options["environment"])


def test_the_gpus_ray_assigns_a_task_are_its_containers(ray_cluster):
    live_docker_client()
    ray = connect(ray_cluster.address)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    probe = ray.remote(_options_on_node).options(num_cpus=0, num_gpus=NODE2_GPUS, resources={"node2": 0.01})
    assigned, requests, env = ray.get(probe.remote(_job("ray-gpu-c")), timeout=120)
    assert sorted(assigned) == ["0", "1"]
    assert requests == [dict(DeviceRequest(device_ids=assigned, capabilities=[["gpu"]]))]
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1"


def _engine(cluster, tmp_path: Path, **run: object) -> Engine:
    repo = make_repo(tmp_path / "repo", {"train.py": GPU_PROBE})
    settings = {"run": {"rayAddress": cluster.address, "memoryMb": 256, "command": "python train.py",
                        "rayResources": {"node2": 1}, "image": TEST_IMAGE, **run}}
    return Engine.load(repo, settings)


def test_a_plain_ray_run_asking_a_gpu_sees_the_one_ray_gave_it(ray_cluster, tmp_path):
    # gpusPerRun asks the cluster: this machine, which has none, does not refuse it
    engine = _engine(ray_cluster, tmp_path / "gpu", gpusPerRun=1, raySandbox="none")
    record = asyncio.run(engine.run(Work(), runner="ray"))
    log = (engine.workspace / record.log_path).read_text() if record.log_path else ""
    assert record.status == "passed", log
    assert "GPUS '0'" in log or "GPUS '1'" in log
    engine = _engine(ray_cluster, tmp_path / "cpu", raySandbox="none")
    record = asyncio.run(engine.run(Work(), runner="ray"))
    assert "GPUS ''" in (engine.workspace / record.log_path).read_text()


def test_a_ray_run_in_docker_asking_a_gpu_reaches_the_engine_with_its_device_request(ray_cluster, tmp_path):
    # this engine has no GPU runtime: it refuses the container the request made, which is
    # where a GPU machine would hand the device over
    live_docker_client()
    engine = _engine(ray_cluster, tmp_path, gpusPerRun=1, raySandbox="docker")
    record = asyncio.run(engine.run(Work(), runner="ray"))
    assert record.status == "error", record.message
    message = record.message or ""
    assert message.startswith("the run could not start on its Ray node: APIError: 500 Server Error"), message
    assert message.endswith('("could not select device driver "" with capabilities: [[gpu]]")'), message
    assert "\n" not in message and "\x1b" not in message
