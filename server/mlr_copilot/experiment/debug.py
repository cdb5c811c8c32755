"""Debugging a failed run: one reviewed fix from the failure and its log, and the autonomous
loop run → fix → run, capped in attempts and stopped by the LLM budget."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from .. import prompts
from ..llm.base import BudgetExceededError
from ..runners.model import RunRecord
from ..runners.pinning import command_file
from ..work import Cancelled, Work
from . import promptfiles
from .change import Outcome, Reviewer, propose, review_and_commit

if TYPE_CHECKING:
    from ..context import AgentContext

log = logging.getLogger(__name__)
LOG_TAIL_CHARS = 6_000


class FixAttempt(BaseModel):
    run_id: str
    status: str
    fix: str | None = None
    commit: str | None = None
    accepted: bool | None = None
    reason: str = ""


class DebugReport(BaseModel):
    status: str = Field(description="passed | gave-up | rejected | no-fix | budget | cancelled")
    attempts: list[FixAttempt] = Field(default_factory=list)
    final_run: RunRecord | None = None
    message: str = ""


class FixResult(BaseModel):
    """One reviewed fix: accepted (its commit and the run made after it) or rejected (why)."""

    accepted: bool
    reason: str | None = None
    commit: str | None = None
    run: RunRecord | None = None


def _log_tail(workspace: Path, record: RunRecord) -> str:
    if not record.log_path:
        return "(no log)"
    path = workspace / record.log_path
    if not path.is_file():
        return "(log missing)"
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - LOG_TAIL_CHARS))
        return handle.read().decode("utf-8", errors="replace")


def _involved(record: RunRecord, command_file: str | None) -> list[str]:
    """The files the failures point at, then the command's own, each once."""
    paths = [f.path for f in record.failures if f.path]
    return list(dict.fromkeys([*paths, command_file] if command_file else paths))


def _failures(record: RunRecord) -> str:
    if not record.failures:
        return "(none parsed)"
    return "\n".join(
        f"- {f.kind}" + (f" at {f.path}:{f.line}" if f.path else "") + (f" {f.error_type}:" if f.error_type else "") + f" {f.message}"
        for f in record.failures
    )


async def propose_fix(context: AgentContext, record: RunRecord, reviewer: Reviewer, work: Work,
                      attempts: list[FixAttempt], hypothesis: str | None, *, base: str | None = None) -> Outcome | None:
    """Propose and review one fix for the failed `record`; None when the LLM proposes no edit.
    The prompt opens as every change prompt does, with the starter files as commit `base` has
    them (the working copy's without one) and the task, so a provider's prefix cache serves it."""
    workspace = context.workspace
    # the paths come from the run's output, which the experiment's code controls: only the
    # workspace's own regular files that the agent may read (no secrets, no .git/)
    involved = promptfiles.later_paths(_involved(record, command_file(record.command)),
                                       promptfiles.changed_since(workspace, base))
    messages = prompts.messages(
        "experiment_fix",
        results_file=context.settings.run.results_file, files=promptfiles.baseline_text(workspace, base),
        task=promptfiles.task_text(workspace),
        files_involved=promptfiles.files_text(workspace, involved, note_unreadable=False),
        run_id=record.id, command=record.command,
        commit=(record.commit or "none")[:12], status=record.status, message=record.message or "",
        failures=_failures(record), log_tail=_log_tail(workspace, record)[-LOG_TAIL_CHARS:],
        attempts="\n".join(f"- run {a.run_id} {a.status}; fix: {a.fix or 'none'} ({'accepted' if a.accepted else a.reason or 'rejected'})" for a in attempts) or "(none)",
    )
    work.say(f"Asking for a fix of run {record.id}", None)
    result = await propose(context.llm, messages, workspace, git=context.git, task=f"debug:{hypothesis or 'workspace'}",
                           call="debug.fix", retries=context.settings.implement.max_edit_retries, hypothesis=hypothesis or "none",
                           step=f"fix-{record.id}", work=work)
    if isinstance(result, str):
        return None
    trailers = {"MLR-Hypothesis": hypothesis or "none", "MLR-Step": f"fix of run {record.id}"}
    return await review_and_commit(context.git, workspace, result, reviewer, title=f"fix of run {record.id}", trailers=trailers)


async def debug_loop(context: AgentContext, reviewer: Reviewer, work: Work, *, run: Callable[[], Awaitable[RunRecord]],
                     max_attempts: int, hypothesis: str | None,
                     turn: Callable[[], AbstractAsyncContextManager[object]] = nullcontext) -> DebugReport:
    """run → fix → run until a run passes, the cap is reached, the budget stops it or the user
    cancels; the report holds the attempts made either way.
    `run` is an async callable that runs the experiment once and returns its RunRecord. Each
    fix is proposed and committed inside a `turn()`: where several loops share one checkout
    (the autonomous mode's hypotheses), it takes the checkout for this loop alone, while the
    runs, which need no checkout, go on outside it."""
    report = DebugReport(status="gave-up")
    record = None
    try:
        record = await run()
        for number in range(max_attempts + 1):
            if record.status == "passed":
                report.status = "passed"
                break
            if record.status == "cancelled":
                report.status, report.message = "cancelled", f"run {record.id} was cancelled"
                break
            attempt = FixAttempt(run_id=record.id, status=record.status)
            report.attempts.append(attempt)
            if number == max_attempts:
                report.message = f"the run still fails after {max_attempts} fix attempt(s)"
                break
            async with turn():
                outcome = await propose_fix(context, record, reviewer, work, report.attempts[:-1], hypothesis)
            if outcome is None:
                report.status, report.message = "no-fix", "the LLM proposed no change"
                break
            attempt.fix, attempt.commit = outcome.proposal.summary, outcome.commit
            attempt.accepted, attempt.reason = outcome.review.accepted, outcome.review.reason
            if not outcome.commit:
                report.status, report.message = "rejected", f"the fix was rejected: {outcome.review.reason or 'no reason given'}"
                break
            work.say(f"Fix committed ({outcome.commit[:8]}); running again", None)
            record = await run()
    except BudgetExceededError as exc:
        report.status, report.message = "budget", str(exc)
    except Cancelled as exc:
        report.status, report.message = "cancelled", str(exc)
    if record is not None:
        report.final_run = record
    return report
