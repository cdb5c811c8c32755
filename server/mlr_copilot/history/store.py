"""Run records on disk and the history table: commit by commit along a branch, the primary
metric of each run and its change against the baseline run, positive meaning better.

The table is plain records (`plain.py`) built from `RunSummary`s (runners/summary.py), so `history`
starts without pydantic (tests/cli/test_startup_imports.py); `HistoryModel` is the same table
as a model, for the editor (`Engine.history`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..objective import Direction, Objective, guess_direction
from ..plain import EMPTY_DICT, EMPTY_LIST, jsonable, pydantic_schema
from ..runners.summary import RunStatus, RunSummary, load_summaries, read_run_files
from ..workspace.commits import (
    BRANCH_PREFIX,
    Branches,
    CommitInfo,
    base_branch,
    branch_histories,
    commits_since_base,
    head_info,
    list_branches,
)
from ..workspace.refs import branch_ref, commit_of

if TYPE_CHECKING:
    from ..runners.model import RunRecord


def load_runs(workspace: Path | str) -> list[RunRecord]:
    """Every readable run record of the workspace, oldest first; unreadable files are logged
    and skipped, never deleted."""
    from ..runners.model import RunRecord  # the whole record: not on the path of `history`

    return read_run_files(workspace, RunRecord.model_validate_json)


class HistoryRow(NamedTuple):
    commit: str | None
    short: str | None
    subject: str = ""
    hypothesis: str | None = None
    run_id: str | None = None
    status: RunStatus | None = None
    value: float | None = None
    delta: float | None = None
    baseline: bool = False
    dirty: bool = False
    # Where the run's output went, relative to the workspace (what the editor opens).
    log_path: str | None = None
    # The branch the commit is listed under (None: a run whose commit is on no listed branch).
    branch: str | None = None
    # Every metric the run reported, not only the one `value` holds.
    metrics: dict[str, float] = EMPTY_DICT
    runner: str | None = None
    # The machine that ran it (its recorded environment), None for a run recorded before that.
    node: str | None = None
    started_at: str | None = None
    duration_s: float | None = None


class HistoryTable(NamedTuple):
    # The one branch shown; None when the table holds several (see `branches`).
    branch: str | None
    metric: str | None
    direction: Direction | None
    baseline_run: str | None
    baseline_value: float | None
    rows: list[HistoryRow]
    branches: list[str] = EMPTY_LIST
    # Every metric name the rows report, the primary one first.
    metrics: list[str] = EMPTY_LIST

    # the editor's table (`model.HistoryModel`) is sent as objects, not arrays
    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        return pydantic_schema(source, handler)

    def to_json(self) -> str:
        """NaN and infinities as the JSON constants, as the run records keep them."""
        return json.dumps(jsonable(self), indent=2, ensure_ascii=False)

    def render_text(self, *, width: int = 120) -> str:
        from .render import render_text

        return render_text(self, width=width)


def _pick_metric(runs: list[RunSummary], metric: str | None) -> str | None:
    """The setting's metric, else the baseline's primary one, else the most common primary
    one, else (no primary metric anywhere) the metric most runs report, so a run that only
    printed `METRIC accuracy=0.875` still has a value."""
    if metric:
        return metric
    for record in runs:
        if record.baseline and record.primary_metric:
            return record.primary_metric
    counts: dict[str, int] = {}
    for record in runs:
        if record.primary_metric:
            counts[record.primary_metric] = counts.get(record.primary_metric, 0) + 1
    if not counts:
        for record in runs:
            for name in record.metrics:
                counts[name] = counts.get(name, 0) + 1
    # ties go to the name seen first (dicts keep insertion order, max keeps the first maximum)
    return max(counts, key=counts.__getitem__) if counts else None


def _usable(record: RunSummary, metric: str | None) -> bool:
    if record.status != "passed" or metric is None:
        return False
    value = record.metrics.get(metric)
    return value is not None and math.isfinite(value)


def _pick_baseline(segments: list[list[CommitInfo]], by_commit: dict[str | None, list[RunSummary]],
                   metric: str | None) -> RunSummary | None:
    """The newest usable run flagged as baseline, else the oldest usable run of the first
    segment (the base branch) that has one."""
    flagged = [r for commits in segments for c in commits for r in by_commit.get(c.sha, []) if r.baseline and _usable(r, metric)]
    if flagged:
        return max(flagged, key=lambda r: r.started_at)
    for commits in segments:
        for commit in reversed(commits):  # oldest first
            for record in by_commit.get(commit.sha, []):
                if _usable(record, metric):
                    return record
    return None


def _listed_branches(listed: Branches, base: str | None, current: str | None) -> list[str]:
    """The base branch, the current one, then every hypothesis branch (`mlr/*`), like
    `dvc exp show` lists the workspace's experiments beside its baseline."""
    names = [base, current]
    names += [name for name in listed.heads if name.startswith(BRANCH_PREFIX)]
    return list(dict.fromkeys(name for name in names if name))


def _segments(workspace: Path | str, listed: Branches, base: str | None, tips: list[tuple[str | None, str | None, str]],
              all_branches: bool) -> list[tuple[str | None, list[CommitInfo]]]:
    """(branch, its commits newest first) of each of `tips` (name, ref: None for HEAD, commit)
    against the `base` branch; with `all_branches`, each commit once, under the first branch
    that holds it. One `git log` reads them all; a tip it does not settle is asked on its own
    (`branch_histories`)."""
    found = branch_histories(workspace, [sha for _, _, sha in tips], listed.heads.get(base) if base else None)
    seen: set[str] = set()
    segments: list[tuple[str | None, list[CommitInfo]]] = []
    for (branch, ref, _), commits in zip(tips, found):
        if commits is None:
            commits = commits_since_base(workspace, ref, base)
        if all_branches:
            commits = [c for c in commits if c.sha not in seen]
            seen.update(c.sha for c in commits)
        segments.append((branch, commits))
    return segments


class _Measure(NamedTuple):
    """How each run's row is measured: its value of `metric` and the change from the baseline's."""

    metric: str | None
    baseline: RunSummary | None
    objective: Objective

    def row(self, commit: CommitInfo, branch: str | None, record: RunSummary) -> HistoryRow:
        value = record.metrics.get(self.metric) if self.metric else None
        base = self.baseline.metrics[self.metric] if self.baseline is not None and self.metric else None
        return HistoryRow(
            commit=commit.sha or None, short=commit.short or None, subject=commit.subject,
            hypothesis=commit.hypothesis or record.hypothesis, run_id=record.id, status=record.status, value=value,
            delta=self.objective.delta(value, base) if self.baseline is not record else 0.0,
            baseline=self.baseline is record, dirty=record.dirty, log_path=record.log_path, branch=branch,
            metrics=record.metrics, runner=record.runner, node=record.environment.node if record.environment else None,
            started_at=record.started_at, duration_s=record.duration_s,
        )


def _newest_first(records: list[RunSummary]) -> list[RunSummary]:
    return sorted(records, key=lambda r: (r.started_at, r.id), reverse=True)


def _rows(segments: list[tuple[str | None, list[CommitInfo]]], by_commit: dict[str | None, list[RunSummary]],
          strays: list[RunSummary], measure: _Measure) -> list[HistoryRow]:
    rows = []
    for position, (name, commits) in enumerate(segments):
        for at, commit in enumerate(commits):
            records = _newest_first(by_commit.get(commit.sha, []))
            # the base branch's whole past without runs would bury the experiments
            quiet = len(segments) > 1 and position == 0 and at > 0
            if not records and commit.sha and not quiet:
                rows.append(HistoryRow(commit=commit.sha, short=commit.short, subject=commit.subject,
                                       hypothesis=commit.hypothesis, branch=name))
            rows += [measure.row(commit, name, record) for record in records]
    for record in _newest_first(strays):
        commit = CommitInfo(sha=record.commit or "", short=(record.commit or "")[:7], subject="")
        rows.append(measure.row(commit, None, record))
    return rows


def _direction(walked: list[RunSummary], metric: str | None, direction: Direction | None) -> Direction | None:
    """The direction asked for, else the one the metric's runs were made with, else a guess."""
    if direction is None and metric is not None:
        direction = next((r.direction for r in walked if r.primary_metric == metric and r.direction), None)
        direction = direction or guess_direction(metric)
    return direction


def _head(workspace: Path | str, listed: Branches | None) -> tuple[str, str | None] | None:
    """(HEAD's commit, its branch or None when detached), None without a commit. The branch
    list says where HEAD is when a branch is checked out; only a detached or unborn HEAD is
    asked of `git status`."""
    if listed is None:
        return None
    if listed.current is not None:
        return listed.heads[listed.current], listed.current
    head = head_info(workspace)
    return (head.commit, head.branch) if head is not None else None


def _tips(workspace: Path | str, listed: Branches, base: str | None, head: tuple[str, str | None],
          branch: str | None, ref: str | None, all_branches: bool) -> list[tuple[str | None, str | None, str]]:
    """(name, ref, commit) of each branch to show: `branch`, else the current one, else with
    `all_branches` the base branch, the current one and every hypothesis branch."""
    if branch is not None and ref is not None:
        local = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
        sha = listed.heads.get(local) if local else None
        # a remote-tracking branch is not in the list: its commit is asked of git
        return [(branch, ref, sha or commit_of(workspace, ref))]
    if not all_branches:
        return [(head[1], None, head[0])]
    names = _listed_branches(listed, base, head[1])
    return [(name, f"refs/heads/{name}", listed.heads[name]) for name in names]


def history(
    workspace: Path | str,
    branch: str | None = None,
    *,
    all_branches: bool = False,
    metric: str | None = None,
    direction: Direction | None = None,
) -> HistoryTable:
    """The runs along `branch` (default: the current branch), newest commit first; with
    `all_branches`, those of the base branch, the current one and every hypothesis branch,
    then the runs whose commit is on none of them. BadRefError when `branch` is not an
    existing local branch."""
    ref = branch_ref(workspace, branch) if branch is not None else None
    runs = load_summaries(workspace)
    refs = list_branches(workspace)
    head = _head(workspace, refs)
    by_commit: dict[str | None, list[RunSummary]] = {}
    if refs is None or head is None:
        segments: list[tuple[str | None, list[CommitInfo]]] = [(None, [CommitInfo(sha="", short="", subject="")])]
        by_commit[""] = runs
    else:
        base = base_branch(workspace, refs)
        segments = _segments(workspace, refs, base, _tips(workspace, refs, base, head, branch, ref, all_branches),
                             all_branches and branch is None)
        for record in runs:
            # a run of uncommitted work shows under the commit it was made on, as before runs
            # were isolated (its record is marked dirty/uncommitted; its own commit is hidden)
            by_commit.setdefault(record.of_commit, []).append(record)
    listed = {c.sha for _, commits in segments for c in commits}
    strays = [r for r in runs if r.of_commit not in listed] if all_branches and branch is None and head else []
    walked = [r for _, commits in segments for c in commits for r in by_commit.get(c.sha, [])] + strays
    metric = _pick_metric(walked, metric)
    direction = _direction(walked, metric, direction)
    baseline = _pick_baseline([commits for _, commits in segments], by_commit, metric)
    rows = _rows(segments, by_commit, strays, _Measure(metric, baseline, Objective(metric or "", direction or "maximize")))
    names = list(dict.fromkeys(name for r in rows for name in r.metrics))
    return HistoryTable(
        branch=segments[0][0] if len(segments) == 1 else None,
        metric=metric,
        direction=direction,
        baseline_run=baseline.id if baseline else None,
        baseline_value=baseline.metrics[metric] if baseline is not None and metric else None,
        rows=rows,
        branches=[name for name, _ in segments if name],
        metrics=([metric] if metric else []) + [name for name in names if name != metric],
    )
