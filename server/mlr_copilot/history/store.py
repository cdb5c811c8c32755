"""Run records on disk and the history table: commit by commit along a branch, the primary
metric of each run and its change against the baseline run, positive meaning better."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from ..runners.model import Direction, RunRecord, RunStatus
from ..state import StateDir
from ..workspace.refs import branch_ref
from .gitnotes import CommitInfo, branch_commits, head_info

log = logging.getLogger(__name__)

LOWER_IS_BETTER = ("loss", "error", "err", "perplexity", "ppl", "mse", "mae", "rmse", "wer", "cer", "time", "latency")


def load_runs(workspace: Path | str) -> list[RunRecord]:
    """Every readable run record of the workspace, oldest first; unreadable files are logged
    and skipped, never deleted."""
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
                    records.append(RunRecord.model_validate_json(handle.read()))
            except (OSError, ValidationError, ValueError) as exc:
                log.warning("skipping unreadable run record %s: %s", entry.path, exc)
    records.sort(key=lambda record: (record.started_at, record.id))
    return records


def guess_direction(metric: str) -> Direction:
    name = metric.lower()
    return "minimize" if any(word in name for word in LOWER_IS_BETTER) else "maximize"


def relative_delta(value: float | None, baseline: float | None, direction: Direction) -> float | None:
    """(value - baseline) / |baseline|, negated when lower is better: positive means better."""
    if value is None or baseline is None or not math.isfinite(value) or not math.isfinite(baseline) or baseline == 0:
        return None
    change = (value - baseline) / abs(baseline)
    return change if direction == "maximize" else -change


class HistoryRow(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="constants")

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


class HistoryTable(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="constants")

    branch: str | None
    metric: str | None
    direction: Direction | None
    baseline_run: str | None
    baseline_value: float | None
    rows: list[HistoryRow]

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def render_text(self, *, width: int = 120) -> str:
        metric = self.metric or "metric"
        arrow = {"maximize": " (higher is better)", "minimize": " (lower is better)"}.get(self.direction or "", "")
        header = ["commit", "run", "status", metric, "delta", "hypothesis / subject"]
        body = []
        for row in self.rows:
            value = "-" if row.value is None else f"{row.value:.6g}"
            if row.baseline:
                delta = "baseline"
            elif row.delta is None:
                delta = "-"
            else:
                delta = f"{row.delta * 100:+.1f}%"
            label = row.subject if not row.hypothesis else f"[{row.hypothesis}] {row.subject}"
            body.append(
                [
                    (row.short or "-") + ("*" if row.dirty else ""),
                    row.run_id or "-",
                    row.status or "no run",
                    value,
                    delta,
                    label,
                ]
            )
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header) - 1)]
        used = sum(widths) + 2 * (len(widths))
        last = max(20, width - used)
        title = f"branch {self.branch or '-'}; metric {metric}{arrow}"
        if self.baseline_run and self.baseline_value is not None:
            title += f"; baseline run {self.baseline_run} = {self.baseline_value:.6g}"
        else:
            title += "; no baseline yet (no passed run with this metric)"
        lines = [title]
        for line in [header, *body]:
            cells = [cell.ljust(widths[i]) for i, cell in enumerate(line[:-1])]
            text = line[-1]
            cells.append(text if len(text) <= last else text[: last - 1] + "…")
            lines.append("  ".join(cells).rstrip())
        if any(row.dirty for row in self.rows):
            lines.append("* run on uncommitted changes")
        return "\n".join(lines)


def _pick_metric(runs: list[RunRecord], metric: str | None) -> str | None:
    if metric:
        return metric
    for record in runs:
        if record.baseline and record.primary_metric:
            return record.primary_metric
    counts: dict[str, int] = {}
    for record in runs:
        if record.primary_metric:
            counts[record.primary_metric] = counts.get(record.primary_metric, 0) + 1
    return max(counts, key=counts.__getitem__) if counts else None


def _usable(record: RunRecord, metric: str | None) -> bool:
    if record.status != "passed" or metric is None:
        return False
    value = record.metrics.get(metric)
    return value is not None and math.isfinite(value)


def _pick_baseline(commits: list[CommitInfo], by_commit: dict[str | None, list[RunRecord]], metric: str | None) -> RunRecord | None:
    flagged = [r for c in commits for r in by_commit.get(c.sha, []) if r.baseline and _usable(r, metric)]
    if flagged:
        return max(flagged, key=lambda r: r.started_at)
    for commit in reversed(commits):  # oldest first
        for record in by_commit.get(commit.sha, []):
            if _usable(record, metric):
                return record
    return None


def history(
    workspace: Path | str,
    branch: str | None = None,
    *,
    metric: str | None = None,
    direction: Direction | None = None,
) -> HistoryTable:
    """The runs along `branch` (default: the current branch), newest commit first; BadRefError
    when `branch` is not an existing local branch."""
    ref = branch_ref(workspace, branch) if branch is not None else None
    runs = load_runs(workspace)
    head = head_info(workspace)
    if head is None:
        commits = [CommitInfo("", "", "", None)]
        by_commit: dict[str | None, list[RunRecord]] = {"": runs}
        branch_name = None
    else:
        commits = branch_commits(workspace, ref)
        by_commit = {}
        for record in runs:
            by_commit.setdefault(record.commit, []).append(record)
        branch_name = branch or head.branch
    walked = [r for c in commits for r in by_commit.get(c.sha, [])]
    metric = _pick_metric(walked, metric)
    if direction is None and metric is not None:
        direction = next((r.direction for r in walked if r.primary_metric == metric and r.direction), None)
        direction = direction or guess_direction(metric)
    baseline = _pick_baseline(commits, by_commit, metric)
    baseline_value = baseline.metrics[metric] if baseline is not None and metric else None
    rows = []
    for commit in commits:
        records = sorted(by_commit.get(commit.sha, []), key=lambda r: (r.started_at, r.id), reverse=True)
        if not records and commit.sha:
            rows.append(HistoryRow(commit=commit.sha, short=commit.short, subject=commit.subject, hypothesis=commit.hypothesis))
            continue
        for record in records:
            value = record.metrics.get(metric) if metric else None
            rows.append(
                HistoryRow(
                    commit=commit.sha or None,
                    short=commit.short or None,
                    subject=commit.subject,
                    hypothesis=commit.hypothesis or record.hypothesis,
                    run_id=record.id,
                    status=record.status,
                    value=value,
                    delta=relative_delta(value, baseline_value, direction or "maximize") if baseline is not record else 0.0,
                    baseline=baseline is record,
                    dirty=record.dirty,
                    log_path=record.log_path,
                )
            )
    return HistoryTable(
        branch=branch_name,
        metric=metric,
        direction=direction,
        baseline_run=baseline.id if baseline else None,
        baseline_value=baseline_value,
        rows=rows,
    )

