"""The autonomous mode: every phase with every review accepted.

Baseline run, hypotheses from the paper (or the task description), then for each of the top
hypotheses: implement on its own branch from the baseline commit, run and debug up to the cap,
and keep its best run. Every number in the report names the commit and run it came from.
The state (`.mlr/auto/state.json`) is saved after each phase, so `--resume` continues an
interrupted session with the settings and paper it was started with; what it reports is
rebuilt from the run records and the branches (see `resume.py`), so a kill anywhere loses no
commit or run. The LLM budget stops it cleanly with a report of what was done; a cancellation
(Ctrl-C, SIGTERM, SIGHUP) stops the running experiment and leaves the session resumable.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from ..errors import MlrError
from ..experiment.change import Proposal, Review
from ..llm.base import BudgetExceededError
from ..objective import Objective
from ..state import StateDir, read_json, write_json
from ..untrusted import one_line
from ..work import Cancelled, Work
from .resume import recorded_baseline, recorded_work, resumable_settings, session_source

log = logging.getLogger(__name__)
SUCCESS_THRESHOLD = 0.10
# The session's progress scale, phase by phase in the order they run (`Work.phase`): each
# phase's own percentages fill its range, so the whole never goes back.
BASELINE, IDEAS, REFINE, HYPOTHESES = (0, 10), (10, 25), (25, 30), (30, 100)


def _share(span: tuple[int, int], number: int, count: int) -> tuple[int, int]:
    """The `number`th of `count` equal parts of `span`."""
    start, end = span
    return start + (end - start) * number // count, start + (end - start) * (number + 1) // count


Ask = Callable[[str, str], Awaitable[str]]


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
    settings: dict = Field(default_factory=dict)
    # ISO 8601, UTC, as run records write it: only the session's own runs are taken back
    started_at: str | None = None
    # the process running it (as in run records): a second session never runs beside it
    owner_host: str | None = None
    owner_pid: int | None = None
    owner_started: int | None = None
    base_branch: str | None = None
    base_commit: str | None = None
    metric: str | None = None
    direction: Literal["maximize", "minimize"] | None = None
    baseline: RunRef | None = None
    ideas_done: bool = False
    hypotheses: list[HypothesisResult] = Field(default_factory=list)
    status: Literal["running", "done", "budget", "failed", "stopped", "cancelled"] = "running"
    message: str = ""
    phase_seconds: dict[str, float] = Field(default_factory=dict)
    usage: dict = Field(default_factory=dict)


def relative_change(value: float | None, baseline: float | None, direction: str | None) -> float | None:
    if value is None or baseline is None or direction is None:
        return None
    return Objective("", "maximize" if direction == "maximize" else "minimize").delta(value, baseline)


def _ref(record, metric: str) -> RunRef:
    """The run as scored on the task's metric, whatever metric its hypothesis's plan named."""
    return RunRef(run=record.id, commit=record.commit, status=record.status, metric=metric,
                  value=record.metrics.get(metric), why=_failures(record))


def _failures(record) -> str:
    """The diagnosed failures of a run in a line, each at its file and line where known."""
    return "; ".join(f"{f.path}{f':{f.line}' if f.line else ''}: {f.message}" if f.path else f.message
                     for f in record.failures)


def task_metric(engine) -> tuple[str, str]:
    """The metric that decides success and its direction: the run.metric and run.direction
    settings (`auto --metric/--direction`) over the workspace's task.toml. A metric needs a
    command that reports it: run.command, or the task's. Without either there is nothing to
    measure."""
    from ..tasks import TaskError, load_task

    run = engine.settings.run
    if run.metric and run.command:
        return run.metric, run.direction or "maximize"
    try:
        task = load_task(engine.workspace)
    except TaskError as exc:
        raise MlrError(f"{exc}; the autonomous mode needs one (or --command and --metric: the run.command and "
                       "run.metric settings)") from None
    if run.metric and run.metric != task.metric.name:
        return run.metric, run.direction or "maximize"
    return task.metric.name, run.direction or task.metric.direction


def failure_summary(workspace: Path, record) -> str:
    """Why a run failed, in a line: its diagnosed failures, else the last line of its log."""
    from ..runners.execute import read_tail

    if record.failures:
        return _failures(record)
    said = [line.strip() for line in read_tail(workspace / (record.log_path or "")).splitlines() if line.strip()]
    return said[-1] if said else "its log is empty"


async def accept_all(proposal: Proposal) -> Review:
    return Review(True)


async def _confirm(problem: str) -> bool:
    return True


def _owner() -> tuple[str, int, int | None]:
    from ..runners.base import run_owner
    from ..runners.proctree import start_ticks

    host, pid = run_owner()
    return host, pid, start_ticks(pid)


def session_path(workspace: Path | str) -> Path:
    return StateDir(workspace).root / "auto" / "state.json"


def load_session(workspace: Path | str) -> AutoState | None:
    """The saved session of the workspace; an unreadable one is a clear error, never a guess."""
    from pydantic import ValidationError

    path = session_path(workspace)
    try:
        data = read_json(path)
        return AutoState.model_validate(data) if data else None
    except (ValueError, ValidationError) as exc:
        raise MlrError(f"the saved session {path} cannot be read ({str(exc).splitlines()[0]}); "
                       "move it away to start a new session") from None


class AutoPipeline:
    def __init__(self, engine, *, ask: Ask | None = None):
        self.engine = engine
        self.ask = ask
        # not made here: a workspace that is refused must be left as it was
        self.path = session_path(engine.workspace)

    def load(self) -> AutoState | None:
        return load_session(self.engine.workspace)

    def save(self, state: AutoState) -> None:
        state.usage = self.engine.usage()
        write_json(self.path, state.model_dump(mode="json"))

    async def _timed(self, state: AutoState, phase: str, awaitable):
        started = time.perf_counter()
        try:
            return await awaitable
        finally:
            state.phase_seconds[phase] = round(state.phase_seconds.get(phase, 0.0) + time.perf_counter() - started, 3)

    async def _check_in(self, phase: str, summary: str) -> str:
        """After a phase, in interactive mode: '' continues, 'skip', 'stop', or feedback text."""
        if self.ask is None:
            return ""
        return (await self.ask(phase, summary)).strip()

    async def run(self, source, work: Work, *, wanted: int | None = None, resume: bool = False,
                  settings: dict | None = None) -> AutoState:
        """`source`: a PDF path or a `Paper`; `wanted`: how many hypotheses to try (default 1).
        On `resume`, None for either takes the saved session's. `settings`: the settings layer
        the caller gave, saved for a later resume."""
        state, source = self._open(source, wanted, resume, settings)
        self._pin_metric(state)
        self.engine.keep_ledger(self.engine.state.folder("auto") / "ledger.json", resume=resume)
        try:
            await self._run(state, source, work)
            if state.status == "running":
                state.status = "done"
        except BudgetExceededError as exc:
            state.status, state.message = "budget", str(exc)
        except Cancelled as exc:
            state.status, state.message = "cancelled", f"{exc}; `auto --resume` continues the session"
        except MlrError as exc:
            state.status, state.message = "failed", str(exc)
        finally:
            self.save(state)
            await asyncio.to_thread(self._return_to_base, state)
        return state

    def _open(self, source, wanted: int | None, resume: bool, settings: dict | None) -> tuple[AutoState, object]:
        """The session to run, new or resumed, and where its hypotheses come from; owned by
        this process from now on."""
        state = self.load() if resume else None
        if resume and state is None:
            raise MlrError(f"nothing to resume: no autonomous session in {self.path.parent}")
        self._refuse_beside_a_live_session(state)
        if state is not None:
            state.status, state.message = "running", ""
            if settings is not None:
                state.settings = resumable_settings(settings)
            if state.metric is None:  # interrupted before its baseline
                state.metric, state.direction = task_metric(self.engine)
            if source is None and not state.ideas_done:
                source = session_source(state.paper, state.from_task, self.engine.workspace)
            if wanted is not None and not state.ideas_done:
                state.wanted = wanted
        else:
            metric, direction = task_metric(self.engine)
            state = AutoState(paper=str(getattr(source, "path", source)) if source else None, wanted=wanted or 1,
                              from_task=source is not None and not isinstance(source, (str, Path)),
                              settings=resumable_settings(settings), metric=metric, direction=direction,
                              started_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"))
        state.owner_host, state.owner_pid, state.owner_started = _owner()
        return state, source

    def _refuse_beside_a_live_session(self, state: AutoState | None) -> None:
        """Two sessions in one workspace would switch each other's branches and mix their runs."""
        from ..runners.base import owner_alive

        if state is None:
            try:
                state = self.load()
            except MlrError:  # an unreadable old session is replaced by the new one
                return
        if (state is not None and state.status == "running" and state.owner_pid != os.getpid()
                and owner_alive(state.owner_host, state.owner_pid, state.owner_started)):
            raise MlrError(f"an autonomous session is still running in this workspace (process {state.owner_pid} on "
                           f"{state.owner_host}): stop it first, then `auto --resume` continues it")

    def _pin_metric(self, state: AutoState) -> None:
        """Every run of the session, on any hypothesis's branch, is judged on the task's metric."""
        settings = self.engine.settings
        run = settings.run.model_copy(update={"metric": state.metric, "direction": state.direction})
        self.engine.configure(settings.model_copy(update={"run": run}))

    def _return_to_base(self, state: AutoState) -> None:
        if state.base_branch:
            try:
                self.engine.git.checkout_branch(state.base_branch)
            except MlrError as exc:
                log.warning("could not return to %s: %s", state.base_branch, exc)

    async def _run(self, state: AutoState, source, work: Work) -> None:
        engine = self.engine
        await engine.ensure_repository(_confirm)
        git = engine.git
        if state.base_commit is None:
            state.base_branch = await asyncio.to_thread(git.current_branch)
            state.base_commit = await asyncio.to_thread(git.head_sha)
            self.save(state)
        if state.baseline is None:
            await asyncio.to_thread(git.checkout_branch, state.base_branch)
            record = await asyncio.to_thread(recorded_baseline, engine, state.base_commit, state.started_at)
            if record is None:
                work.say("Running the baseline", BASELINE[0])
                record = await self._timed(state, "baseline", engine.run(work.phase(*BASELINE), baseline=True))
            work.check("the baseline run")
            state.baseline = _ref(record, state.metric)
            self.save(state)
            if record.status != "passed" or state.baseline.value is None:
                why = "; ".join(filter(None, [record.message, failure_summary(engine.workspace, record),
                                              f"log {record.log_path}"]))
                raise MlrError(f"the baseline run {record.id} did not produce the metric '{state.metric}' "
                               f"({record.status}: {why}); nothing else was tried")
        if not state.ideas_done:
            if source is None:
                raise MlrError("no paper and no task description to take hypotheses from")
            work.say("Proposing hypotheses", IDEAS[0])
            run = await self._timed(state, "ideas", engine.propose_hypotheses(source, work.phase(*IDEAS)))
            top = [h for h in sorted(run.hypotheses, key=lambda h: h.rank) if h.status != "rejected"][: state.wanted]
            state.hypotheses = [HypothesisResult(id=h.id, title=h.title, branch=h.branch) for h in top]
            state.ideas_done = True
            self.save(state)
            answer = await self._check_in("ideas", "\n".join(f"{h.id}: {h.title}" for h in state.hypotheses))
            if answer == "stop":
                state.status, state.message = "stopped", "stopped after the ideas phase"
                return
            if answer and answer != "skip" and state.hypotheses:
                first = state.hypotheses[0]
                refined = await engine.refine(first.id, answer, work.phase(*REFINE))
                first.title = refined.title
                self.save(state)
        for number, result in enumerate(state.hypotheses):
            if result.status in ("done", "skipped", "failed"):
                continue
            await self._hypothesis(state, result, work.phase(*_share(HYPOTHESES, number, len(state.hypotheses))))
            if state.status != "running":
                return

    async def _hypothesis(self, state: AutoState, result: HypothesisResult, work: Work) -> None:
        engine = self.engine
        git = engine.git
        hypothesis = engine.ideas.store.find(result.id)[1]
        if hypothesis.status != "accepted":
            engine.decide(result.id, "accepted", "accepted by the autonomous mode")
        if result.status == "pending":
            await asyncio.to_thread(git.checkout_branch, state.base_branch)
            work.say(f"Implementing {result.id}: {result.title}", 0)
            implemented = await self._timed(state, "implement", engine.implement(
                result.id, accept_all, work.phase(0, 50), _confirm, base=state.base_commit))
            result.commits = (await asyncio.to_thread(recorded_work, engine, result.branch, state.base_commit, result.id))[0]
            result.message = implemented.message
            # nothing committed: running would only score the baseline's own commit again
            result.status = "failed" if implemented.status == "nothing-implemented" else "implemented"
            self.save(state)
            if result.status == "failed":
                return
            answer = await self._check_in("implement", f"{result.id}: {len(result.commits)} commit(s); {implemented.message}")
            if answer in ("skip", "stop"):
                result.status = "skipped"
                if answer == "stop":
                    state.status, state.message = "stopped", f"stopped after implementing {result.id}"
                return
        await asyncio.to_thread(git.checkout_branch, result.branch)
        work.say(f"Running and debugging {result.id}", 50)
        report = await self._timed(state, "run+debug", engine.debug(accept_all, work.phase(50, 100)))
        # what the branch and the run records hold, runs of an interrupted session included
        result.commits, records = await asyncio.to_thread(recorded_work, engine, result.branch, state.base_commit, result.id)
        result.runs = [_ref(r, state.metric) for r in records]
        if report.status == "cancelled":
            self.save(state)
            raise Cancelled("the run")
        self._score(state, result)
        result.status = "done" if result.best else "failed"
        result.message = report.message or result.message
        self.save(state)
        answer = await self._check_in("run", f"{result.id}: best {result.best.value if result.best else 'none'}")
        if answer == "stop":
            state.status, state.message = "stopped", f"stopped after running {result.id}"

    def _score(self, state: AutoState, result: HypothesisResult) -> None:
        passed = [r for r in result.runs if r.status == "passed" and r.metric == state.metric and r.value is not None]
        if not passed or state.baseline is None:
            return
        sign = 1 if state.direction != "minimize" else -1
        result.best = max(passed, key=lambda r: sign * r.value)
        result.delta = relative_change(result.best.value, state.baseline.value, state.direction)
        result.success = result.delta is not None and result.delta >= SUCCESS_THRESHOLD


def render_report(state: AutoState) -> str:
    lines = []
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
    usage = state.usage or {}
    cost = usage.get("cost_usd")
    lines.append(f"Status: {state.status}" + (f" ({state.message})" if state.message else ""))
    lines.append(f"LLM: {usage.get('input_tokens', 0)} input + {usage.get('output_tokens', 0)} output tokens"
                 + (f", ${cost:.4f}" if cost else ""))
    if state.phase_seconds:
        lines.append("Wall time: " + ", ".join(f"{k} {v:.1f}s" for k, v in state.phase_seconds.items()))
    return "\n".join(lines)
