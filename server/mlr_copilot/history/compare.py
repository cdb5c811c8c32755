"""Two runs side by side: every metric either reported with its change, the settings they ran
with, and the code diff between their commits (`workspace/diffs.py`: no program the repository
names runs and no secrets file's content is shown).

Plain records (`plain.py`), made without pydantic or GitPython (the run records read by
`RunSummary` and `RunSetup`, the diff taken by one `git diff`), so `compare` starts within its
120 ms (bench/bench_startup.py); the editor (lsp/results.to_json) and a search node's
comparison (`search_tree.NodeComparison`) send them as objects."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import MlrError
from ..objective import Objective
from ..plain import EMPTY_LIST, jsonable, pydantic_schema
from ..runners.envsummary import (
    EnvironmentChange,
    RunSetup,
    environment_diff,
    read_setup,
)
from ..runners.summary import RunSummary, read_summary, record_file
from ..untrusted import one_line

# What a run was set to run with, in the order shown: a researcher changes these to change the
# run. What it ran on (Python, packages, image id, GPUs) is its `environment`; the rest of the
# record (status, branch, when, how long) is what happened, compared as `facts`, never as
# settings (a comparison listed duration_s as a setting that differed).
COMPARED_SETTINGS = ("command", "runner", "image")
RUN_FACTS = ("status", "branch", "hypothesis", "dirty", "started_at", "duration_s")
# A diff longer than this is cut (with a note): the terminal is no place for a dataset's diff.
MAX_DIFF_LINES = 2000


class ComparedRun(NamedTuple):
    """A run record as `compare` reads it: its summary, and the rest it shows."""

    summary: RunSummary
    setup: RunSetup

    def value(self, name: str) -> str | float | bool | None:
        """A setting or fact (`COMPARED_SETTINGS`, `RUN_FACTS`), from whichever part holds it."""
        value: str | float | bool | None = getattr(self.setup if name in self.setup._fields else self.summary, name)
        return value


def read_run(workspace: Path | str, run_id: str) -> ComparedRun:
    """Run `run_id`'s record; MlrError for an unknown run or a record that cannot be read (a
    file cut short, a field of the wrong type), in one line."""
    path = record_file(workspace, run_id)
    try:
        data = path.read_bytes()
        return ComparedRun(read_summary(data), read_setup(data))
    except (OSError, ValueError) as exc:
        raise MlrError(f"the record of run '{run_id}' ({path}) cannot be read: {one_line(exc)}") from None


class MetricChange(NamedTuple):
    name: str
    a: float | None
    b: float | None
    # b - a; and the change relative to a, positive meaning better for the metric's direction
    delta: float | None
    relative: float | None


class SettingPair(NamedTuple):
    name: str
    a: str | float | bool | None
    b: str | float | bool | None
    same: bool


class RunComparison(NamedTuple):
    run_a: str
    run_b: str
    commit_a: str | None
    commit_b: str | None
    metrics: list[MetricChange]
    settings: list[SettingPair]
    # what the records tell of each run besides: status, branch, hypothesis, start, duration
    facts: list[SettingPair] = EMPTY_LIST
    # where what ran differs: Python, packages, image, node, GPUs (`environment_diff`)
    environment: list[EnvironmentChange] = EMPTY_LIST
    environment_recorded: bool = False
    diff: str = ""
    # Secrets files that differ between the commits: named, their content not shown.
    secret_files: list[str] = EMPTY_LIST
    # Why there is no diff, or what about it to know (cut, uncommitted changes).
    diff_notes: list[str] = EMPTY_LIST

    # a search node's comparison (`search_tree.NodeComparison`) sends it as an object, not an array
    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        return pydantic_schema(source, handler)

    def to_json(self) -> str:
        """The JSON this was when it was a pydantic model: NaN and infinities as the JSON
        constants, as the run records keep them, and 1e-05 as `0.00001` (`_float`)."""
        return _json(jsonable(self))

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


def _json(value: object, indent: str = "") -> str:
    """`value` (JSON data) as JSON indented by two spaces."""
    inner = indent + "  "
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, list):
        return "[\n" + ",\n".join(inner + _json(item, inner) for item in value) + f"\n{indent}]" if value else "[]"
    if isinstance(value, dict):
        items = (f"{inner}{json.dumps(key, ensure_ascii=False)}: {_json(item, inner)}" for key, item in value.items())
        return "{\n" + ",\n".join(items) + f"\n{indent}}}" if value else "{}"
    return json.dumps(value, ensure_ascii=False)


def _float(value: float) -> str:
    """Python's shortest repr, written as pydantic (Rust's ryu) writes it: `0.00001` for
    1e-05, `1e-7` for 1e-07 (a script reading `compare --json` sees the same text)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    text = repr(value)
    mantissa, small, exponent = text.partition("e-")
    if not small:
        return text
    if exponent == "05":
        sign, digits = ("-", mantissa[1:]) if mantissa.startswith("-") else ("", mantissa)
        return f"{sign}0.0000{digits.replace('.', '')}"
    return f"{mantissa}e-{int(exponent)}"


def metric_changes(a: RunSummary, b: RunSummary) -> list[MetricChange]:
    """Every metric either run reported, the primary one first."""
    names = list(dict.fromkeys([n for n in (a.primary_metric, b.primary_metric) if n] + [*a.metrics, *b.metrics]))
    changes = []
    for name in names:
        x, y = a.metrics.get(name), b.metrics.get(name)
        objective = Objective.of(name, a.direction if name == a.primary_metric else None)
        delta = y - x if x is not None and y is not None and math.isfinite(x) and math.isfinite(y) else None
        changes.append(MetricChange(name=name, a=x, b=y, delta=delta, relative=objective.delta(y, x)))
    return changes


def _pairs(a: ComparedRun, b: ComparedRun, names: tuple[str, ...]) -> list[SettingPair]:
    pairs = []
    for name in names:
        x, y = a.value(name), b.value(name)
        pairs.append(SettingPair(name=name, a=x, b=y, same=x == y))
    return pairs


def compare_runs(workspace: Path | str, a: ComparedRun, b: ComparedRun) -> RunComparison:
    from ..workspace.diffs import diff_between

    notes = [f"run {r.summary.id} ran on uncommitted changes: the diff is of its commit, not of what ran"
             for r in (a, b) if r.summary.dirty]
    old, new = a.summary.commit, b.summary.commit
    diff = ""
    secret_files: list[str] = []
    if not old or not new:
        notes.append("no code diff: " + ", ".join(f"run {r.summary.id} has no commit" for r in (a, b) if not r.summary.commit))
    elif old == new:
        notes.append("same commit: no code difference")
    else:
        try:
            patch, secret_files = diff_between(workspace, old, new)
        except MlrError as exc:
            notes.append(f"no code diff: {exc}")
        else:
            lines = patch.splitlines()
            if len(lines) > MAX_DIFF_LINES:
                notes.append(f"diff cut at {MAX_DIFF_LINES} of {len(lines)} lines; see git diff {old[:12]} {new[:12]}")
            diff = "\n".join(lines[:MAX_DIFF_LINES])
    env_a, env_b = a.setup.environment, b.setup.environment
    return RunComparison(run_a=a.summary.id, run_b=b.summary.id, commit_a=old, commit_b=new,
                         metrics=metric_changes(a.summary, b.summary), settings=_pairs(a, b, COMPARED_SETTINGS),
                         facts=_pairs(a, b, RUN_FACTS), environment=environment_diff(env_a, env_b),
                         environment_recorded=env_a is not None and env_b is not None,
                         diff=diff, secret_files=secret_files, diff_notes=notes)
