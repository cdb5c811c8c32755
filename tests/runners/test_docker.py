"""The Docker runner against a real engine and the locally built base image."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mlr_copilot.history import load_runs
from mlr_copilot.runners import pick_runner
from mlr_copilot.runners.docker import DockerRunner
from mlr_copilot.runners.docker_engine import (
    LABEL,
    OWNER_LABEL,
    RUN_LABEL,
    DockerUnavailableError,
    GpuUnavailableError,
    ImageNotFoundError,
    cleanup_orphans,
)
from mlr_copilot.runners.docker_engine import (
    docker_client as connect_engine,
)
from mlr_copilot.runners.docker_image import workspace_image_tag
from mlr_copilot.runners.execute import execute, mark_interrupted, save_record
from mlr_copilot.runners.logsink import MB
from mlr_copilot.runners.model import RunRecord, RunRequest
from tests.gitutil import make_repo, write

from .conftest import TEST_IMAGE
from .helpers import remove_containers


def request(workspace: Path, command, **overrides) -> RunRequest:
    fields = dict(
        workspace=str(workspace), command=command, timeout=60, memory_mb=512, cpus=1,
        max_processes=64, max_output_mb=10, image=TEST_IMAGE,
    )
    fields.update(overrides)
    return RunRequest(**fields)


def containers_of(client, run_id: str) -> list:
    return client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"})


def run(workspace: Path, script: str, *, primary_metric=None, **overrides) -> RunRecord:
    write(workspace, "train.py", script)
    return execute(request(workspace, ["python", "train.py"], **overrides), DockerRunner(TEST_IMAGE), primary_metric=primary_metric)


def test_missing_engine_is_a_clear_error(monkeypatch, tmp_path):
    dead = tmp_path / "dead.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{dead}")
    with pytest.raises(DockerUnavailableError) as caught:
        connect_engine(timeout=2)
    assert f"no Docker engine answers at unix://{dead}" in str(caught.value)
    assert "set runner to local" in str(caught.value)
    runner = pick_runner("auto", TEST_IMAGE)
    assert runner.name == "local" and "no Docker engine answers" in runner.reason



@pytest.mark.docker
def test_success_as_the_workspace_owner_no_secrets_outputs_written_back(docker_client, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    repo = make_repo(tmp_path / "repo", {"train.py": """
        import json, os, socket
        print("uid", os.getuid(), "home", os.environ["HOME"], "cwd", os.getcwd())
        print("interfaces", sorted(name for _, name in socket.if_nameindex()))
        print("env", sorted(os.environ))
        print("METRIC loss=0.25")
        os.makedirs("out", exist_ok=True)
        json.dump({"accuracy": 0.75}, open("out/results.json", "w"))
        json.dump({"accuracy": 0.75}, open(os.path.join(os.environ["MLR_OUTPUT_DIR"], "results.json"), "w"))
    """})
    lines: list[str] = []
    record = execute(
        request(repo, "python train.py", results_file="out/results.json", env={"HF_TOKEN": "hf-should-not-leak"}),
        DockerRunner(TEST_IMAGE), primary_metric="accuracy", direction="maximize", on_line=lines.append,
    )
    assert record.status == "passed", (record.message, (repo / record.log_path).read_text())
    assert record.runner == "docker" and record.image == TEST_IMAGE
    assert record.metrics == {"loss": 0.25, "accuracy": 0.75}
    text = (repo / record.log_path).read_text()
    assert "should-not-leak" not in text and "OPENAI_API_KEY" not in text
    # the invoking user; as root, the workspace's owner (without any capability)
    expected_uid = os.getuid() or repo.stat().st_uid
    assert f"uid {expected_uid} home /tmp cwd /workspace" in text
    assert "interfaces ['lo']" in text
    assert any(line.startswith("uid ") for line in lines)
    # the run executed in a worktree of its commit: what it keeps is in its outputs folder
    assert not (repo / "out").exists()
    written = repo / record.outputs / "results.json"
    assert written.read_text().startswith("{") and written.stat().st_mode & 0o004
    assert containers_of(docker_client, record.id) == []


@pytest.mark.docker
def test_network_host_when_asked(docker_client, workspace):
    record = run(workspace, "import socket\nprint('n', len(socket.if_nameindex()))\n", network=True)
    assert record.status == "passed"
    count = int((workspace / record.log_path).read_text().split("n ", 1)[1].split()[0])
    assert count == len(os.listdir("/sys/class/net"))


@pytest.mark.docker
def test_timeout_kills_and_removes_the_container(docker_client, workspace):
    start = time.monotonic()
    record = run(workspace, "import time\nprint('go', flush=True)\ntime.sleep(600)\n", timeout=2)
    assert record.status == "timeout"
    assert time.monotonic() - start < 10
    assert containers_of(docker_client, record.id) == []


@pytest.mark.docker
def test_oom_in_container(docker_client, workspace):
    script = """
        blocks = []
        while True:
            blocks.append(bytearray(32 * 1024 * 1024))
    """
    record = run(workspace, script, memory_mb=96)
    assert record.status == "oom", (workspace / record.log_path).read_text()
    assert record.exit_code == 137
    assert record.failures[0].kind == "oom"
    assert record.peak_memory_mb is None or record.peak_memory_mb <= 100


@pytest.mark.docker
def test_fork_bomb_in_container_ends(docker_client, workspace):
    script = """
        import os, time
        print("forking", flush=True)
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.001)
    """
    start = time.monotonic()
    record = run(workspace, script, max_processes=32, timeout=30)
    assert time.monotonic() - start < 20
    assert record.status == "failed"
    assert record.failures[0].kind == "killed"
    assert containers_of(docker_client, record.id) == []


@pytest.mark.docker
def test_traceback_paths_map_to_the_workspace(docker_client, workspace):
    write(workspace, "pkg/steps.py", "def step(x):\n    return 1 / x\n")
    record = run(workspace, "from pkg.steps import step\nstep(0)\n")
    assert record.status == "failed"
    failure = record.failures[0]
    assert (failure.path, failure.line, failure.error_type) == ("pkg/steps.py", 2, "ZeroDivisionError")


@pytest.mark.docker
def test_cancel_removes_the_container_at_once(docker_client, workspace):
    write(workspace, "train.py", """
        import subprocess, time
        subprocess.Popen(["sleep", "300"])
        print("ready", flush=True)
        time.sleep(300)
    """)
    ready, cancel = threading.Event(), threading.Event()
    result: list[RunRecord] = []
    worker = threading.Thread(target=lambda: result.append(execute(
        request(workspace, ["python", "train.py"]), DockerRunner(TEST_IMAGE),
        on_line=lambda line: ready.set() if line == "ready" else None, cancel=cancel,
    )))
    worker.start()
    assert ready.wait(30)
    cancelled_at = time.monotonic()
    cancel.set()
    worker.join(20)
    assert not worker.is_alive() and time.monotonic() - cancelled_at < 5
    record = result[0]
    assert record.status == "cancelled"
    listed = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label={LABEL}=1", "--filter", f"label={RUN_LABEL}={record.id}", "-q"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert listed.strip() == ""


@pytest.mark.docker
def test_missing_image_is_a_clear_error_without_pull(docker_client, workspace):
    write(workspace, "train.py", "print('hi')\n")
    missing = "mlr-test-missing-image:never"
    start = time.monotonic()
    with pytest.raises(ImageNotFoundError) as caught:
        execute(request(workspace, ["python", "train.py"], image=missing), DockerRunner(missing))
    assert time.monotonic() - start < 5
    assert missing in str(caught.value) and "build-base-image.sh" in str(caught.value)
    assert not docker_client.images.list(name="mlr-test-missing-image")
    [saved] = load_runs(workspace)
    assert saved.status == "error" and missing in saved.message
    runner = pick_runner("auto", missing)
    assert runner.name == "local" and missing in runner.reason


@pytest.mark.docker
def test_auto_picks_docker_when_image_present(docker_client):
    runner = pick_runner("auto", TEST_IMAGE)
    assert runner.name == "docker" and TEST_IMAGE in runner.reason


@pytest.mark.docker
def test_workspace_dockerfile_built_once_per_content(docker_client, workspace):
    write(workspace, "Dockerfile", f"FROM {TEST_IMAGE}\nCOPY helper.py /opt/extra/helper.py\nENV PYTHONPATH=/opt/extra\n")
    write(workspace, "helper.py", "VALUE = 41\n")
    write(workspace, "train.py", "import helper\nprint(f'METRIC value={helper.VALUE + 1}')\n")
    tag = workspace_image_tag(workspace)
    try:
        first = execute(request(workspace, ["python", "train.py"]), DockerRunner(TEST_IMAGE))
        assert first.status == "passed", (workspace / first.log_path).read_text()
        assert first.metrics == {"value": 42.0} and first.image == tag
        assert "building the workspace Dockerfile" in (workspace / first.log_path).read_text()
        second = execute(request(workspace, ["python", "train.py"]), DockerRunner(TEST_IMAGE))
        assert second.image == tag
        assert "building the workspace Dockerfile" not in (workspace / second.log_path).read_text()
        write(workspace, "helper.py", "VALUE = 1\n")
        assert workspace_image_tag(workspace) != tag
    finally:
        for name in {tag, workspace_image_tag(workspace)}:
            subprocess.run(["docker", "rmi", "-f", name], capture_output=True)


@pytest.mark.docker
def test_cleanup_orphans_spares_live_owners(docker_client):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    orphan = docker_client.containers.create(
        TEST_IMAGE, ["sleep", "300"], network_mode="none",
        labels={LABEL: "1", RUN_LABEL: "orphan-test", OWNER_LABEL: f"{host}:{dead.pid}"},
    )
    alive = docker_client.containers.create(
        TEST_IMAGE, ["sleep", "300"], network_mode="none",
        labels={LABEL: "1", RUN_LABEL: "alive-test", OWNER_LABEL: f"{host}:{os.getpid()}"},
    )
    try:
        assert cleanup_orphans(docker_client) >= 1
        ids = {c.id for c in docker_client.containers.list(all=True, filters={"label": f"{LABEL}=1"})}
        assert orphan.id not in ids and alive.id in ids
    finally:
        remove_containers(orphan, alive)


@pytest.mark.docker
def test_gpu_request_without_nvidia_runtime_is_explained(docker_client, workspace):
    if "nvidia" in (docker_client.info().get("Runtimes") or {}):
        pytest.skip("this engine has an nvidia runtime")
    write(workspace, "train.py", "print('hi')\n")
    with pytest.raises(GpuUnavailableError, match="no GPU is available"):
        DockerRunner(TEST_IMAGE).run(request(workspace, ["python", "train.py"], gpus=True))


@pytest.mark.docker
def test_dotenv_files_are_hidden_from_the_container(docker_client, workspace):
    write(workspace, ".env", "OPENAI_API_KEY=sk-docker-secret-abcdef\n")
    write(workspace, ".env.local", "HF_TOKEN=hf_docker_secret_123456\n")
    write(workspace, "service/.env", "WANDB_API_KEY=wandb-docker-secret-7890\n")
    (workspace / ".env").chmod(0o600)
    record = run(workspace, """
        import os
        for name in (".env", ".env.local", "service/.env"):
            print(name, "listed", os.path.exists(name), "holds", len(open(name).read()), "chars")
        try:
            os.remove(".env")
        except OSError as exc:
            print("remove refused")
        print("METRIC acc=1")
    """)
    text = (workspace / record.log_path).read_text()
    assert record.status == "passed", text
    assert ".env listed True holds 0 chars" in text and ".env.local listed True holds 0 chars" in text
    assert "service/.env listed True holds 0 chars" in text
    assert (workspace / "service/.env").read_text() == "WANDB_API_KEY=wandb-docker-secret-7890\n"
    assert "remove refused" in text
    assert (workspace / ".env").read_text() == "OPENAI_API_KEY=sk-docker-secret-abcdef\n"
    assert stat.S_IMODE((workspace / ".env").stat().st_mode) == 0o600
    assert record.warnings == []


@pytest.mark.docker
def test_long_output_past_a_low_cap_keeps_the_tail_and_the_final_metric(docker_client, workspace):
    script = """
        import sys
        line = "y" * 99 + "\\n"
        for _ in range(40_000):
            sys.stdout.write(line)
        print("last words")
        print("METRIC acc=0.75")
    """
    start = time.monotonic()
    record = run(workspace, script, max_output_mb=1, primary_metric="acc")
    log = (workspace / record.log_path).read_bytes()
    assert time.monotonic() - start < 20
    assert record.status == "passed" and record.metrics == {"acc": 0.75}, log[-500:]
    assert "dropped" in record.message and len(log) < 1.2 * MB
    assert log.startswith(b"y" * 99 + b"\n")
    assert log.rstrip().endswith(b"last words\nMETRIC acc=0.75")
    # every byte came through: 4,000,027 printed, 1 MB kept at the start
    assert b"2.8 MB of output dropped in all" in log


@pytest.mark.docker
def test_nonzero_exit_without_traceback_in_container(docker_client, workspace):
    record = run(workspace, "import sys\nprint('giving up quietly')\nsys.exit(3)\n")
    assert record.status == "failed" and record.exit_code == 3
    [failure] = record.failures
    assert failure.kind == "exit" and "exited with code 3" in failure.message and "giving up quietly" in failure.message
    assert containers_of(docker_client, record.id) == []


@pytest.mark.docker
def test_script_that_kills_itself_in_container(docker_client, workspace):
    record = run(workspace, "import os, signal\nprint('bye', flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\n")
    assert record.status == "failed" and record.exit_code == 137
    [failure] = record.failures
    assert failure.kind == "killed" and "SIGKILL" in failure.message
    assert containers_of(docker_client, record.id) == []


@pytest.mark.docker
def test_mark_interrupted_removes_the_containers_of_dead_owners(docker_client, workspace):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    save_record(workspace, RunRecord(id="dead-owner-run", command="sleep 300", runner="docker",
                                     started_at="2024-01-01T00:00:00Z", owner_host=host, owner_pid=dead.pid))
    orphan = docker_client.containers.create(
        TEST_IMAGE, ["sleep", "300"], network_mode="none",
        labels={LABEL: "1", RUN_LABEL: "dead-owner-run", OWNER_LABEL: f"{host}:{dead.pid}"},
    )
    try:
        orphan.start()
        [closed] = mark_interrupted(workspace)
        assert closed.id == "dead-owner-run" and closed.status == "interrupted"
        assert containers_of(docker_client, "dead-owner-run") == []
    finally:
        try:
            orphan.remove(force=True)
        except Exception:
            pass
