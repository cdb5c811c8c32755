"""Finished runs logged to MLflow: a real tracking server started here on 127.0.0.1 (one per
session) and a `file:` store; a tracker that fails costs a run a warning, never its result."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mlr_copilot.config import load_settings
from mlr_copilot.history import tracking
from mlr_copilot.runners.execute import execute, record_path
from mlr_copilot.runners.local import LocalRunner
from mlr_copilot.runners.model import RunRecord, RunRequest
from tests.gitutil import commit, git, make_repo

mlflow = pytest.importorskip("mlflow", reason="MLflow is not installed: pip install -e '.[test]'")

SCRIPT = """
import json, sys
print("METRIC accuracy=0.875")
json.dump({"../../etc/pass wd!": 2, "accuracy": 0.875}, open("results.json", "w"))
print("loss went", "down")
sys.exit(int(open("code.txt").read()))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = (root / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'db.sqlite'}", "--artifacts-destination", str(root / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"mlflow server did not start: {(root / 'server.log').read_text()[-2000:]}")
        time.sleep(0.25)
    yield uri
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    log.close()


def run(tmp_path: Path, uri: str, code: int = 0, name: str = "digits-study") -> RunRecord:
    repo = make_repo(tmp_path / name, {"train.py": SCRIPT, "code.txt": str(code)})
    git(repo, "checkout", "-q", "-b", "mlr/h1-wider-net")
    request = RunRequest(workspace=str(repo), command=[sys.executable, "train.py"], timeout=60)
    return execute(request, LocalRunner(), primary_metric="accuracy", direction="maximize", hypothesis="h1",
                   mlflow_uri=uri)


def logged(uri: str, experiment: str):
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment}"
    return client, client.search_runs([found.experiment_id])


def test_a_finished_run_is_logged_to_a_tracking_server(tmp_path, mlflow_server, capfd):
    record = run(tmp_path, mlflow_server)
    assert record.status == "passed" and record.warnings == []
    assert capfd.readouterr().out == "", "stdout is the LSP channel: MLflow's 'View run' line must not reach it"
    client, [mlrun] = logged(mlflow_server, "digits-study")
    assert mlrun.info.status == "FINISHED" and mlrun.info.run_name == record.id
    assert mlrun.data.params == {"hypothesis": "h1", "branch": "mlr/h1-wider-net", "command": record.command,
                                 "runner": "local"}
    assert mlrun.data.metrics == {"accuracy": 0.875, "__/__/etc/pass wd_": 2.0}
    tags = mlrun.data.tags
    assert tags["mlflow.source.git.commit"] == record.commit and tags["mlr.run_id"] == record.id
    assert tags["mlflow.source.git.branch"] == "mlr/h1-wider-net"
    assert tags["mlr.python"] == record.environment.python
    assert {a.path for a in client.list_artifacts(mlrun.info.run_id)} == {f"{record.id}.log", "environment.json"}
    log_copy = client.download_artifacts(mlrun.info.run_id, f"{record.id}.log", str(tmp_path))
    assert "loss went down" in Path(log_copy).read_text()
    environment = json.loads(Path(client.download_artifacts(mlrun.info.run_id, "environment.json", str(tmp_path))).read_text())
    assert environment == record.environment.model_dump(mode="json")


def test_a_failed_run_is_logged_failed_with_the_commands_secrets_masked(tmp_path, mlflow_server, monkeypatch):
    monkeypatch.setenv("EXAMPLE_API_KEY", "sk-live-0123456789abcdef")
    repo = make_repo(tmp_path / "failing-study", {"train.py": SCRIPT, "code.txt": "3"})
    request = RunRequest(workspace=str(repo), command=[sys.executable, "train.py", "--key", "sk-live-0123456789abcdef"],
                         timeout=60)
    record = execute(request, LocalRunner(), primary_metric="accuracy", mlflow_uri=mlflow_server)
    assert record.status == "failed"
    _, [mlrun] = logged(mlflow_server, "failing-study")
    assert mlrun.info.status == "FAILED" and mlrun.data.tags["mlr.status"] == "failed"
    assert mlrun.data.params["command"].endswith("train.py --key ***")
    assert "sk-live" not in json.dumps(mlrun.data.tags)


def test_a_file_store_gets_the_run_and_non_finite_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks its users to opt in
    store = (tmp_path / "mlruns").as_uri()
    repo = make_repo(tmp_path / "nan-study", {"train.py": "print('METRIC loss=nan')\nprint('METRIC acc=0.5')\n"})
    record = execute(RunRequest(workspace=str(repo), command=[sys.executable, "train.py"], timeout=60), LocalRunner(),
                     primary_metric="acc", mlflow_uri=store)
    assert record.warnings == []
    _, [mlrun] = logged(store, "nan-study")
    assert mlrun.data.metrics["acc"] == 0.5 and math.isnan(mlrun.data.metrics["loss"])
    assert mlrun.data.tags["mlflow.source.git.commit"] == record.commit


def test_a_run_of_a_branch_heads_sha_tags_the_branch_in_mlflow(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = (tmp_path / "mlruns").as_uri()
    repo = make_repo(tmp_path / "sha-study", {"train.py": SCRIPT, "code.txt": "0"})
    git(repo, "checkout", "-q", "-b", "mlr/h1-wider-net")
    sha = commit(repo, {"code.txt": "0\n"}, "implement h1")
    git(repo, "checkout", "-q", "main")
    request = RunRequest(workspace=str(repo), command=[sys.executable, "train.py"], timeout=60)
    record = execute(request, LocalRunner(), rev=sha, primary_metric="accuracy", mlflow_uri=store)
    assert record.status == "passed" and record.branch == "mlr/h1-wider-net"
    _, [mlrun] = logged(store, "sha-study")
    assert mlrun.data.tags["mlflow.source.git.branch"] == "mlr/h1-wider-net"
    assert mlrun.data.params["branch"] == "mlr/h1-wider-net"


def test_a_file_store_mlflow_refuses_gets_a_warning_naming_the_way_out(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    if int(mlflow.__version__.split(".")[0]) < 3:
        pytest.skip(f"MLflow {mlflow.__version__} takes file stores without an opt-in")
    record = run(tmp_path, (tmp_path / "mlruns").as_uri())
    assert record.status == "passed"
    [warning] = record.warnings
    assert "MLFLOW_ALLOW_FILE_STORE=true" in warning and "sqlite:///" in warning
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ, "the user's environment is theirs to set"


def test_an_unreachable_tracker_is_a_warning_without_the_password(tmp_path, monkeypatch):
    monkeypatch.setattr(tracking, "TRACK_TIMEOUT_S", 3.0)
    uri = f"http://mlr:s3cret-pass-123@127.0.0.1:{free_port()}"
    record = run(tmp_path, uri)
    assert record.status == "passed" and record.metrics["accuracy"] == 0.875
    [warning] = record.warnings
    assert warning.startswith("not logged to MLflow at http://***@127.0.0.1:") and "s3cret" not in warning
    saved = record_path(tmp_path / "digits-study", record.id).read_text()
    assert "s3cret" not in saved and "not logged to MLflow" in saved


def test_without_mlflow_installed_the_run_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    record = run(tmp_path, (tmp_path / "mlruns").as_uri())
    assert record.status == "passed"
    assert record.warnings == ["tracking.mlflowUri is set but MLflow is not installed: pip install 'mlr-copilot[mlflow]'"]


def test_the_uri_comes_from_the_setting_or_the_users_environment():
    settings, _ = load_settings({"tracking": {"mlflowUri": "file:/tmp/mlruns"}}, environ={})
    assert settings.tracking.mlflow_uri == "file:/tmp/mlruns"
    settings, _ = load_settings(environ={"MLR_MLFLOW_URI": "http://127.0.0.1:5000"})
    assert settings.tracking.mlflow_uri == "http://127.0.0.1:5000"
    assert load_settings(environ={})[0].tracking.mlflow_uri is None


def test_cli_run_json_stays_json_while_mlflow_logs(tmp_path, mlflow_server):
    """MLflow prints "View run ... at" on stdout: not into `--json` output (nor the LSP channel)."""
    repo = make_repo(tmp_path / "cli-study", {"train.py": "print('METRIC acc=1')\n"})
    env = {**os.environ, "MLR_MLFLOW_URI": mlflow_server, "MLR_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "mlr_copilot.cli", "run", "-w", str(repo), "--runner", "local", "--json",
                           "--", sys.executable, "train.py"], capture_output=True, text=True, env=env, timeout=180)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["warnings"] == [] and record["environment"]["runner"] == "local"
    _, [mlrun] = logged(mlflow_server, "cli-study")
    assert mlrun.data.metrics == {"acc": 1.0}
