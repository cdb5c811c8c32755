"""The autonomous mode: every phase with every review accepted.

Baseline run, hypotheses from the paper (or the task description), then for each of the top
hypotheses: implement on its own branch from the baseline commit, run and debug up to the cap,
and keep its best run. Every number in the report names the commit and run it came from.

The hypotheses go on at once. Their runs need no checkout (each runs the exact commit its
branch had, in a worktree of its own), so as many run together as the run queue has slots
(run.parallel); every step that checks a branch out, asks the LLM and commits (an
implementation, a fix) takes the checkout's turn (`_Turn`), one at a time. So one hypothesis's
fix is written while another's run goes on. Asked after each step (`ask`), the session takes
them one after another. Every run of the session, on any hypothesis's branch, is judged on the
session's objective (the task's metric), passed with the run: the engine's settings stay as given.

The state (`.mlr/auto/state.json`, `session.py`) is saved after each phase, so `--resume`
continues an interrupted session with the settings and paper it was started with; what it
reports is rebuilt from the run records and the branches (see `resume.py`), so a kill anywhere
loses no commit or run. The LLM budget stops it cleanly with a report of what was done; a
cancellation (Ctrl-C, SIGTERM, SIGHUP) stops the running experiment and leaves the session
resumable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..config import RunSettings, Settings
from ..errors import MlrError
from ..experiment.change import Proposal, Review, Reviewer
from ..experiment.debug import DebugReport, debug_loop
from ..ideas.store import IdeaStore
from ..llm.base import BudgetExceededError
from ..objective import Objective
from ..run_setup import run_objective
from ..runners.base import owner_alive, run_owner
from ..runners.execute import read_tail
from ..runners.model import RunRecord
from ..runners.proctree import start_ticks
from ..runners.queue import RunCancelledError
from ..state import StateDir, write_json
from ..status import Spend
from ..taskfile import TaskError, load_task
from ..work import Cancelled, Work
from ..workspace.refs import commit_of
from .resume import (
    recorded_baseline,
    recorded_run,
    recorded_work,
    resumable_settings,
    session_source,
)
from .session import AutoState, HypothesisResult, RunRef, load_session, new_session, session_path
from .together import relaying, together

if TYPE_CHECKING:
    from ..context import AgentContext
    from ..experiment.agent import ImplementState
    from ..ideas.model import Hypothesis, IdeasRun
    from ..ideas.model import Status as HypothesisStatus
    from ..paper import Paper
    from ..workspace.git import GitWorkspace

log = logging.getLogger(__name__)
T = TypeVar("T")
# The session's progress scale, phase by phase in the order they run (`Work.phase`): each
# phase's own percentages fill its range, so the whole never goes back.
BASELINE, IDEAS, REFINE, HYPOTHESES = (0, 10), (10, 25), (25, 30), (30, 100)
Ask = Callable[[str, str], Awaitable[str]]
# a hypothesis in one of these states has nothing left to do
SETTLED = ("done", "skipped", "failed")


class AutoEngine(Protocol):
    """The engine's commands the autonomous mode drives, as it drives them: the session is
    these user-visible operations in a row, with every review accepted."""

    workspace: Path
    state: StateDir
    settings: Settings

    @property
    def git(self) -> GitWorkspace: ...
    def context(self) -> AgentContext: ...
    def keep_ledger(self, path: Path, *, resume: bool) -> None: ...
    def usage(self) -> Spend: ...
    def decide(self, hypothesis_id: str, status: HypothesisStatus, note: str = "") -> Hypothesis: ...
    async def ensure_repository(self, confirm_init: Callable[[str], Awaitable[bool]]) -> None: ...
    async def run(self, work: Work, *, baseline: bool = False, rev: str | None = None,
                  branch: str | None = None, objective: Objective | None = None) -> RunRecord: ...
    async def propose_hypotheses(self, source: str | Path | Paper, work: Work) -> IdeasRun: ...
    async def refine(self, hypothesis_id: str, feedback: str | None, work: Work) -> Hypothesis: ...
    async def implement(self, hypothesis_id: str, reviewer: Reviewer, work: Work,
                        confirm_init: Callable[[str], Awaitable[bool]], base: str | None = None) -> ImplementState: ...


class _Turn:
    """The checkout's turn: the steps that check a branch out, ask the LLM and commit take it
    one at a time, while the runs go on outside it. Once a step found the LLM budget spent, no
    turn begins again: each hypothesis waiting for one stops as that one did."""

    def __init__(self, git: GitWorkspace, work: Work):
        self._lock = asyncio.Lock()
        self._git = git
        self._work = work
        self.spent: BudgetExceededError | None = None

    @contextlib.asynccontextmanager
    async def take(self, branch: str) -> AsyncIterator[None]:
        """The turn, with `branch` checked out for it."""
        async with self._lock:
            if self.spent is not None:
                raise BudgetExceededError(str(self.spent))
            self._work.check("the session")
            await asyncio.to_thread(self._git.checkout_branch, branch)
            yield


class _Progress:
    """The hypotheses' part of the session's progress: each fills an equal share of `span` as
    it goes (implementing up to 50%, running and debugging up to 100%) and never goes back,
    so neither does their sum, however many move at once."""

    def __init__(self, work: Work, span: tuple[int, int], count: int):
        self.work, self.span = work, span
        self.done = [0] * count

    def of(self, number: int, label: str) -> Work:
        """The Work of hypothesis `number`: its messages say which it is."""

        def report(message: str, percentage: int | None = None) -> None:
            if percentage is not None:
                self.done[number] = max(self.done[number], min(max(percentage, 0), 100))
            self.work.say(f"{label}: {message}", self.total())

        return Work(report=report, cancel=self.work.cancel)

    def total(self) -> int:
        start, end = self.span
        return start + (end - start) * sum(self.done) // (100 * max(len(self.done), 1))


@dataclass
class _Clock:
    """A phase's wall time: while several hypotheses are in it at once, counted once."""

    inside: int = 0
    since: float = 0.0


def _ref(record: RunRecord, metric: str | None) -> RunRef:
    """The run as scored on the task's metric, whatever metric its hypothesis's plan named."""
    return RunRef(run=record.id, commit=record.commit, status=record.status, metric=metric,
                  value=record.metrics.get(metric) if metric else None, why=_failures(record))


def _failures(record: RunRecord) -> str:
    """The diagnosed failures of a run in a line, each at its file and line where known."""
    return "; ".join(f"{f.path}{f':{f.line}' if f.line else ''}: {f.message}" if f.path else f.message
                     for f in record.failures)


def session_objective(run: RunSettings, workspace: Path) -> Objective:
    """The objective that decides the session's success (`run_setup.run_objective` without a
    hypothesis: the run.metric setting over the task's). A metric needs a command that reports
    it: run.command, or the task's. Without either there is nothing to measure."""
    objective = run_objective(run.metric, run.direction, workspace)
    if objective is None or not (run.metric and run.command):
        try:
            load_task(workspace)
        except TaskError as exc:
            raise MlrError(f"{exc}; the autonomous mode needs one (or --command and --metric: the run.command and "
                           "run.metric settings)") from None
    assert objective is not None  # a task that loads names its metric
    return objective


def failure_summary(workspace: Path, record: RunRecord) -> str:
    """Why a run failed, in a line: its diagnosed failures, else the last line of its log."""
    if record.failures:
        return _failures(record)
    said = [line.strip() for line in read_tail(workspace / (record.log_path or "")).splitlines() if line.strip()]
    return said[-1] if said else "its log is empty"


async def accept_all(proposal: Proposal) -> Review:
    return Review(True)


async def _confirm(problem: str) -> bool:
    return True


def _owner() -> tuple[str, int, int | None]:
    host, pid = run_owner()
    return host, pid, start_ticks(pid)


class AutoPipeline:
    def __init__(self, engine: AutoEngine, *, ask: Ask | None = None):
        self.engine = engine
        self.ask = ask
        # not made here: a workspace that is refused must be left as it was
        self.path = session_path(engine.workspace)
        self._clocks: dict[str, _Clock] = {}

    def load(self) -> AutoState | None:
        return load_session(self.engine.workspace)

    def save(self, state: AutoState) -> None:
        state.usage = self.engine.usage()
        write_json(self.path, state.model_dump(mode="json"))

    async def _timed(self, state: AutoState, phase: str, awaitable: Awaitable[T]) -> T:
        clock = self._clocks.setdefault(phase, _Clock())
        if clock.inside == 0:
            clock.since = time.perf_counter()
        clock.inside += 1
        try:
            return await awaitable
        finally:
            clock.inside -= 1
            if clock.inside == 0:
                state.phase_seconds[phase] = round(state.phase_seconds.get(phase, 0.0) + time.perf_counter() - clock.since, 3)

    async def _check_in(self, phase: str, summary: str) -> str:
        """After a phase, in interactive mode: '' continues, 'skip', 'stop', or feedback text."""
        if self.ask is None:
            return ""
        return (await self.ask(phase, summary)).strip()

    async def run(self, source: str | Path | Paper | None, work: Work, *, wanted: int | None = None,
                  resume: bool = False, settings: dict[str, Any] | None = None) -> AutoState:
        """`source`: a PDF path or a `Paper`; `wanted`: how many hypotheses to try (default 1).
        On `resume`, None for either takes the saved session's. `settings`: the settings layer
        the caller gave, saved for a later resume."""
        state, source = self._open(source, wanted, resume, settings)
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

    def _open(self, source: str | Path | Paper | None, wanted: int | None, resume: bool,
              settings: dict[str, Any] | None) -> tuple[AutoState, str | Path | Paper | None]:
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
                objective = session_objective(self.engine.settings.run, self.engine.workspace)
                state.metric, state.direction = objective.metric, objective.direction
            if source is None and not state.ideas_done:
                source = session_source(state.paper, state.from_task, self.engine.workspace)
            if wanted is not None and not state.ideas_done:
                state.wanted = wanted
        else:
            state = new_session(str(getattr(source, "path", source)) if source else None,
                                from_task=source is not None and not isinstance(source, (str, Path)),
                                wanted=wanted or 1, settings=resumable_settings(settings),
                                objective=session_objective(self.engine.settings.run, self.engine.workspace))
        state.owner_host, state.owner_pid, state.owner_started = _owner()
        return state, source

    def _refuse_beside_a_live_session(self, state: AutoState | None) -> None:
        """Two sessions in one workspace would switch each other's branches and mix their runs."""
        if state is None:
            try:
                state = self.load()
            except MlrError:  # an unreadable old session is replaced by the new one
                return
        if (state is not None and state.status == "running" and state.owner_pid != os.getpid()
                and owner_alive(state.owner_host, state.owner_pid, state.owner_started)):
            raise MlrError(f"an autonomous session is still running in this workspace (process {state.owner_pid} on "
                           f"{state.owner_host}): stop it first, then `auto --resume` continues it")

    def _return_to_base(self, state: AutoState) -> None:
        if state.base_branch:
            try:
                self.engine.git.checkout_branch(state.base_branch)
            except MlrError as exc:
                log.warning("could not return to %s: %s", state.base_branch, exc)

    async def _run(self, state: AutoState, source: str | Path | Paper | None, work: Work) -> None:
        await self.engine.ensure_repository(_confirm)
        git = self.engine.git
        if state.base_commit is None:
            state.base_branch = await asyncio.to_thread(git.current_branch)
            state.base_commit = await asyncio.to_thread(git.head_sha)
            self.save(state)
        if state.base_branch is None:
            raise MlrError("the session started on a detached HEAD: check out a branch and start a new session")
        if state.baseline is None:
            await self._baseline(state, work)
        if not state.ideas_done:
            await self._ideas(state, source, work)
            if state.status != "running":
                return
        await self._hypotheses(state, work)

    async def _baseline(self, state: AutoState, work: Work) -> None:
        engine = self.engine
        assert state.base_branch is not None and state.base_commit is not None  # `_run` checked them
        await asyncio.to_thread(engine.git.checkout_branch, state.base_branch)
        record = await asyncio.to_thread(recorded_baseline, engine.workspace, state.base_commit, state.started_at)
        if record is None:
            work.say("Running the baseline", BASELINE[0])
            record = await self._timed(state, "baseline", engine.run(work.phase(*BASELINE), baseline=True,
                                                                     objective=state.objective))
        work.check("the baseline run")
        state.baseline = _ref(record, state.metric)
        self.save(state)
        if record.status != "passed" or state.baseline.value is None:
            why = "; ".join(filter(None, [record.message, failure_summary(engine.workspace, record),
                                          f"log {record.log_path}"]))
            raise MlrError(f"the baseline run {record.id} did not produce the metric '{state.metric}' "
                           f"({record.status}: {why}); nothing else was tried")

    async def _ideas(self, state: AutoState, source: str | Path | Paper | None, work: Work) -> None:
        if source is None:
            raise MlrError("no paper and no task description to take hypotheses from")
        work.say("Proposing hypotheses", IDEAS[0])
        run = await self._timed(state, "ideas", self.engine.propose_hypotheses(source, work.phase(*IDEAS)))
        top = [h for h in sorted(run.hypotheses, key=lambda h: h.rank) if h.status != "rejected"][: state.wanted]
        state.hypotheses = [HypothesisResult(id=h.id, title=h.title, branch=h.branch) for h in top]
        state.ideas_done = True
        self.save(state)
        answer = await self._check_in("ideas", "\n".join(f"{h.id}: {h.title}" for h in state.hypotheses))
        if answer == "stop":
            state.status, state.message = "stopped", "stopped after the ideas phase"
        elif answer and answer != "skip" and state.hypotheses:
            first = state.hypotheses[0]
            refined = await self.engine.refine(first.id, answer, work.phase(*REFINE))
            first.title = refined.title
            self.save(state)

    async def _hypotheses(self, state: AutoState, work: Work) -> None:
        """Every hypothesis not settled yet, all at once; one after another when the user is
        asked after each step. A failure stops the others as a cancel would (`together`),
        leaving each resumable; the budget stops only the steps that ask the LLM."""
        git = self.engine.git
        if self.ask is not None:
            turn = _Turn(git, work)
            progress = self._progress(state, work)
            for number, result in enumerate(state.hypotheses):
                if result.status not in SETTLED and turn.spent is None:
                    await self._hypothesis(state, result, progress.of(number, result.id), turn)
                    if state.status != "running":
                        return
        else:
            # the session's own cancel: the caller's, or a failed hypothesis's for the others
            halt = threading.Event()
            session = Work(report=work.report, cancel=halt)
            turn = _Turn(git, session)
            progress = self._progress(state, session)
            async with relaying(halt, work.cancel):
                await together([self._hypothesis(state, result, progress.of(number, result.id), turn)
                                for number, result in enumerate(state.hypotheses) if result.status not in SETTLED], halt)
        if turn.spent is not None:
            raise turn.spent

    def _progress(self, state: AutoState, work: Work) -> _Progress:
        progress = _Progress(work, HYPOTHESES, len(state.hypotheses))
        progress.done = [100 if result.status in SETTLED else 0 for result in state.hypotheses]
        return progress

    async def _hypothesis(self, state: AutoState, result: HypothesisResult, work: Work, turn: _Turn) -> None:
        try:
            await self._implement_and_run(state, result, work, turn)
        except BudgetExceededError as exc:  # reported once every hypothesis has stopped
            turn.spent = turn.spent or exc
        else:
            work.say("finished", 100)

    async def _implement_and_run(self, state: AutoState, result: HypothesisResult, work: Work, turn: _Turn) -> None:
        hypothesis = IdeaStore(self.engine.state).find(result.id)[1]
        if hypothesis.status != "accepted":
            self.engine.decide(result.id, "accepted", "accepted by the autonomous mode")
        if result.status == "pending" and not await self._implement(state, result, work, turn):
            return
        assert state.base_commit is not None  # `_run` checked it
        work.say("Running and debugging", 50)
        report = await self._timed(state, "run+debug", self._debug(state, result, work.phase(50, 100), turn))
        # what the branch and the run records hold, runs of an interrupted session included
        result.commits, records = await asyncio.to_thread(
            recorded_work, self.engine.git, self.engine.workspace, result.branch, state.base_commit, result.id)
        result.runs = [_ref(r, state.metric) for r in records]
        if report.status == "cancelled":
            self.save(state)
            raise Cancelled("the run")
        state.score(result)
        result.status = "done" if result.best else "failed"
        result.message = report.message or result.message
        self.save(state)
        answer = await self._check_in("run", f"{result.id}: best {result.best.value if result.best else 'none'}")
        if answer == "stop":
            state.status, state.message = "stopped", f"stopped after running {result.id}"

    async def _debug(self, state: AutoState, result: HypothesisResult, work: Work, turn: _Turn) -> DebugReport:
        """Run → fix → run on the hypothesis's branch: each run of the commit the branch has
        then, outside the checkout's turn; each fix in it, with the branch checked out. A run
        of that commit this session already finished (before an interruption) is taken as it
        is, never made again."""
        engine = self.engine

        async def run() -> RunRecord:
            commit = await asyncio.to_thread(commit_of, engine.workspace, f"refs/heads/{result.branch}")
            recorded = await asyncio.to_thread(recorded_run, engine.workspace, commit, state.started_at)
            if recorded is not None:
                work.say(f"run {recorded.id} of {commit[:8]} already ended {recorded.status}", None)
                return recorded
            try:
                return await engine.run(work, rev=commit, branch=result.branch, objective=state.objective)
            except RunCancelledError:  # while it waited for a slot
                raise Cancelled("the run") from None

        return await debug_loop(engine.context(), accept_all, work, run=run, max_attempts=engine.settings.run.debug_attempts,
                                hypothesis=result.id, turn=lambda: turn.take(result.branch))

    async def _implement(self, state: AutoState, result: HypothesisResult, work: Work, turn: _Turn) -> bool:
        """Implement the hypothesis on its branch from the base commit, in the checkout's turn;
        whether to run it next."""
        assert state.base_branch is not None and state.base_commit is not None  # `_run` checked them
        async with turn.take(state.base_branch):
            work.say(f"Implementing '{result.title}'", 0)
            implemented = await self._timed(state, "implement", self.engine.implement(
                result.id, accept_all, work.phase(0, 50), _confirm, base=state.base_commit))
        result.commits = (await asyncio.to_thread(
            recorded_work, self.engine.git, self.engine.workspace, result.branch, state.base_commit, result.id))[0]
        result.message = implemented.message
        # nothing committed: running would only score the baseline's own commit again
        result.status = "failed" if implemented.status == "nothing-implemented" else "implemented"
        self.save(state)
        if result.status == "failed":
            return False
        answer = await self._check_in("implement", f"{result.id}: {len(result.commits)} commit(s); {implemented.message}")
        if answer in ("skip", "stop"):
            result.status = "skipped"
            if answer == "stop":
                state.status, state.message = "stopped", f"stopped after implementing {result.id}"
            return False
        return True
