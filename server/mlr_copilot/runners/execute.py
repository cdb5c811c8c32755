"""One experiment run from start to record: the call the editor, the CLI and the debug loop
share. The record is on disk before the command starts and names the process that owns the
run and where its processes are, so a server or CLI that dies mid-run leaves a trace that
`mark_interrupted()` closes, stopping those processes, at the next start of either."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..objective import Direction
from ..state import StateDir, write_json
from ..workspace.notes import append_note
from ..workspace.worktrees import prune
from .base import RunOutcome, new_run_id, owner_alive, resolve_workspace, run_owner
from .failures import diagnose
from .metrics import collect_metrics, non_finite
from .model import RunEnvironment, RunRecord, RunRequest, Sandbox
from .placing import SlotUse, Source, kept_outputs, placed, source
from .proctree import start_ticks
from .registry import NAMES, runner_class
from .summary import RunStatus, record_path
from .supervise import LineCallback, Runner

log = logging.getLogger(__name__)

DIAGNOSE_BYTES = 256 * 1024
# What a run id may look like (new_run_id makes `20240101-120000-a1b2c3`).
SAFE_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# File timestamps come from a coarse clock; a results file written at once may look older.
MTIME_SLACK_S = 0.05
NOTE_ATTEMPTS = 3
_NOTES_LOCK = threading.Lock()


def save_record(workspace: Path | str, record: RunRecord) -> None:
    write_json(record_path(workspace, record.id), json.loads(record.model_dump_json()))


def note_line(record: RunRecord) -> str:
    """The one-line JSON summary appended to the commit's git note."""
    summary: dict[str, Any] = {
        "run": record.id,
        "status": record.status,
        "metric": record.primary_metric,
        "value": record.primary_value,
        "metrics": record.metrics,
        "duration_s": record.duration_s,
        "runner": record.runner,
        "command": record.command,
        "dirty": record.dirty,
    }
    if record.hypothesis:
        summary["hypothesis"] = record.hypothesis
    if record.sandbox and record.sandbox.node_id:
        summary["node"] = {"ip": record.sandbox.node_ip, "id": record.sandbox.node_id}
    return json.dumps({k: v for k, v in summary.items() if v is not None}, separators=(",", ":"))


def _final_status(outcome: RunOutcome, failures_kinds: set[str], metrics: dict[str, float], primary: str | None) -> RunStatus:
    # a lost node (Ray) is not the experiment's failure: its status says so
    if outcome.status in ("cancelled", "timeout", "error", "interrupted"):
        return outcome.status
    if outcome.oom_killed or "oom" in failures_kinds:
        return "oom"
    if outcome.status != "passed":
        return "failed"
    bad = set(non_finite(metrics))
    if primary and (primary not in metrics or primary in bad):
        return "failed"
    if not primary and bad:
        return "failed"
    return "passed"


def read_tail(path: Path, size: int = DIAGNOSE_BYTES) -> str:
    """The end of a log: tracebacks and last words are there, and reading a log of any size
    whole would stall the server."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - size))
            return handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def execute(
    request: RunRequest,
    runner: Runner,
    *,
    rev: str | None = None,
    branch: str | None = None,
    run_id: str | None = None,
    slot: SlotUse | None = None,
    primary_metric: str | None = None,
    direction: Direction | None = None,
    hypothesis: str | None = None,
    baseline: bool = False,
    search_node: str | None = None,
    on_line: LineCallback | None = None,
    cancel: threading.Event | None = None,
    mlflow_uri: str | None = None,
    pool: int = 0,
) -> RunRecord:
    """Run `request` with `runner` in a worktree of `rev` (default: the checkout's working
    copy, snapshotted when uncommitted; see `placing`), one of `pool` reused ones when `pool`
    is not 0, `branch` being the branch `rev` was taken from when the caller knows it, and
    keep its record (and its commit's note) in the workspace; with `mlflow_uri`, log the
    finished run there too."""
    workspace = resolve_workspace(request)
    record = _start_record(workspace, run_id or new_run_id(), request, runner, primary_metric=primary_metric,
                           direction=direction, hypothesis=hypothesis, baseline=baseline, slot=slot,
                           search_node=search_node)
    save_record(workspace, record)

    def on_start(sandbox: Sandbox) -> None:
        record.sandbox = sandbox
        try:
            save_record(workspace, record)
        except OSError as exc:  # the marker and the cgroup still find the run's processes
            log.warning("could not note where run %s runs: %s", record.id, exc)

    started = time.time()
    cleanup: list[str] = []
    try:
        _take_source(record, source(workspace, record.id, rev, branch))
        with placed(workspace, record.id, record.commit, request.results_file,
                    slot.gpu_ids if slot else None, cleanup, pool=pool, slot=slot.index if slot else 0) as placement:
            # saved with the sandbox, as soon as the run's processes exist (`on_start`)
            record.isolated = placement is not None
            outcome = runner.run(request, on_line=on_line, cancel=cancel, run_id=record.id, on_start=on_start,
                                 placement=placement)
            _judge(workspace, record, request, runner, outcome, since=started - MTIME_SLACK_S,
                   tree=placement.tree if placement else workspace)
    except BaseException as exc:
        record.status = "error"
        record.noted = True  # a run that never started has no summary to note
        record.duration_s = round(time.time() - started, 3)
        record.message = str(exc) or type(exc).__name__
        save_record(workspace, record)
        raise
    _finish(workspace, record, cleanup, mlflow_uri)
    return record


def _finish(workspace: Path, record: RunRecord, cleanup: list[str], mlflow_uri: str | None) -> None:
    """Keep the ended run: its outputs, record, git note and, with `mlflow_uri`, its MLflow run."""
    record.warnings += cleanup
    if record.isolated:
        record.outputs = kept_outputs(workspace, record.id)
    save_record(workspace, record)
    note_run(workspace, record)
    if mlflow_uri:
        from ..history.tracking import track_run  # MLflow only for those who track there

        warning = track_run(workspace, record, mlflow_uri)
        if warning:
            record.warnings.append(warning)
            save_record(workspace, record)


def _start_record(workspace: Path, run_id: str, request: RunRequest, runner: Runner, *,
                  primary_metric: str | None, direction: Direction | None, hypothesis: str | None,
                  baseline: bool, slot: SlotUse | None, search_node: str | None) -> RunRecord:
    """The record of a run about to start: its owner, what it runs, the slot it holds (its
    code is `_take_source`'s)."""
    host, pid = run_owner()
    return RunRecord(
        id=run_id,
        command=request.command_text(),
        runner=runner.name,
        image=runner.planned_image(request),
        started_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        primary_metric=primary_metric,
        direction=direction,
        log_path=f".mlr/logs/{run_id}.log",
        hypothesis=hypothesis,
        baseline=baseline,
        search_node=search_node,
        owner_host=host,
        owner_pid=pid,
        owner_started=start_ticks(pid),
        slot=slot.index if slot else None,
        gpu_ids=list(slot.gpu_ids) if slot else None,
        queue_wait_s=round(slot.wait_s, 3) if slot else None,
    )


def _take_source(record: RunRecord, code: Source) -> None:
    record.commit, record.branch, record.dirty = code.commit, code.branch, code.dirty
    record.uncommitted, record.snapshot_ref, record.snapshot_of = code.uncommitted, code.snapshot_ref, code.snapshot_of
    record.noted = code.commit is None


def _judge(workspace: Path, record: RunRecord, request: RunRequest, runner: Runner, outcome: RunOutcome, *,
           since: float, tree: Path) -> None:
    """Fill `record` from the run's outcome, its log and its results file (in `tree`, where
    it ran)."""
    primary_metric = record.primary_metric
    log_text = read_tail(outcome.log_path)
    metrics, problems = collect_metrics(tree, request.results_file, outcome.log_metrics, since=since)
    failures = diagnose(outcome, log_text, tree, request, metrics, primary_metric)
    record.status = _final_status(outcome, {f.kind for f in failures}, metrics, primary_metric)
    record.exit_code = outcome.exit_code
    record.duration_s = round(outcome.duration_s, 3)
    record.peak_memory_mb = outcome.peak_memory_mb
    record.metrics = metrics
    record.failures = failures
    record.image = outcome.image or record.image
    record.warnings = outcome.warnings
    record.environment = _environment(runner, request, outcome, record.warnings)
    record.message = "; ".join([outcome.message, *problems]) if problems else outcome.message


def _environment(runner: Runner, request: RunRequest, outcome: RunOutcome, warnings: list[str]) -> RunEnvironment | None:
    """What the run ran on; reading it never fails the run, it only costs the record that part."""
    from .provenance import capture

    try:
        return capture(runner, request, outcome.image, node=outcome.node)
    except Exception as exc:  # the engine went away, a probe timed out or printed nonsense
        log.warning("could not record the environment of the run: %s", exc)
        warnings.append(f"the environment of this run could not be recorded: {str(exc)[:300]}")
        return None


def note_run(workspace: Path | str, record: RunRecord) -> None:
    """Append the finished run's summary to its commit's note, then mark the record noted.
    Runs that end at once all update the one notes ref, and git lets only one of them do it at
    a time: those of this process take turns, another process's is tried again."""
    if not record.commit:
        return
    for attempt in range(NOTE_ATTEMPTS):
        with _NOTES_LOCK:
            if append_note(workspace, record.commit, note_line(record)):
                record.noted = True
                save_record(workspace, record)
                return
        time.sleep(0.05 * (attempt + 1))


def mark_interrupted(workspace: Path | str, *, containers: bool = True) -> list[RunRecord]:
    """Close the records of runs whose owner process is gone (a server or CLI killed mid-run):
    their processes are stopped (each runner reaps what its record names: the local tree, the
    container) and they become "interrupted". Every entry point calls this before it starts new
    work, so an orphaned experiment never runs beside a new one. Runs of live processes, such as
    a concurrent `mlr-copilot run` or another editor's server, are left alone. What dead owners
    left on each runner's engine is swept too (containers, whichever workspace they ran for);
    with `containers=False` (a caller that runs locally) only by the runners of the closed
    runs, since asking an engine costs a local run more than the run itself. Then the
    worktrees whose owner is gone are removed (`worktrees.prune`)."""
    closed, unnoted = _orphaned_runs(workspace)
    for record in closed:
        runner_class(record.runner).reap(record)
        host = f" (pid {record.owner_pid} on {record.owner_host})" if record.owner_pid else ""
        record.status = "interrupted"
        record.message = f"the process running it{host} stopped before the run ended; its processes were stopped"
        record.noted = record.commit is None
        save_record(workspace, record)
    for record in closed + unnoted:
        note_run(workspace, record)
    swept = NAMES if containers else {record.runner for record in closed}
    for name in NAMES:
        if name in swept:
            runner_class(name).sweep()
    # their processes are stopped: the worktrees they ran in can go
    for run_id in prune(workspace):
        log.info("removed the worktree run %s left behind", run_id)
    return closed


def _orphaned_runs(workspace: Path | str) -> tuple[list[RunRecord], list[RunRecord]]:
    """The records a dead owner left: still "running", and finished without their git note.
    A record is workspace content: one whose id is not its file's safe name is skipped, since
    the id names the run's cgroup and marker."""
    runs_dir = StateDir(workspace).root / "runs"
    running: list[RunRecord] = []
    unnoted: list[RunRecord] = []
    for path in sorted(runs_dir.glob("*.json")) if runs_dir.is_dir() else []:
        try:
            raw = path.read_bytes()
            # every command start reads them all: most are finished and noted, and say so
            # without being parsed
            if b'"running"' not in raw and b'"noted": false' not in raw:
                continue
            record = RunRecord.model_validate_json(raw)
        except (OSError, ValueError):
            log.warning("skipping unreadable run record %s", path)
            continue
        if record.id != path.stem or not SAFE_RUN_ID.fullmatch(record.id):
            log.warning("skipping run record %s: its id %r is not its file's name", path, record.id)
            continue
        if (record.status == "running" or not record.noted) and not owner_alive(
                record.owner_host, record.owner_pid, record.owner_started):
            (running if record.status == "running" else unnoted).append(record)
    return running, unnoted

