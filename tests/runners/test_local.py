"""The local runner and execute() against real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from mlr_copilot.runners.execute import execute, mark_interrupted, record_path, save_record
from mlr_copilot.runners.local import LocalRunner
from mlr_copilot.runners.model import RunRecord, RunRequest
from mlr_copilot.runners.proctree import cgroup_hierarchy
from mlr_copilot.state import read_json
from tests.gitutil import git, make_repo, write

from .helpers import leftover_processes

PY = sys.executable


def request(workspace: Path, command, **overrides) -> RunRequest:
    fields = dict(workspace=str(workspace), command=command, timeout=30, memory_mb=1024, cpus=1, max_processes=64, max_output_mb=10)
    fields.update(overrides)
    return RunRequest(**fields)


def run(workspace: Path, script: str, *, primary_metric=None, direction=None, **overrides) -> RunRecord:
    write(workspace, "train.py", script)
    return execute(request(workspace, [PY, "train.py"], **overrides), LocalRunner(), primary_metric=primary_metric, direction=direction)


def test_metrics_from_file_and_lines_and_git_note(tmp_path):
    repo = make_repo(tmp_path / "repo", {"train.py": """
        import json
        for step in range(3):
            print(f"METRIC loss={1.0 / (step + 1)}")
        print("METRIC accuracy=0.5")
        json.dump({"metrics": {"accuracy": 0.875, "f1": 0.8}}, open("results.json", "w"))
    """})
    lines: list[str] = []
    record = execute(request(repo, "python train.py"), LocalRunner(), primary_metric="accuracy", direction="maximize", on_line=lines.append)
    assert record.status == "passed", record.message
    assert record.metrics == {"loss": pytest.approx(1 / 3), "accuracy": 0.875, "f1": 0.8}
    assert record.primary_value == 0.875
    assert record.commit == git(repo, "rev-parse", "HEAD").strip()
    assert record.branch == "main" and record.dirty is False
    assert "METRIC accuracy=0.5" in lines
    assert (repo / record.log_path).read_text().count("METRIC loss=") == 3
    saved = RunRecord.model_validate(read_json(record_path(repo, record.id)))
    assert saved == record
    shown = git(repo, "log", "--notes=mlr", "-1")
    note = json.loads(next(line for line in shown.splitlines() if record.id in line))
    assert note["run"] == record.id and note["status"] == "passed" and note["value"] == 0.875


def test_dirty_tree_is_recorded(tmp_path):
    repo = make_repo(tmp_path / "repo", {"train.py": "print('METRIC a=1')\n"})
    (repo / "train.py").write_text("print('METRIC a=2')\n")
    record = execute(request(repo, "python train.py"), LocalRunner())
    assert record.dirty is True and record.metrics == {"a": 2.0}


def test_stale_results_file_is_ignored(workspace):
    (workspace / "results.json").write_text('{"accuracy": 0.99}')
    old = time.time() - 60
    os.utime(workspace / "results.json", (old, old))
    record = run(workspace, "print('no results this time')\n", primary_metric="accuracy")
    assert record.metrics == {}
    assert record.status == "failed"
    assert [f.kind for f in record.failures] == ["no-metric"]
    assert "not written by this run" in record.message


def test_hang_times_out(workspace):
    start = time.monotonic()
    record = run(workspace, "import time\nprint('start', flush=True)\ntime.sleep(600)\n", timeout=1)
    assert record.status == "timeout"
    assert time.monotonic() - start < 6
    assert [f.kind for f in record.failures] == ["timeout"]
    assert leftover_processes(record.id) == set()


def test_fork_bomb_is_bounded_and_leaves_nothing(workspace):
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
    record = run(workspace, script, max_processes=32, timeout=20)
    elapsed = time.monotonic() - start
    assert elapsed < 15, elapsed
    assert record.status == "failed"
    assert record.failures[0].kind == "killed"
    assert "more than 32 processes" in record.failures[0].message
    assert leftover_processes(record.id) == set()


def test_process_count_polled_without_cgroup(workspace, monkeypatch):
    # Machines where no pids cgroup can be made fall back to counting the session's processes.
    monkeypatch.setattr("mlr_copilot.runners.local.PidsCgroup.create", classmethod(lambda cls, run_id, limit: None))
    script = """
        import subprocess, time
        children = [subprocess.Popen(["sleep", "60"]) for _ in range(40)]
        time.sleep(60)
    """
    start = time.monotonic()
    record = run(workspace, script, max_processes=10, timeout=30)
    assert time.monotonic() - start < 10
    assert record.status == "failed" and record.failures[0].kind == "killed"
    assert leftover_processes(record.id) == set()


@pytest.mark.skipif(cgroup_hierarchy("pids") is None, reason="no writable pids cgroup on this machine")
def test_cgroup_is_removed_after_the_run(workspace):
    record = run(workspace, "print('METRIC a=1')\n")
    assert not (cgroup_hierarchy("pids") / "mlr-copilot" / record.id).exists()


def test_memory_hog_is_oom_at_its_line(workspace):
    script = """
        blocks = []
        def grow():
            while True:
                blocks.append(bytearray(50 * 1024 * 1024))
        grow()
    """
    record = run(workspace, script, memory_mb=256)
    assert record.status == "oom"
    failure = record.failures[0]
    assert (failure.kind, failure.path, failure.line, failure.error_type) == ("oom", "train.py", 4, "MemoryError")


def test_gigabytes_of_output_are_capped(workspace):
    script = """
        import sys
        chunk = ("x" * 1023 + "\\n") * 1024
        for _ in range(1024):
            sys.stdout.write(chunk)
        print("METRIC done=1")
        print("the very last line")
    """
    record = run(workspace, script, max_output_mb=1, timeout=60)
    assert record.status == "passed", record.message
    log = workspace / record.log_path
    assert log.stat().st_size < 1024 * 1024 + 80 * 1024
    text = log.read_text()
    assert "output passed the cap of 1 MB" in text
    assert text.rstrip().endswith("the very last line")
    assert "dropped from the log" in record.message
    assert record.metrics == {"done": 1.0}


def test_nonzero_exit_without_traceback(workspace):
    record = run(workspace, "import sys\nprint('giving up quietly')\nsys.exit(3)\n")
    assert record.status == "failed" and record.exit_code == 3
    failure = record.failures[0]
    assert failure.kind == "exit" and "code 3" in failure.message and "giving up quietly" in failure.message


def test_killed_by_signal(workspace):
    record = run(workspace, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    assert record.status == "failed" and record.exit_code == -signal.SIGKILL
    assert record.failures[0].kind == "killed" and "SIGKILL" in record.failures[0].message


def test_library_frame_summarised_into_workspace_frame(workspace, tmp_path):
    site = tmp_path / "site-packages"
    write(site, "fakelib/__init__.py", "")
    write(site, "fakelib/ops.py", """
        def matmul(a, b):
            if len(a) != len(b):
                raise ValueError(f"shapes mismatch: {len(a)} vs {len(b)}")
    """)
    write(workspace, "model.py", """
        from fakelib.ops import matmul

        def forward():
            return matmul([1, 2], [1])
    """)
    script = """
        import model

        def main():
            model.forward()

        main()
    """
    record = run(workspace, script, env={"PYTHONPATH": str(site)})
    assert record.status == "failed"
    failure = record.failures[0]
    assert failure.kind == "exception" and failure.error_type == "ValueError"
    assert (failure.path, failure.line) == ("model.py", 4)
    assert failure.message == "ValueError: shapes mismatch: 2 vs 1 (raised in fakelib/ops.py:3)"


def test_nan_metric_fails_the_run(workspace):
    record = run(workspace, "print('METRIC loss=nan')\n", primary_metric="loss", direction="minimize")
    assert record.status == "failed"
    assert [f.kind for f in record.failures] == ["nan"]
    assert record.metrics["loss"] != record.metrics["loss"]
    reread = RunRecord.model_validate_json(record_path(workspace, record.id).read_text())
    assert reread.metrics["loss"] != reread.metrics["loss"]


def test_missing_primary_metric(workspace):
    record = run(workspace, "print('METRIC other=1')\n", primary_metric="accuracy")
    assert record.status == "failed"
    assert [f.kind for f in record.failures] == ["no-metric"]
    assert "METRIC accuracy=<value>" in record.failures[0].message


def test_secrets_never_reach_the_run(workspace, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    monkeypatch.setenv("HF_TOKEN", "hf-should-not-leak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-should-not-leak")
    monkeypatch.setenv("MY_HARMLESS_SETTING", "visible")
    record = run(
        workspace,
        "import os\nfor k, v in sorted(os.environ.items()):\n    print(f'{k}={v}')\n",
        env={"WANDB_API_KEY": "wandb-should-not-leak", "EXTRA": "1"},
    )
    text = (workspace / record.log_path).read_text()
    assert "should-not-leak" not in text
    assert "MY_HARMLESS_SETTING=visible" in text and "EXTRA=1" in text


def test_dotenv_is_warned_about_once_and_secret_values_are_masked(workspace, monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-from-the-environment-42")
    write(workspace, ".env", "OPENAI_API_KEY=sk-local-secret-abcdef123\nMLR_RUNNER=local\n")
    # The experiment can read .env; a value of the environment it could learn elsewhere, and
    # it prints that one in two writes so the value is cut between two reads of the output.
    script = """
        import sys, time
        print("dotenv:", open(".env").read().split()[0], flush=True)
        sys.stdout.write("token: tok-from-the-")
        sys.stdout.flush()
        time.sleep(0.3)
        print("environment-42")
        print("METRIC acc=1")
    """
    write(workspace, "train.py", script)
    lines: list[str] = []
    record = execute(request(workspace, [PY, "train.py"]), LocalRunner(), on_line=lines.append)
    text = (workspace / record.log_path).read_text()
    assert record.status == "passed" and record.metrics == {"acc": 1.0}
    assert "dotenv: OPENAI_API_KEY=***" in text and "token: ***" in text
    assert "sk-local-secret" not in text and "tok-from" not in text
    assert not any("sk-local-secret" in line or "tok-from" in line for line in lines)
    [warning] = record.warnings
    assert ".env" in warning and "Docker runner" in warning
    assert text.count("which this local run can read") == 1
    assert RunRecord.model_validate_json(record_path(workspace, record.id).read_text()).warnings == [warning]
    (workspace / ".env").unlink()
    assert run(workspace, "print('METRIC acc=1')\n").warnings == []
    # A .env beside the code that reads it is warned about and masked the same way.
    write(workspace, "service/.env", "HF_TOKEN=hf-nested-secret-98765\n")
    nested = run(workspace, "print(open('service/.env').read().strip())\nprint('METRIC acc=1')\n")
    [warning] = nested.warnings
    assert "service/.env" in warning
    nested_text = (workspace / nested.log_path).read_text()
    assert "HF_TOKEN=***" in nested_text and "hf-nested-secret" not in nested_text


def test_missing_command_is_an_error_record(workspace):
    record = execute(request(workspace, ["definitely-not-a-command-xyz"]), LocalRunner())
    assert record.status == "error"
    assert "definitely-not-a-command-xyz" in record.message


def test_cancel_stops_the_whole_tree_at_once(workspace):
    write(workspace, "train.py", """
        import subprocess, sys, time
        subprocess.Popen(["sleep", "300"])
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
        print("ready", flush=True)
        time.sleep(300)
    """)
    ready = threading.Event()
    cancel = threading.Event()
    result: list[RunRecord] = []

    def on_line(line: str) -> None:
        if line == "ready":
            ready.set()

    worker = threading.Thread(
        target=lambda: result.append(execute(request(workspace, [PY, "train.py"]), LocalRunner(), on_line=on_line, cancel=cancel))
    )
    worker.start()
    assert ready.wait(15)
    cancelled_at = time.monotonic()
    cancel.set()
    worker.join(15)
    assert not worker.is_alive()
    assert time.monotonic() - cancelled_at < 4
    record = result[0]
    assert record.status == "cancelled" and record.failures == []
    assert leftover_processes(record.id) == set()


SERVER = textwrap.dedent("""
    import sys
    from mlr_copilot.runners.execute import execute
    from mlr_copilot.runners.local import LocalRunner
    from mlr_copilot.runners.model import RunRequest
    execute(RunRequest(workspace=sys.argv[1], command=[sys.executable, "train.py"], timeout=120), LocalRunner())
""")


def test_server_killed_mid_run_is_marked_interrupted(tmp_path):
    repo = make_repo(tmp_path / "repo", {"train.py": "import time\nprint('training', flush=True)\ntime.sleep(300)\n"})
    server = subprocess.Popen([PY, "-c", SERVER, str(repo)])
    deadline = time.monotonic() + 20
    records: list[Path] = []
    while time.monotonic() < deadline and not records:
        records = list((repo / ".mlr" / "runs").glob("*.json")) if (repo / ".mlr" / "runs").is_dir() else []
        time.sleep(0.05)
    assert records, "the run record should exist before the run ends"
    run_id = records[0].stem
    while time.monotonic() < deadline and not leftover_processes(run_id):
        time.sleep(0.05)
    # a concurrent run of a live process is not a leftover
    assert mark_interrupted(repo) == []
    assert read_json(records[0])["status"] == "running" and read_json(records[0])["owner_pid"] == server.pid
    assert leftover_processes(run_id)
    server.send_signal(signal.SIGKILL)
    server.wait()
    assert read_json(records[0])["status"] == "running"
    assert leftover_processes(run_id), "the experiment outlives its killed server"

    closed = mark_interrupted(repo)
    assert [r.id for r in closed] == [run_id]
    assert read_json(records[0])["status"] == "interrupted"
    assert leftover_processes(run_id) == set()
    hierarchy = cgroup_hierarchy("pids")
    assert hierarchy is None or not (hierarchy / "mlr-copilot" / run_id).exists()
    assert "interrupted" in git(repo, "log", "--notes=mlr", "-1")
    assert mark_interrupted(repo) == []


def test_only_runs_whose_owner_is_gone_are_marked_interrupted(workspace):
    gone = subprocess.Popen([PY, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()
    owners = {"dead": (host, gone.pid), "live": (host, os.getpid()), "elsewhere": ("another-machine", 1), "unknown": (None, None)}
    for name, (owner_host, owner_pid) in owners.items():
        save_record(workspace, RunRecord(id=name, command="python train.py", runner="local", started_at="2024-01-01T00:00:00Z",
                                         owner_host=owner_host, owner_pid=owner_pid))
    closed = mark_interrupted(workspace)
    assert sorted(r.id for r in closed) == ["dead", "unknown"]
    statuses = {name: read_json(record_path(workspace, name))["status"] for name in owners}
    assert statuses == {"dead": "interrupted", "live": "running", "elsewhere": "running", "unknown": "interrupted"}


def test_a_local_caller_leaves_the_docker_engine_alone_unless_a_docker_run_was_cut(workspace, monkeypatch):
    import mlr_copilot.runners.docker as docker_runner

    sweeps: list[int] = []
    monkeypatch.setattr(docker_runner, "cleanup_orphans", lambda: sweeps.append(1) or 0)
    gone = subprocess.Popen([PY, "-c", "pass"])
    gone.wait()

    def cut(run_id: str, runner: str) -> None:
        save_record(workspace, RunRecord(id=run_id, command="python train.py", runner=runner, started_at="2024-01-01T00:00:00Z",
                                         owner_host=socket.gethostname(), owner_pid=gone.pid))

    cut("local-run", "local")
    assert [r.id for r in mark_interrupted(workspace, containers=False)] == ["local-run"]
    assert sweeps == []
    cut("docker-run", "docker")
    assert [r.id for r in mark_interrupted(workspace, containers=False)] == ["docker-run"]
    assert sweeps == [1]
    assert mark_interrupted(workspace) == [] and sweeps == [1, 1], "by default (the server) the engine is swept"
