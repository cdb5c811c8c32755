"""`mlr-copilot run` and `debug` as real processes: Ctrl-C cancels the run it started, runs
left behind by dead processes are closed first, and a debug loop stopped by the budget still
reports what it did."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mlr_copilot.autonomous.demo import demo_files
from mlr_copilot.runners.execute import save_record
from mlr_copilot.runners.model import RunRecord
from tests.gitutil import make_repo, write
from tests.runners.conftest import TEST_IMAGE, live_docker_client
from tests.runners.helpers import leftover_processes

ENV = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("MLR_")}
SLEEPER = """
    import subprocess, time
    subprocess.Popen(["sleep", "300"])
    print("ready", flush=True)
    time.sleep(300)
"""


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlr_copilot.cli", *args], capture_output=True, text=True,
                          env={**ENV, **(env or {})}, timeout=300)


def run_records(workspace: Path) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in (workspace / ".mlr" / "runs").glob("*.json")}


@pytest.mark.parametrize("runner", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_ctrl_c_cancels_the_run_and_exits_130(tmp_path, runner):
    if runner == "docker":
        live_docker_client()
    workspace = tmp_path / "ws"
    write(workspace, "train.py", SLEEPER)
    python = sys.executable if runner == "local" else "python"
    # its own process group, so the interrupt goes where a terminal's Ctrl-C would
    process = subprocess.Popen(
        [sys.executable, "-m", "mlr_copilot.cli", "run", "-w", str(workspace), "--runner", runner, "--", python, "train.py"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**ENV, "MLR_IMAGE": TEST_IMAGE},
        start_new_session=True,
    )
    ready = threading.Event()
    errors: list[str] = []

    def read_errors() -> None:
        for line in process.stderr:
            errors.append(line)
            if line.strip() == "ready":
                ready.set()

    reader = threading.Thread(target=read_errors, daemon=True)
    reader.start()
    try:
        assert ready.wait(60), "".join(errors)
        interrupted_at = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
        out = process.stdout.read()
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(5)
    assert time.monotonic() - interrupted_at < 10
    assert process.returncode == 130, "".join(errors)
    assert ": cancelled" in out and "Traceback" not in "".join(errors)
    [(run_id, record)] = run_records(workspace).items()
    assert record["status"] == "cancelled"
    assert leftover_processes(run_id) == set()
    if runner == "docker":
        listed = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=mlr-copilot.run-id={run_id}"],
                                capture_output=True, text=True, check=True).stdout
        assert listed.strip() == ""


def test_run_first_closes_the_runs_of_dead_processes_and_spares_live_ones(tmp_path):
    workspace = tmp_path / "ws"
    write(workspace, "train.py", "print('METRIC acc=1')\n")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()
    for run_id, pid in (("dead-owner", gone.pid), ("live-owner", os.getpid())):
        save_record(workspace, RunRecord(id=run_id, command="python train.py", runner="local",
                                         started_at="2024-01-01T00:00:00Z", owner_host=host, owner_pid=pid))
    result = cli("run", "-w", str(workspace), "--runner", "local", "--", sys.executable, "train.py")
    assert result.returncode == 0, result.stderr
    assert "run dead-owner was interrupted" in result.stderr and "live-owner" not in result.stderr
    statuses = {run_id: record["status"] for run_id, record in run_records(workspace).items()}
    assert statuses.pop("dead-owner") == "interrupted" and statuses.pop("live-owner") == "running"
    assert list(statuses.values()) == ["passed"]


def test_a_local_run_imports_neither_the_docker_sdk_nor_the_llm_layer(tmp_path):
    """Their imports cost a short run more than the run itself: `run --runner local` needs neither.
    (Settings read the provider registry, `mlr_copilot.llm.providers`, which loads no SDK.)"""
    repo = make_repo(tmp_path / "repo", {"train.py": "print('METRIC acc=1')\n"})
    probe = ("import sys; from mlr_copilot.cli import main; code = main(sys.argv[1:]); "
             "print(sorted(m for m in ('docker', 'openai', 'anthropic', 'huggingface_hub', 'mlr_copilot.llm.client', "
             "'mlr_copilot.llm.factory', 'mlr_copilot.ideas.agent', 'mlr_copilot.runners.docker') if m in sys.modules), code)")
    result = subprocess.run([sys.executable, "-c", probe, "run", "-w", str(repo), "--runner", "local", "--json"],
                            capture_output=True, text=True, env=ENV, timeout=300)
    assert result.stdout.splitlines()[-1] == "[] 0", result.stdout[-2000:] + result.stderr[-2000:]


def test_debug_stopped_by_the_budget_reports_the_attempts_so_far(tmp_path):
    repo = make_repo(tmp_path / "repo", {"train.py": "raise ValueError('broken on purpose')\n"})
    result = cli("debug", "-w", str(repo), "--provider", "scripted", "--script", str(demo_files()[1]), "--yes",
                 env={"MLR_BUDGET_TOKENS": "0", "MLR_RUNNER": "local", "MLR_COMMAND": f"{sys.executable} train.py"})
    assert result.returncode == 1, result.stderr
    assert "debugging: budget (LLM budget exceeded" in result.stdout
    assert re.search(r"run \S+ failed -> fix: none", result.stdout)
    # the experiment's own traceback is shown live; the budget error is not a crash
    assert "BudgetExceededError" not in result.stderr and "mlr_copilot" not in result.stderr


def test_run_rev_runs_another_commit_and_leaves_the_checkout_alone(tmp_path):
    workspace = make_repo(tmp_path / "ws", {"train.py": "print('METRIC accuracy=0.5')\n"})
    first = subprocess.run(["git", "-C", str(workspace), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    write(workspace, "train.py", "print('METRIC accuracy=0.9')\n")
    subprocess.run(["git", "-C", str(workspace), "commit", "-qam", "better"], check=True)
    write(workspace, "train.py", "print('METRIC accuracy=0.7')  # being edited\n")
    result = cli("run", "-w", str(workspace), "--runner", "local", "--rev", first, "--json", "--", sys.executable, "train.py")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["commit"] == first and record["metrics"] == {"accuracy": 0.5} and record["isolated"]
    assert (workspace / "train.py").read_text() == "print('METRIC accuracy=0.7')  # being edited\n"
    missing = cli("run", "-w", str(workspace), "--runner", "local", "--rev", "no-such-branch", "--", sys.executable, "train.py")
    error = missing.stderr.strip().splitlines()[-1]
    assert missing.returncode != 0 and error.startswith("mlr-copilot run: cannot run 'no-such-branch'"), missing.stderr
