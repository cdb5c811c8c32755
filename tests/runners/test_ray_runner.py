"""The `ray` runner through the engine, on the real two-node cluster of the `ray_cluster`
fixture (shared with test_ray.py). The last test kills the cluster's second node."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from mlr_copilot.config import settings_from_env, validate_settings
from mlr_copilot.engine import Engine
from mlr_copilot.run_setup import run_request
from mlr_copilot.runners.execute import mark_interrupted
from mlr_copilot.runners.model import RunRecord
from mlr_copilot.runners.ray_connect import RayResourceError, RayUnavailableError, connect
from mlr_copilot.runners.ray_local import free_port
from mlr_copilot.runners.ray_runner import ray_resources
from mlr_copilot.runners.ray_worker import UNSANDBOXED
from mlr_copilot.work import Work
from mlr_copilot.workspace.notes import read_notes
from tests.gitutil import make_repo

from .conftest import TEST_IMAGE, live_docker_client
from .helpers import leftover_processes, remove_containers
from .test_ray import tree as tree  # the fixture, for the last test

ROOT = Path(__file__).resolve().parents[2]
TRAIN = {
    "ok": "import json\nprint('hello')\njson.dump({'accuracy': 0.75}, open('results.json', 'w'))\n",
    "fail": "print('step 1')\n\nraise ValueError('bad learning rate')\n",
    "sleep": "import time\nprint('started', flush=True)\ntime.sleep(600)\n",
    # what a sandbox hides: a host file outside the run's tree, and the network (a port this
    # machine listens on)
    "probe": (
        "import json, os, socket, sys\n"
        "try:\n    open(sys.argv[1]).read()\n    print('outside: read')\nexcept OSError:\n    print('outside: hidden')\n"
        "try:\n    socket.create_connection(('127.0.0.1', int(sys.argv[2])), timeout=3).close()\n"
        "    print('network: reached')\nexcept OSError:\n    print('network: none')\n"
        "json.dump({'accuracy': 0.5}, open('results.json', 'w'))\n"
    ),
}


# the note of a run that `run.raySandbox: none` keeps out of Docker
PLAIN = f"{UNSANDBOXED} (run.raySandbox is none)"


def engine_on(cluster, tmp_path: Path, script: str, **run: object) -> Engine:
    """An engine whose runs go to `cluster`, as plain processes unless `run` says otherwise."""
    repo = make_repo(tmp_path / "repo", {"train.py": TRAIN[script]})
    settings = {"run": {"rayAddress": cluster.address, "memoryMb": 256, "command": f"{sys.executable} train.py",
                        "rayResources": {"head": 1}, "raySandbox": "none", **run}}
    return Engine.load(repo, settings)


def records(workspace: Path) -> list[RunRecord]:
    return [RunRecord.model_validate_json(path.read_bytes()) for path in sorted((workspace / ".mlr/runs").glob("*.json"))]


def test_what_a_ray_run_asks_comes_from_the_settings():
    raw = settings_from_env({"MLR_RAY_ADDRESS": "ray://head:10001", "MLR_RUNNER": "ray"})
    raw["run"].update({"gpusPerRun": 2, "rayNumCpus": 4, "rayResources": {"a100": 1}, "memoryMb": 1024})
    settings, warnings = validate_settings(raw)
    assert warnings == [] and settings.run.runner == "ray"
    request = run_request(settings.run, Path("/tmp"), command="python train.py")
    assert request.ray.model_dump() == {"address": "ray://head:10001", "num_cpus": 4.0, "num_gpus": 2.0,
                                        "resources": {"a100": 1.0}, "code": "tarball", "sandbox": "auto"}
    assert ray_resources(request).as_ray() == {"CPU": 4.0, "GPU": 2.0, "a100": 1.0, "memory": 1024 * 2**20}
    own_gpus, _ = validate_settings({"run": {"gpusPerRun": 2, "rayNumGpus": 0.5}})
    assert run_request(own_gpus.run, Path("/tmp"), command="x").ray.num_gpus == 0.5


def test_a_passing_run_records_its_metrics_its_node_and_its_note(ray_cluster, tmp_path):
    engine = engine_on(ray_cluster, tmp_path, "ok", metric="accuracy")
    lines: list[str] = []
    record = asyncio.run(engine.run(Work(), runner="ray", on_line=lines.append))
    assert (record.status, record.runner, record.metrics) == ("passed", "ray", {"accuracy": 0.75})
    assert record.sandbox is not None and record.sandbox.node_ip == "127.0.0.1"
    assert record.sandbox.node_id == ray_cluster.node_id_with(connect(ray_cluster.address), "head")
    assert record.message == f"exited with code 0; {PLAIN}"
    assert (record.sandbox.unsandboxed, record.sandbox.container) == (PLAIN, None)
    log = (engine.workspace / record.log_path).read_text().splitlines()
    assert log[0] == f"[mlr-copilot: {PLAIN}]"
    assert log[1].startswith("[mlr-copilot: running on Ray node 127.0.0.1 (node id ")
    assert "hello" in log and "hello" in lines
    note = json.loads(read_notes(engine.workspace, record.commit or "").splitlines()[-1])
    assert (note["run"], note["runner"], note["metrics"]) == (record.id, "ray", {"accuracy": 0.75})


def test_a_run_asking_the_second_nodes_resource_runs_there_and_records_its_host(ray_cluster, tmp_path):
    engine = engine_on(ray_cluster, tmp_path, "ok", rayResources={"node2": 1})
    record = asyncio.run(engine.run(Work(), runner="ray"))
    assert record.status == "passed"
    assert record.sandbox and record.sandbox.node_id == ray_cluster.node_id_with(connect(ray_cluster.address), "node2")
    # the worker's host, not this machine's (where the test cluster's second node has a host
    # name of its own)
    assert record.environment is not None and record.environment.node == ray_cluster.node2_host


def test_a_failing_run_is_pinned_to_the_workspace_file_and_line(ray_cluster, tmp_path):
    engine = engine_on(ray_cluster, tmp_path, "fail", rayResources={"node2": 1})
    record = asyncio.run(engine.run(Work(), runner="ray"))
    assert (record.status, record.exit_code) == ("failed", 1)
    failure = record.failures[0]
    assert (failure.path, failure.line, failure.error_type) == ("train.py", 3, "ValueError")
    assert record.message == f"exited with code 1; {PLAIN}"


def test_a_cancelled_run_leaves_no_process_on_its_node(ray_cluster, tmp_path):
    engine = engine_on(ray_cluster, tmp_path, "sleep", rayResources={"node2": 1})
    work = Work()

    def on_line(line: str) -> None:
        if line == "started":
            work.cancel.set()

    began = time.monotonic()
    record = asyncio.run(engine.run(work, runner="ray", on_line=on_line))
    assert record.status == "cancelled" and time.monotonic() - began < 30
    assert leftover_processes(record.id) == set()


def test_a_run_past_its_time_limit_is_stopped_on_its_node(ray_cluster, tmp_path):
    engine = engine_on(ray_cluster, tmp_path, "sleep")
    record = asyncio.run(engine.run(Work(), runner="ray", timeout=3))
    assert record.status == "timeout" and record.duration_s is not None and record.duration_s < 20
    assert record.message.startswith("stopped after the time limit of 3 s")
    assert leftover_processes(record.id) == set()


def test_an_unreachable_cluster_is_one_line_and_an_error_record(ray_cluster, tmp_path):
    engine = engine_on(ray_cluster, tmp_path, "ok", rayAddress=f"127.0.0.1:{free_port()}")
    began = time.monotonic()
    with pytest.raises(RayUnavailableError, match=r"^no Ray cluster answers at 127\.0\.0\.1:\d+ \(") as caught:
        asyncio.run(engine.run(Work(), runner="ray"))
    assert time.monotonic() - began < 15 and "\n" not in str(caught.value)
    [record] = records(engine.workspace)
    assert (record.status, record.message) == ("error", str(caught.value))


def test_a_request_no_node_can_hold_is_refused_at_once(ray_cluster, tmp_path):
    engine = engine_on(ray_cluster, tmp_path, "ok", rayNumCpus=64)
    began = time.monotonic()
    with pytest.raises(RayResourceError, match=r"^no node of the Ray cluster can hold a run asking CPU 64") as caught:
        asyncio.run(engine.run(Work(), runner="ray"))
    assert time.monotonic() - began < 5 and "\n" not in str(caught.value)
    assert records(engine.workspace)[0].status == "error"


def test_without_ray_choosing_it_says_how_to_install_it_in_one_line():
    code = ("import sys; sys.modules['ray'] = None\n"
            "from mlr_copilot.runners.registry import pick_runner\n"
            "try:\n    pick_runner('ray')\nexcept Exception as exc:\n    print(type(exc).__name__, exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout == "RayUnavailableError Ray is not installed: pip install 'mlr-copilot[ray]'\n", done.stderr


def _probe_run(cluster, tmp_path: Path, sandbox: str, image: str = TEST_IMAGE) -> tuple[RunRecord, list[str]]:
    outside = tmp_path / "outside.txt"
    tmp_path.mkdir(exist_ok=True)
    outside.write_text("host data")
    engine = engine_on(cluster, tmp_path, "probe", raySandbox=sandbox, image=image, rayResources={"node2": 1},
                       command=f"python train.py {outside} {cluster.head.gcs_port}", metric="accuracy")
    record = asyncio.run(engine.run(Work(), runner="ray"))
    return record, (engine.workspace / record.log_path).read_text().splitlines() if record.log_path else []


def test_a_run_in_docker_on_its_node_is_held_by_the_docker_runners_sandbox(ray_cluster, tmp_path):
    client = live_docker_client()
    record, log = _probe_run(ray_cluster, tmp_path, "docker")
    assert (record.status, record.metrics, record.message) == ("passed", {"accuracy": 0.5}, "exited with code 0")
    assert record.sandbox is not None and record.sandbox.container and record.sandbox.unsandboxed is None
    assert record.sandbox.node_id == ray_cluster.node_id_with(connect(ray_cluster.address), "node2")
    assert record.image == TEST_IMAGE
    assert log[0].startswith(f"[mlr-copilot: sandbox: Docker container {record.sandbox.container[:12]} of image {TEST_IMAGE}")
    assert "outside: hidden" in log and "network: none" in log
    assert client.containers.list(all=True, filters={"label": f"mlr-copilot.run-id={record.id}"}) == []


def test_auto_runs_in_docker_where_the_node_has_the_image_and_says_so_where_not(ray_cluster, tmp_path):
    live_docker_client()
    record, log = _probe_run(ray_cluster, tmp_path / "a", "auto")
    assert record.status == "passed" and record.sandbox and record.sandbox.container
    assert "outside: hidden" in log and "network: none" in log
    record, log = _probe_run(ray_cluster, tmp_path / "b", "auto", image="mlr-missing:none")
    why = f"{UNSANDBOXED} (Docker image 'mlr-missing:none' is not on this node (it is never pulled))"
    assert record.status == "passed" and record.sandbox and (record.sandbox.container, record.sandbox.unsandboxed) == (None, why)
    assert log[0] == f"[mlr-copilot: {why}]" and record.message == f"exited with code 0; {why}"
    # the same probe as a plain process does see both: the sandbox is what hid them
    assert "outside: read" in log and "network: reached" in log


def test_docker_required_on_a_node_without_the_image_is_an_error_in_one_line(ray_cluster, tmp_path):
    record, _ = _probe_run(ray_cluster, tmp_path, "docker", image="mlr-missing:none")
    assert (record.status, record.message) == ("error", "run.raySandbox is docker but this Ray node cannot run a "
                                               "container: Docker image 'mlr-missing:none' is not on this node "
                                               "(it is never pulled)")


def _cli_run(repo: Path, address: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MLR_RAY_ADDRESS": address, "PYTHONPATH": f"{ROOT / 'server'}:{ROOT}"}
    return subprocess.Popen([sys.executable, "-m", "mlr_copilot.cli", "run", "--runner", "ray"], cwd=repo, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def _placed_record(repo: Path, cli: subprocess.Popen[bytes]) -> RunRecord:
    end = time.monotonic() + 90
    while time.monotonic() < end:
        found = [r for r in records(repo) if r.sandbox and r.sandbox.node_id] if (repo / ".mlr/runs").is_dir() else []
        if found and leftover_processes(found[0].id):
            return found[0]
        assert cli.poll() is None, cli.stderr.read().decode()[-2000:] if cli.stderr else ""
        time.sleep(0.2)
    raise AssertionError("the CLI's run never started on the cluster")


def test_a_run_whose_owner_died_is_stopped_on_its_node_at_the_next_start(ray_cluster, tmp_path):
    client = live_docker_client()
    engine = engine_on(ray_cluster, tmp_path, "sleep")
    cli = _cli_run(engine.workspace, ray_cluster.address)  # raySandbox auto: in a container here
    running = _placed_record(engine.workspace, cli)
    assert running.sandbox is not None and running.sandbox.container
    os.killpg(cli.pid, signal.SIGKILL)
    cli.wait()
    [closed] = mark_interrupted(engine.workspace, containers=False)
    assert (closed.id, closed.status, closed.runner) == (running.id, "interrupted", "ray")
    assert closed.warnings == []
    end = time.monotonic() + 10
    while leftover_processes(running.id) and time.monotonic() < end:
        time.sleep(0.1)
    assert leftover_processes(running.id) == set()
    assert client.containers.list(all=True, filters={"label": f"mlr-copilot.run-id={running.id}"}) == []


def test_a_dead_owners_run_on_an_unreachable_cluster_is_closed_with_the_reason(ray_cluster, tmp_path):
    engine = engine_on(ray_cluster, tmp_path, "sleep")
    cli = _cli_run(engine.workspace, ray_cluster.address)
    running = _placed_record(engine.workspace, cli)
    os.killpg(cli.pid, signal.SIGKILL)
    cli.wait()
    path = engine.workspace / ".mlr/runs" / f"{running.id}.json"
    moved = running.model_copy(update={"sandbox": running.sandbox.model_copy(update={"ray_address": f"127.0.0.1:{free_port()}"})})
    path.write_text(moved.model_dump_json())
    [closed] = mark_interrupted(engine.workspace, containers=False)
    assert closed.status == "interrupted"
    assert closed.warnings[0].startswith(f"what the run left on Ray node 127.0.0.1 (node id {running.sandbox.node_id}) "
                                         "was not stopped: no Ray cluster answers at 127.0.0.1:")
    for pid in leftover_processes(running.id):
        os.kill(pid, signal.SIGKILL)
    remove_containers(*live_docker_client().containers.list(all=True, filters={"label": f"mlr-copilot.run-id={running.id}"}))


def test_a_run_whose_node_dies_is_interrupted_with_the_reason(ray_cluster, tmp_path):
    """Through the runner: the second node stays dead after this test, the last of the cluster."""
    from mlr_copilot.runners.ray_runner import RayRunner

    engine = engine_on(ray_cluster, tmp_path, "sleep", rayResources={"node2": 1})
    raylet = next(pid for pid in ray_cluster.node2.pids() if Path(f"/proc/{pid}/comm").read_text().strip() == "raylet")

    def kill_when_placed(line: str) -> None:
        if line.startswith("[mlr-copilot: running on Ray node"):
            os.kill(raylet, signal.SIGKILL)

    run_id = f"ray-{uuid.uuid4().hex[:8]}"
    began = time.monotonic()
    outcome = RayRunner().run(engine.run_request(), on_line=kill_when_placed, run_id=run_id)
    assert outcome.status == "interrupted"
    assert outcome.message.startswith("the run's Ray worker was lost: NodeDiedError")
    assert outcome.message.endswith(PLAIN)
    assert time.monotonic() - began < 60
    # the command dies with its worker
    end = time.monotonic() + 10
    while leftover_processes(run_id) and time.monotonic() < end:
        time.sleep(0.1)
    assert leftover_processes(run_id) == set()
