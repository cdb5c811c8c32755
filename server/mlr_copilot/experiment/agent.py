"""The ExperimentAgent's implementation loop: read, propose, review, commit, until the plan is
done or the step cap is reached.

Its state (`.mlr/implement/<hypothesis>/state.json`) and log (`log.jsonl` beside it) are
written after every step, so a crashed implementation resumes at the step it had reached. An
error ends the run as "failed" and a cancellation as "stopped", never leaving it "running";
implementing the hypothesis again resumes from the saved state in every case. A run that ends
with no committed change (every edit failing or rejected; empty, prose or garbage replies) is
"nothing-implemented", whatever the agent claimed: there is nothing to run or to score.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from .. import prompts
from ..llm.base import Message
from ..retrieval import code as prototype_code
from ..retrieval import hub
from ..state import append_jsonl, read_json, write_json
from ..work import Cancelled, Work
from ..workspace.commits import HYPOTHESIS_TRAILER
from . import promptfiles
from .change import EditFailedError, Outcome, Reviewer, propose, review_and_commit

if TYPE_CHECKING:
    from ..context import AgentContext
    from ..ideas.model import Hypothesis
    from .repomap import RepoMap

log = logging.getLogger(__name__)

READ = re.compile(r"^\s*READ:\s*(\S+)\s*$", re.MULTILINE)
DONE = re.compile(r"^\s*DONE:\s*(.*)$", re.MULTILINE)
MAX_READS_PER_STEP = 3
# the budget of the map in a step's prompt, and of its changes since the run started
MAP_CHARS = 6000


class Step(BaseModel):
    step: int
    summary: str
    outcome: Literal["committed", "rejected", "failed"]
    commit: str | None = None
    reason: str = ""


class ImplementState(BaseModel):
    hypothesis: str
    branch: str
    base_commit: str
    status: Literal["running", "done", "stopped", "failed", "nothing-implemented"] = "running"
    step: int = 0
    steps: list[Step] = Field(default_factory=list)
    read: list[str] = Field(default_factory=list)
    prototypes: str = ""
    candidates: str = ""
    message: str = ""

    @property
    def commits(self) -> list[str]:
        return [s.commit for s in self.steps if s.commit]


def plan_text(hypothesis: Hypothesis) -> str:
    plan = hypothesis.plan
    steps = "\n".join(f"{n}. {s}" for n, s in enumerate(plan.steps, start=1))
    command = f"\n- Command: {plan.command}" if plan.command else ""
    return (f"- Dataset: {plan.dataset}\n- Model: {plan.model}\n- Baseline: {plan.baseline}\n"
            f"- Metric: {plan.metric} ({plan.direction})\n- Expected improvement: {plan.expected_improvement}{command}\n"
            f"Steps:\n{steps}")


def nothing_implemented(state: ImplementState) -> str:
    """Why a run committed nothing, on one line."""
    counts = {o: sum(s.outcome == o for s in state.steps) for o in ("failed", "rejected")}
    tried = ", ".join(f"{n} {o}" for o, n in counts.items() if n)
    last = next((s.reason for s in reversed(state.steps) if s.reason), "")
    parts = [f"no step committed a change ({tried})" if tried else "the agent proposed no change",
             f"it ended with: {state.message}" if state.message else "",
             f"last problem: {last.splitlines()[0][:200]}" if last else ""]
    return "nothing implemented: " + "; ".join(p for p in parts if p)


def history_text(steps: list[Step]) -> str:
    if not steps:
        return "(none yet)"
    lines = []
    for s in steps:
        detail = f" ({s.commit[:8]})" if s.commit else ""
        reason = f": {s.reason}" if s.reason else ""
        lines.append(f"{s.step}. {s.summary} [{s.outcome}{detail}]{reason}")
    return "\n".join(lines)


class ImplementAgent:
    def __init__(self, context: AgentContext, hypothesis: Hypothesis):
        self.context = context
        self.hypothesis = hypothesis
        self.git = context.git
        self.folder = context.state.folder("implement", hypothesis.id)
        # the map as this run's first step saw it: every step shows it byte for byte, then what changed
        self._start_map: RepoMap | None = None

    def _state_path(self) -> Path:
        return self.folder / "state.json"

    def load_state(self) -> ImplementState | None:
        data = read_json(self._state_path())
        return ImplementState.model_validate(data) if data else None

    def save(self, state: ImplementState) -> None:
        write_json(self._state_path(), state.model_dump(mode="json"))

    def log_event(self, event: str, **fields: Any) -> None:
        append_jsonl(self.folder / "log.jsonl", {"at": datetime.now(timezone.utc).isoformat(), "event": event, **fields})

    def _context(self, state: ImplementState) -> None:
        """Prototype code and candidate models, gathered once per implementation."""
        settings = self.context.settings
        h = self.hypothesis
        query = " ".join([h.title, h.method, h.plan.model, h.plan.dataset, *h.plan.steps])
        cache = self.context.state.cache("retrieval")
        code = prototype_code.search_code(query, workspace=self.context.workspace, cache_dir=cache, k=5,
                                          sources=settings.implement.prototype_paths, online=settings.ideas.online)
        chunks = [f"### {c.source}:{c.path}:{c.start_line}-{c.end_line}\n```\n{c.text[:1500]}\n```" for c in code.chunks]
        state.prototypes = "\n".join(chunks + [f"(note: {n})" for n in code.notes]) or "(none found)"
        keywords = [w for w in re.findall(r"[A-Za-z][A-Za-z0-9-]{2,}", f"{h.plan.model} {h.plan.dataset}")][:8]
        run, _ = self.context.ideas.find(h.id)
        task = hub.pipeline_tag_for(run.analysis.task if run.analysis else "", h.problem, h.title, h.plan.dataset)
        found = hub.candidates(task, keywords, online=settings.ideas.online, cache_dir=cache,
                               max_size_mb=settings.implement.max_model_size_mb, environ=self.context.environ)
        lines = [f"- {c.kind} {c.id}" + (" (in the local cache)" if c.local else "") +
                 (f", {c.size_mb:.0f} MB" if c.size_mb else "") for c in found.models + found.datasets]
        state.candidates = "\n".join(lines + [f"(note: {n})" for n in found.notes]) or "(none: use only what the code already loads)"

    def _messages(self, state: ImplementState) -> list[Message]:
        """The step's prompt, what stays the same first so a provider's prefix cache serves it:
        the starter files as the base commit has them and the task (the same for every
        hypothesis drafted from it), the workspace's map as the run started (the same for every
        hypothesis drafted from one commit), then the hypothesis, its plan, prototypes and
        candidates (the same at every step); what changed in the map, the files read or changed
        and the steps so far last."""
        h = self.hypothesis
        settings = self.context.settings
        workspace = self.context.workspace
        changed = promptfiles.changed_since(workspace, state.base_commit)
        now = self.context.files.current()
        if self._start_map is None:
            self._start_map = now
        return prompts.messages(
            "implement_step",
            results_file=settings.run.results_file, files=promptfiles.baseline_text(workspace, state.base_commit),
            task=promptfiles.task_text(workspace),
            hypothesis_id=h.id, title=h.title, problem=h.problem, method=h.method, plan=plan_text(h),
            prototypes=state.prototypes, candidates=state.candidates,
            repo_map=self._start_map.render(MAP_CHARS), map_changes=now.changes_since(self._start_map, MAP_CHARS),
            files_since=promptfiles.files_text(workspace, promptfiles.later_paths(state.read, changed), note_unreadable=True),
            history=history_text(state.steps), step=state.step + 1, max_steps=settings.implement.max_steps,
        )

    def start(self, base: str | None = None) -> ImplementState:
        """Switch to the hypothesis's branch (made from `base`, default HEAD; refusing on a dirty
        tree), and load or create the state."""
        branch = self.hypothesis.branch
        self.git.checkout_branch(branch, base)
        state = self.load_state()
        if state is None:
            starters = [f for f in promptfiles.STARTER_FILES if (self.context.workspace / f).is_file()]
            state = ImplementState(hypothesis=self.hypothesis.id, branch=branch,
                                   base_commit=self.git.head_sha(), read=starters)
        else:
            state.status, state.message = "running", ""
        self.save(state)
        return state

    async def run(self, reviewer: Reviewer, work: Work, base: str | None = None) -> ImplementState:
        state = await asyncio.to_thread(self.start, base)
        # Mapped in full once per run (the branch or the files may have changed since);
        # each step after that looks again only at what changed.
        self.context.files.rescan()
        self._start_map = None
        try:
            await self._steps(state, reviewer, work)
            if not state.commits and not await asyncio.to_thread(self._committed_before, state):
                state.status, state.message = "nothing-implemented", nothing_implemented(state)
        except BaseException as exc:
            cancelled = isinstance(exc, (Cancelled, asyncio.CancelledError, KeyboardInterrupt))
            state.status = "stopped" if cancelled else "failed"
            state.message = str(exc) or type(exc).__name__
            raise
        finally:
            self.log_event("end", status=state.status, message=state.message)
            self.save(state)
        return state

    def _committed_before(self, state: ImplementState) -> bool:
        """Whether the branch holds a commit of this hypothesis since the base: an earlier run
        of the implementation can have been killed after a commit and before saving its step."""
        for commit in self.git.log(state.branch, limit=1000):
            if commit.sha == state.base_commit:
                return False
            if commit.trailers.get(HYPOTHESIS_TRAILER) == state.hypothesis:
                return True
        return False

    async def _steps(self, state: ImplementState, reviewer: Reviewer, work: Work) -> None:
        settings = self.context.settings.implement
        if not state.prototypes:
            work.say("Gathering prototype code and candidate models", 5)
            await asyncio.to_thread(self._context, state)
            self.save(state)
        self.log_event("start", branch=state.branch, step=state.step)
        reads = 0
        while state.step < settings.max_steps:
            work.say(f"Step {state.step + 1}: asking for the next change", int(10 + 80 * state.step / settings.max_steps))
            started = time.perf_counter()
            messages = await asyncio.to_thread(self._messages, state)
            prepared = time.perf_counter() - started
            try:
                result = await propose(
                    self.context.llm, messages, self.context.workspace, git=self.git, task=f"implement:{self.hypothesis.id}",
                    call="implement.step", retries=settings.max_edit_retries, hypothesis=self.hypothesis.id,
                    step=str(state.step + 1), work=work,
                )
            except EditFailedError as exc:
                state.step += 1
                state.steps.append(Step(step=state.step, summary="edit could not be applied", outcome="failed", reason=str(exc)))
                self.log_event("edit-failed", step=state.step, error=str(exc))
                self.save(state)
                continue
            if isinstance(result, str):
                done = DONE.search(result)
                wanted = [p for p in READ.findall(result) if p not in state.read]
                if done or not wanted or reads >= MAX_READS_PER_STEP:
                    state.status = "done"
                    state.message = done.group(1).strip() if done else "its last reply held no edit, READ or DONE line"
                    return
                reads += 1
                state.read += wanted[:5]
                self.log_event("read", paths=wanted[:5])
                self.save(state)
                continue
            reads = 0
            work.say(f"Step {state.step + 1}: review '{result.summary}'", None)
            outcome: Outcome = await review_and_commit(
                self.git, self.context.workspace, result, reviewer, title=self.hypothesis.title,
                trailers={"MLR-Hypothesis": self.hypothesis.id, "MLR-Step": str(state.step + 1)},
            )
            state.step += 1
            if outcome.commit:
                self.context.files.changed(outcome.committed, tracked=True)
                left_out = f"left out in review: {', '.join(outcome.left_out)}" if outcome.left_out else ""
                state.steps.append(Step(step=state.step, summary=result.summary, outcome="committed",
                                        commit=outcome.commit, reason=left_out))
                # appended in the order they were committed: a re-sorted list would move the files
                # shown before it and break the prompt's cached prefix at the next step
                state.read += [p for p in outcome.committed if p not in state.read]
            else:
                state.steps.append(Step(step=state.step, summary=result.summary, outcome="rejected", reason=outcome.review.reason))
            self.log_event("step", step=state.step, summary=result.summary, commit=outcome.commit,
                           accepted=outcome.review.accepted, reason=outcome.review.reason,
                           paths=result.paths, left_out=outcome.left_out,
                           prepare_s=round(prepared, 4), **{f"{k}_s": round(v, 4) for k, v in outcome.seconds.items()})
            self.save(state)
        state.status = "stopped"
        state.message = f"reached the step cap ({settings.max_steps})"
