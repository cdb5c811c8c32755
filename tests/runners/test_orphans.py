"""Closing the runs of a dead owner: their whole tree is stopped, found by what the record
names and checked against the live process, and a planted record can make nothing else die."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from mlr_copilot.runners import memcgroup, proctree
from mlr_copilot.runners.execute import mark_interrupted, record_path, save_record
from mlr_copilot.runners.model import RunRecord, Sandbox
from mlr_copilot.state import read_json
from tests.gitutil import git, make_repo

from .conftest import TEST_IMAGE
from .helpers import remove_containers

PY = sys.executable

# A server that runs without the pids cgroup, so only the marker and the session find the tree.
OWNER = textwrap.dedent("""
    import sys
    from mlr_copilot.runners import local
    local.PidsCgroup.create = classmethod(lambda cls, run_id, limit: None)
    from mlr_copilot.runners.execute import execute
    from mlr_copilot.runners.model import RunRequest
    execute(RunRequest(workspace=sys.argv[1], command=[sys.executable, "train.py"], timeout=120), local.LocalRunner())
""")

# An experiment whose child drops its environment, and with it the run's marker.
TRAIN = textwrap.dedent("""
    import os, subprocess, time
    child = subprocess.Popen(["sleep", "300"], env={})
    open(os.path.join(os.environ["MLR_OUTPUT_DIR"], "child.pid"), "w").write(str(child.pid))
    time.sleep(300)
""")


def alive(pid: int) -> bool:
    info = proctree._stat(pid)
    return info is not None and info[0] != "Z"


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_dead_owners_tree_is_stopped_even_where_a_child_dropped_the_marker(tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "repo", {"train.py": TRAIN})
    owner = subprocess.Popen([PY, "-c", OWNER, str(repo)])
    # the run executes in a worktree of its own: it leaves the pid in its outputs folder
    wait_for(lambda: any(path.read_text() for path in repo.glob(".mlr/runs/*/child.pid")))
    child = int(next(repo.glob(".mlr/runs/*/child.pid")).read_text())
    run_id = next((repo / ".mlr" / "runs").glob("*.json")).stem
    sandbox = read_json(record_path(repo, run_id))["sandbox"]
    assert sandbox["pid"] and sandbox["started"] == proctree.start_ticks(sandbox["pid"])
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    assert alive(child) and child not in proctree.marked_processes(run_id)
    # as on a machine with no cgroup: only the session of the recorded leader finds the child
    monkeypatch.setattr(proctree, "cgroup_hierarchy", lambda controller: None)
    monkeypatch.setattr(memcgroup, "cgroup_hierarchy", lambda controller: None)

    closed = mark_interrupted(repo, containers=False)

    assert [r.id for r in closed] == [run_id]
    wait_for(lambda: not alive(child), timeout=5)
    assert not alive(sandbox["pid"])
    record = read_json(record_path(repo, run_id))
    assert record["status"] == "interrupted" and f"pid {owner.pid}" in record["message"]


def test_a_planted_record_cannot_name_another_process_or_cgroup(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    bystander = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        gone = subprocess.Popen([PY, "-c", "pass"])
        gone.wait()
        owner = {"owner_host": socket.gethostname(), "owner_pid": gone.pid}
        named = Sandbox(pid=bystander.pid, started=proctree.start_ticks(bystander.pid))
        save_record(workspace, RunRecord(id="planted", command="x", runner="local", started_at="2024-01-01T00:00:00Z",
                                         sandbox=named, **owner))
        # written by hand: a RunRecord refuses such an id, a planted file does not ask
        escape = RunRecord(id="escape", command="x", runner="local", started_at="2024-01-01T00:00:00Z", **owner)
        (workspace / ".mlr" / "runs" / "escape.json").write_text(
            json.dumps({**escape.model_dump(mode="json"), "id": "../.."}))

        closed = mark_interrupted(workspace, containers=False)

        assert [r.id for r in closed] == ["planted"]
        time.sleep(0.2)
        assert bystander.poll() is None, "a process the record names without the run's marker is not the run's"
        assert read_json(workspace / ".mlr" / "runs" / "escape.json")["status"] == "running"
    finally:
        bystander.kill()
        bystander.wait()


def test_an_owner_pid_taken_by_a_later_process_does_not_keep_the_run_open(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    # this test's own pid, with a start time that is not its own: the owner that started the run is gone
    save_record(workspace, RunRecord(id="reused", command="x", runner="local", started_at="2024-01-01T00:00:00Z",
                                     owner_host=socket.gethostname(), owner_pid=os.getpid(),
                                     owner_started=proctree.start_ticks(os.getpid()) - 1))
    assert [r.id for r in mark_interrupted(workspace, containers=False)] == ["reused"]


@pytest.mark.docker
def test_the_container_a_dead_owners_record_names_is_removed_and_only_a_run_labelled_one(docker_client, tmp_path):
    from mlr_copilot.runners.docker_engine import LABEL, OWNER_LABEL, RUN_LABEL

    workspace = tmp_path / "ws"
    workspace.mkdir()
    gone = subprocess.Popen([PY, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()
    # the label names a live owner: the sweep by label spares it, only the record finds it
    run = docker_client.containers.create(TEST_IMAGE, ["sleep", "300"], network_mode="none",
                                          labels={LABEL: "1", RUN_LABEL: "cut-run", OWNER_LABEL: f"{host}:{os.getpid()}"})
    bystander = docker_client.containers.create(TEST_IMAGE, ["sleep", "300"], network_mode="none")
    try:
        run.start()
        for run_id, container in (("cut-run", run), ("planted-run", bystander)):
            save_record(workspace, RunRecord(id=run_id, command="sleep 300", runner="docker", started_at="2024-01-01T00:00:00Z",
                                             owner_host=host, owner_pid=gone.pid, sandbox=Sandbox(container=container.id)))

        closed = mark_interrupted(workspace)

        assert sorted(r.id for r in closed) == ["cut-run", "planted-run"]
        left = {c.id for c in docker_client.containers.list(all=True)}
        assert run.id not in left and bystander.id in left
    finally:
        remove_containers(run, bystander)


def test_a_run_finished_but_not_yet_noted_when_its_owner_died_gets_its_note(tmp_path):
    repo = make_repo(tmp_path / "repo")
    head = git(repo, "rev-parse", "HEAD").strip()
    gone = subprocess.Popen([PY, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()
    for run_id, pid in (("cut-before-note", gone.pid), ("noting-now", os.getpid())):
        save_record(repo, RunRecord(id=run_id, commit=head, command="python train.py", runner="local", status="passed",
                                    started_at="2024-01-01T00:00:00Z", metrics={"score": 0.5}, owner_host=host,
                                    owner_pid=pid, noted=False))

    assert mark_interrupted(repo, containers=False) == []

    note = git(repo, "notes", "--ref=mlr", "show", head)
    assert '"run":"cut-before-note","status":"passed"' in note and "noting-now" not in note
    assert read_json(record_path(repo, "cut-before-note"))["noted"] is True
    mark_interrupted(repo, containers=False)
    assert git(repo, "notes", "--ref=mlr", "show", head).count("cut-before-note") == 1
