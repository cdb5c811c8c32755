"""A run record as the history reads it: the fields of `.mlr/runs/<id>.json` that the table
shows, read without pydantic (`plain.py`), so `history` starts within its 120 ms
(bench/bench_startup.py). `RunRecord` (runners/model.py) stays the record's definition: every
field here is one of its fields, of the same type (tests/history/test_history.py holds them
to it), and a file it would not read is skipped here as well."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal, NamedTuple, Protocol, TypeVar

from ..errors import MlrError
from ..objective import Direction
from ..plain import EMPTY_DICT, from_json
from ..state import StateDir
from .registry import record_name


class _Record(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def started_at(self) -> str: ...


T = TypeVar("T", bound=_Record)

# A run's id names its record, log and cgroup: a record read back from a cloned workspace's
# .mlr/ must not reach another folder or cgroup (`../..` would be the cgroup of every process).
RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$"
RunStatus = Literal["passed", "failed", "timeout", "oom", "cancelled", "interrupted", "error", "running"]


def of_commit(commit: str | None, uncommitted: bool, snapshot_of: str | None) -> str | None:
    """The commit a run is a run of: for a run of uncommitted work, the commit it was made on
    (its own `commit` is the hidden snapshot)."""
    return snapshot_of if uncommitted and snapshot_of else commit


class RunPlace(NamedTuple):
    """Of `RunEnvironment`: the machine that ran it."""

    node: str
    runner: str


class RunSummary(NamedTuple):
    id: str
    command: str
    runner: str
    started_at: str
    commit: str | None = None
    dirty: bool = False
    duration_s: float | None = None
    status: RunStatus = "running"
    metrics: dict[str, float] = EMPTY_DICT
    primary_metric: str | None = None
    direction: Direction | None = None
    log_path: str | None = None
    hypothesis: str | None = None
    baseline: bool = False
    environment: RunPlace | None = None
    uncommitted: bool = False
    snapshot_of: str | None = None

    @property
    def of_commit(self) -> str | None:
        return of_commit(self.commit, self.uncommitted, self.snapshot_of)


def read_summary(data: bytes) -> RunSummary:
    """A run record's file as its summary; ValueError for one `RunRecord`'s validators refuse,
    so a record it would skip is skipped here too."""
    summary = from_json(RunSummary, json.loads(data))
    if not re.fullmatch(RUN_ID_PATTERN, summary.id):
        raise ValueError(f"id: {summary.id!r} is not a run id")
    record_name(summary.runner)
    if summary.environment is not None:
        record_name(summary.environment.runner)
    return summary


def record_path(workspace: Path | str, run_id: str) -> Path:
    return StateDir(workspace).runs / f"{run_id}.json"


def record_file(workspace: Path | str, run_id: str) -> Path:
    """The record file of run `run_id`; MlrError for an id that names no run (a path such as
    `../x` from a cloned workspace's state or a user's argument included)."""
    if not isinstance(run_id, str) or not re.fullmatch(RUN_ID_PATTERN, run_id):
        raise MlrError(f"{run_id!r} is not a run id (such as 20240101-120000-a1b2c3)")
    path = record_path(workspace, run_id)
    if not path.is_file():
        raise MlrError(f"no run '{run_id}' in {path.parent}")
    return path


def load_summaries(workspace: Path | str) -> list[RunSummary]:
    """`read_run_files` as the history reads them."""
    return read_run_files(workspace, read_summary)


def read_run_files(workspace: Path | str, parse: Callable[[bytes], T]) -> list[T]:
    """Every run record of the workspace that `parse` reads, oldest first; unreadable files
    (`parse` raising ValueError) are logged and skipped, never deleted."""
    runs_dir = StateDir(workspace).root / "runs"
    if not runs_dir.is_dir():
        return []
    records = []
    with os.scandir(runs_dir) as entries:
        for entry in entries:
            if not entry.name.endswith(".json") or entry.name.startswith("."):
                continue
            try:
                with open(entry.path, "rb") as handle:
                    records.append(parse(handle.read()))
            except (OSError, ValueError) as exc:
                import logging  # only to say so: `history` starts without it (cli/logs.py)

                logging.getLogger(__name__).warning("skipping unreadable run record %s: %s", entry.path, exc)
    records.sort(key=lambda record: (record.started_at, record.id))
    return records
