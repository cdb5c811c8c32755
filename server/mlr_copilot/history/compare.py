"""Two runs side by side: every metric either reported with its change, the settings they ran
with, and the code diff between their commits (through `GitWorkspace`, so no program the
repository names runs and no secrets file's content is shown)."""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ..objective import Objective
from ..runners.model import EnvironmentChange, RunRecord, environment_diff
from ..untrusted import one_line

# What a run was set to run with, in the order shown: a researcher changes these to change the
# run. What it ran on (Python, packages, image id, GPUs) is its `environment`; the rest of the
# record (status, branch, when, how long) is what happened, compared as `facts`, never as
# settings (a comparison listed duration_s as a setting that differed).
COMPARED_SETTINGS = ("command", "runner", "image")
RUN_FACTS = ("status", "branch", "hypothesis", "dirty", "started_at", "duration_s")
# A diff longer than this is cut (with a note): the terminal is no place for a dataset's diff.
MAX_DIFF_LINES = 2000


class MetricChange(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="constants")

    name: str
    a: float | None
    b: float | None
    # b - a; and the change relative to a, positive meaning better for the metric's direction
    delta: float | None
    relative: float | None


class SettingPair(BaseModel):
    name: str
    a: str | float | bool | None
    b: str | float | bool | None
    same: bool


class RunComparison(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="constants")

    run_a: str
    run_b: str
    commit_a: str | None
    commit_b: str | None
    metrics: list[MetricChange]
    settings: list[SettingPair]
    # what the records tell of each run besides: status, branch, hypothesis, start, duration
    facts: list[SettingPair] = []
    # where what ran differs: Python, packages, image, node, GPUs (`environment_diff`)
    environment: list[EnvironmentChange] = []
    environment_recorded: bool = False
    diff: str = ""
    # Secrets files that differ between the commits: named, their content not shown.
    secret_files: list[str] = []
    # Why there is no diff, or what about it to know (cut, uncommitted changes).
    diff_notes: list[str] = []

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def render_text(self) -> str:
        lines = [f"run A {self.run_a} at {(self.commit_a or 'no commit')[:12]}",
                 f"run B {self.run_b} at {(self.commit_b or 'no commit')[:12]}", "", "metrics (B - A):"]
        for m in self.metrics:
            relative = "" if m.relative is None else f" ({m.relative * 100:+.1f}% {'better' if m.relative > 0 else 'worse' if m.relative < 0 else 'same'})"
            lines.append(f"  {one_line(m.name)}: {_number(m.a)} -> {_number(m.b)}"
                         + ("" if m.delta is None else f", {m.delta:+.6g}{relative}"))
        if not self.metrics:
            lines.append("  neither run reported a metric")
        lines += ["", "settings:"]
        for s in self.settings:
            shown = _setting(s.a) if s.same else f"{_setting(s.a)} | {_setting(s.b)}"
            lines.append(f"  {s.name}: {'(same) ' if s.same else ''}{shown}")
        lines += ["", "runs:"]
        lines += [f"  {f.name}: {_setting(f.a)} | {_setting(f.b)}" for f in self.facts]
        lines += ["", "environment:"]
        lines += [f"  {one_line(c.what)}: {_setting(c.a)} | {_setting(c.b)}" for c in self.environment]
        if not self.environment:
            lines.append("  (same)" if self.environment_recorded else "  not recorded for these runs")
        lines += ["", "code diff (A -> B):"]
        lines += [f"  {one_line(note)}" for note in self.diff_notes]
        if self.secret_files:
            lines.append(f"  secrets files changed, content not shown: {', '.join(one_line(p) for p in self.secret_files)}")
        return "\n".join(lines) + ("\n" + self.diff.rstrip("\n") if self.diff else "")


def _setting(value: object) -> str:
    return "-" if value is None else one_line(value)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def metric_changes(a: RunRecord, b: RunRecord) -> list[MetricChange]:
    """Every metric either run reported, the primary one first."""
    names = list(dict.fromkeys([n for n in (a.primary_metric, b.primary_metric) if n] + [*a.metrics, *b.metrics]))
    changes = []
    for name in names:
        x, y = a.metrics.get(name), b.metrics.get(name)
        objective = Objective.of(name, a.direction if name == a.primary_metric else None)
        delta = y - x if x is not None and y is not None and math.isfinite(x) and math.isfinite(y) else None
        changes.append(MetricChange(name=name, a=x, b=y, delta=delta, relative=objective.delta(y, x)))
    return changes


def _pairs(a: RunRecord, b: RunRecord, names: tuple[str, ...]) -> list[SettingPair]:
    pairs = []
    for name in names:
        x, y = getattr(a, name), getattr(b, name)
        pairs.append(SettingPair(name=name, a=x, b=y, same=x == y))
    return pairs


def compare_runs(workspace: Path | str, a: RunRecord, b: RunRecord) -> RunComparison:
    from ..errors import MlrError
    from ..workspace.git import GitWorkspace

    comparison = RunComparison(run_a=a.id, run_b=b.id, commit_a=a.commit, commit_b=b.commit,
                               metrics=metric_changes(a, b), settings=_pairs(a, b, COMPARED_SETTINGS),
                               facts=_pairs(a, b, RUN_FACTS),
                               environment=environment_diff(a.environment, b.environment),
                               environment_recorded=a.environment is not None and b.environment is not None)
    notes = [f"run {r.id} ran on uncommitted changes: the diff is of its commit, not of what ran"
             for r in (a, b) if r.dirty]
    if not a.commit or not b.commit:
        notes.append("no code diff: " + ", ".join(f"run {r.id} has no commit" for r in (a, b) if not r.commit))
    elif a.commit == b.commit:
        notes.append("same commit: no code difference")
    else:
        try:
            patch, comparison.secret_files = GitWorkspace(workspace).diff_between(a.commit, b.commit)
        except MlrError as exc:
            notes.append(f"no code diff: {exc}")
        else:
            lines = patch.splitlines()
            if len(lines) > MAX_DIFF_LINES:
                notes.append(f"diff cut at {MAX_DIFF_LINES} of {len(lines)} lines; see git diff {a.commit[:12]} {b.commit[:12]}")
            comparison.diff = "\n".join(lines[:MAX_DIFF_LINES])
    comparison.diff_notes = notes
    return comparison
