"""The autonomous session's record (`.mlr/auto/state.json`): the baseline, each hypothesis's
commits and runs, its best run and its delta against the baseline, saved after every phase so
`auto --resume` continues it; and the report made from it, where every number names the run
and commit it came from."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from ..errors import MlrError
from ..objective import Direction, Objective
from ..state import StateDir, read_json
from ..status import Spend
from ..untrusted import one_line

# a hypothesis succeeds when its best run beats the baseline by this share (the paper's criterion)
SUCCESS_THRESHOLD = 0.10


class RunRef(BaseModel):
    run: str
    commit: str | None
    status: str
    metric: str | None = None
    value: float | None = None
    # why a run that went wrong did: its diagnosed failures (the error's own message)
    why: str = ""


class HypothesisResult(BaseModel):
    id: str
    title: str
    branch: str
    status: Literal["pending", "implemented", "done", "skipped", "failed"] = "pending"
    commits: list[str] = Field(default_factory=list)
    runs: list[RunRef] = Field(default_factory=list)
    best: RunRef | None = None
    delta: float | None = None
    success: bool = False
    message: str = ""


class AutoState(BaseModel):
    paper: str | None
    # the hypotheses come from the workspace's task description, not from a paper
    from_task: bool = False
    wanted: int
    # the settings it was started with (see resume.RESUMABLE), taken back by --resume
    settings: dict[str, Any] = Field(default_factory=dict)
    # ISO 8601, UTC, as run records write it: only the session's own runs are taken back
    started_at: str | None = None
    # the process running it (as in run records): a second session never runs beside it
    owner_host: str | None = None
    owner_pid: int | None = None
    owner_started: int | None = None
    base_branch: str | None = None
    base_commit: str | None = None
    metric: str | None = None
    direction: Direction | None = None
    baseline: RunRef | None = None
    ideas_done: bool = False
    hypotheses: list[HypothesisResult] = Field(default_factory=list)
    status: Literal["running", "done", "budget", "failed", "stopped", "cancelled"] = "running"
    message: str = ""
    # wall time per phase: while several hypotheses are in one at once, counted once
    phase_seconds: dict[str, float] = Field(default_factory=dict)
    usage: Spend = Field(default_factory=Spend)

    @property
    def objective(self) -> Objective | None:
        return Objective(self.metric, self.direction or "maximize") if self.metric else None

    def score(self, result: HypothesisResult) -> None:
        """The hypothesis's best passed run on the session's metric, and its delta against the
        baseline; success when that beats the baseline by `SUCCESS_THRESHOLD`."""
        objective = self.objective
        passed = [r for r in result.runs if r.status == "passed" and r.metric == self.metric and r.value is not None]
        if not passed or self.baseline is None or objective is None:
            return
        result.best = objective.best(passed, lambda r: r.value)
        result.delta = objective.delta(result.best.value if result.best else None, self.baseline.value)
        result.success = result.delta is not None and result.delta >= SUCCESS_THRESHOLD


def new_session(paper: str | None, from_task: bool, wanted: int, settings: dict[str, Any],
                objective: Objective) -> AutoState:
    return AutoState(paper=paper, from_task=from_task, wanted=wanted, settings=settings, metric=objective.metric,
                     direction=objective.direction,
                     started_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"))


def session_path(workspace: Path | str) -> Path:
    return StateDir(workspace).root / "auto" / "state.json"


def load_session(workspace: Path | str) -> AutoState | None:
    """The saved session of the workspace; an unreadable one is a clear error, never a guess."""
    path = session_path(workspace)
    try:
        data = read_json(path)
        return AutoState.model_validate(data) if data else None
    except (ValueError, ValidationError) as exc:
        raise MlrError(f"the saved session {path} cannot be read ({str(exc).splitlines()[0]}); "
                       "move it away to start a new session") from None


def render_report(state: AutoState) -> str:
    lines: list[str] = []
    base = state.baseline
    metric = state.metric or "metric"
    if base:
        lines.append(f"Baseline: {metric} = {base.value:.4g} (run {base.run} at {(base.commit or '?')[:8]})"
                     if base.value is not None else f"Baseline: run {base.run} {base.status}")
    for h in state.hypotheses:
        lines.append(f"{h.id} [{h.status}] {h.title} (branch {h.branch})")
        if h.commits:
            lines.append("  commits: " + ", ".join(c[:8] for c in h.commits))
        for r in h.runs:
            value = f"{r.metric}={r.value:.4g}" if r.value is not None else f"did not report {r.metric or metric}"
            lines.append(f"  run {r.run} at {(r.commit or '?')[:8]}: {r.status}, {value}" + (f" ({one_line(r.why)})" if r.why else ""))
        if h.best:
            delta = f"{h.delta:+.1%}" if h.delta is not None else "n/a"
            verdict = "beats the baseline by at least 10%" if h.success else "does not beat the baseline by 10%"
            lines.append(f"  best: {metric}={h.best.value:.4g} (run {h.best.run} at {(h.best.commit or '?')[:8]}), {delta} vs baseline: {verdict}")
        elif h.message:
            lines.append(f"  {h.message}")
    left = ([] if base else ["the baseline run"]) + (
        [] if state.ideas_done else ["proposing hypotheses, and so implementing and running them"]) + [
        f"{h.id} {'implementation and runs' if h.status == 'pending' else 'runs'}"
        for h in state.hypotheses if h.status in ("pending", "implemented")]
    if left:
        lines.append("Not done: " + "; ".join(left))
    usage = state.usage
    cost = usage.cost_usd
    lines.append(f"Status: {state.status}" + (f" ({state.message})" if state.message else ""))
    lines.append(f"LLM: {usage.input_tokens} input + {usage.output_tokens} output tokens"
                 + (f", ${cost:.4f}" if cost else ""))
    if state.phase_seconds:
        lines.append("Wall time: " + ", ".join(f"{k} {v:.1f}s" for k, v in state.phase_seconds.items()))
    return "\n".join(lines)
