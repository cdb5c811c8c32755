"""Finished runs logged to MLflow (`tracking.mlflowUri`: a tracking server or a `file:` store).

Each run becomes one MLflow run in the experiment named after the workspace folder: params
(hypothesis, branch, command, runner), its metrics, tags (`mlflow.source.git.commit`, the
branch, the environment's Python, image and node), the run's log and environment as artifacts,
and its end status. The URI comes from the user's settings or `MLR_MLFLOW_URI`, never from a
workspace's `.env` (it would send the runs elsewhere). MLflow is imported only when a URI is set
(it costs seconds), and a tracker that fails costs the run a warning, never its result.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from ..runners.model import RunRecord

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

# MLflow's names: letters, digits, `_ - . / :` and spaces, no `..`, nothing absolute, 250 chars.
METRIC_KEY_UNSAFE = re.compile(r"[^\w\-. /:]")
MAX_KEY = 250
MAX_PARAM = 500
TRACK_TIMEOUT_S = 30.0
STATUS = {"passed": "FINISHED", "cancelled": "KILLED", "interrupted": "KILLED"}


class TrackingError(Exception):
    pass


def redacted(uri: str) -> str:
    """`uri` without its user and password, fit to show in a warning."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "the configured URI"
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=f"***@{host}" + (f":{parts.port}" if parts.port else "")))


def metric_key(name: str) -> str:
    key = METRIC_KEY_UNSAFE.sub("_", name).replace("..", "__").lstrip("/").strip()
    return key[:MAX_KEY] or "_"


def track_run(workspace: Path, record: RunRecord, uri: str | None) -> str | None:
    """Log the finished `record` to MLflow at `uri`: None when done or not asked, else a warning
    for the record (MLflow missing, the server refusing or not answering in `TRACK_TIMEOUT_S`:
    its client retries for minutes, so the logging goes on in the background past that)."""
    if not uri:
        return None
    outcome: list[BaseException | None] = []

    def work() -> None:
        try:
            _log_run(Path(workspace), record, uri)
            outcome.append(None)
        except BaseException as exc:  # any failure of the tracker, its SDK or its server
            outcome.append(exc)

    thread = threading.Thread(target=work, name=f"mlflow-{record.id}", daemon=True)
    thread.start()
    thread.join(TRACK_TIMEOUT_S)
    if not outcome:
        return f"not logged to MLflow at {redacted(uri)}: no answer within {TRACK_TIMEOUT_S:g} s"
    error = outcome[0]
    if error is None:
        return None
    if isinstance(error, ImportError):
        return "tracking.mlflowUri is set but MLflow is not installed: pip install 'mlr-copilot[mlflow]'"
    log.warning("MLflow logging of run %s failed: %s", record.id, error)
    if "MLFLOW_ALLOW_FILE_STORE" in str(error):
        # MLflow 3 keeps `file:` stores only for those who opt in; that is the user's call
        return (f"not logged to MLflow at {redacted(uri)}: this MLflow refuses file stores unless "
                "MLFLOW_ALLOW_FILE_STORE=true is set in your environment; set it, or use sqlite:///PATH/mlflow.db")
    detail = str(error).replace(uri, redacted(uri)).strip().splitlines()
    return f"not logged to MLflow at {redacted(uri)}: {(detail[0] if detail else type(error).__name__)[:300]}"


def _experiment_id(client: MlflowClient, name: str) -> str:
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except MlflowException:  # created meanwhile by another run
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def _tags(record: RunRecord) -> dict[str, str]:
    env = record.environment
    tags = {
        "mlflow.runName": record.id,
        "mlflow.source.type": "LOCAL",
        "mlflow.source.name": _masked(record.command)[:MAX_PARAM],
        "mlflow.source.git.commit": record.commit,
        "mlflow.source.git.branch": record.branch,
        "mlr.run_id": record.id,
        "mlr.status": record.status,
        "mlr.baseline": str(record.baseline).lower(),
        "mlr.primary_metric": record.primary_metric,
        "mlr.python": env.python if env else None,
        "mlr.image": env.image if env else None,
        "mlr.node": env.node if env else None,
    }
    return {key: value for key, value in tags.items() if value}


def _params(record: RunRecord) -> dict[str, str]:
    params = {"hypothesis": record.hypothesis, "branch": record.branch, "command": _masked(record.command),
              "runner": record.runner}
    return {key: value[:MAX_PARAM] for key, value in params.items() if value}


def _masked(text: str) -> str:
    """`text` with the secret values this process knows as `***`: a command may carry a key
    (`--token ...`), and the tracker may be another host."""
    from ..runners.environment import secret_values

    for secret in secret_values(os.environ, []):
        text = text.replace(secret, "***")
    return text


def _quiet(client: MlflowClient) -> None:
    """MLflow writes "View run ... at" to stdout when a run ends, and stdout is the LSP channel
    or `--json` output: that client's printing is turned off (never the process's stdout, which
    other threads use meanwhile)."""
    tracking_client = getattr(client, "_tracking_client", None)
    if tracking_client is not None and hasattr(tracking_client, "_log_url"):
        tracking_client._log_url = lambda run_id: None


def _log_run(workspace: Path, record: RunRecord, uri: str) -> None:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    _quiet(client)
    started = int(datetime.fromisoformat(record.started_at).timestamp() * 1000)
    ended = started + int((record.duration_s or 0) * 1000)
    run = client.create_run(_experiment_id(client, workspace.name or "workspace"), start_time=started,
                            tags=_tags(record), run_name=record.id)
    run_id = run.info.run_id
    try:
        client.log_batch(run_id, metrics=[Metric(metric_key(name), value, ended, 0) for name, value in record.metrics.items()],
                         params=[Param(key, value) for key, value in _params(record).items()])
        if record.environment is not None:
            client.log_dict(run_id, record.environment.model_dump(mode="json"), "environment.json")
        log_file = workspace / record.log_path if record.log_path else None
        if log_file is not None and log_file.is_file() and not log_file.is_symlink():
            client.log_artifact(run_id, str(log_file))
    except BaseException:
        client.set_terminated(run_id, status="FAILED", end_time=ended)  # not left "running" there
        raise
    client.set_terminated(run_id, status=STATUS.get(record.status, "FAILED"), end_time=ended)
