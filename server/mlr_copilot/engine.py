"""The engine: one object per workspace that both faces (the LSP server and the CLI) call.
Each public method is one user-visible operation; the faces only translate arguments and
results. Nothing here knows about LSP or the terminal.

Agents get an `AgentContext` (what they work with), never the engine. The LLM layer, the
agents, git and the run machinery are imported on first use, so the commands that only read
(history, status, accept, reject) never pay for them (`tests/cli/test_startup_imports.py`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from . import __version__
from .envfile import workspace_environ
from .errors import MlrError
from .settings_layers import raw_settings
from .state import StateDir
from .workspace.paths import resolve_path

if TYPE_CHECKING:
    from .config import RunnerName, Settings
    from .context import AgentContext
    from .doctor import Check
    from .experiment.agent import ImplementState
    from .experiment.change import Reviewer
    from .experiment.debug import DebugReport, FixResult
    from .experiment.repomap import WorkspaceMap
    from .history.compare import RunComparison
    from .history.model import HistoryModel
    from .history.store import HistoryTable
    from .ideas.agent import IdeaAgent
    from .ideas.model import Hypothesis, IdeasRun
    from .ideas.model import Status as HypothesisStatus
    from .ideas.store import IdeaStore
    from .ideas.summary import HypothesisSummary
    from .llm.accounting import Ledger
    from .llm.client import LLM
    from .objective import Objective
    from .paper import Paper
    from .runners.batch import BatchItem
    from .runners.model import RunRecord, RunRequest
    from .runners.queue import SlotQueue
    from .runners.queue_records import QueuedRun, QueueEntry
    from .runners.supervise import LineCallback
    from .search.model import Journal, NodeAction, NodeActionName
    from .status import Spend, Status
    from .work import Work
    from .workspace.checkout import RunCheckout
    from .workspace.git import GitWorkspace

P = ParamSpec("P")
T = TypeVar("T")
H = TypeVar("H", "Hypothesis", "HypothesisSummary")
ConfirmInit = Callable[[str], Awaitable[bool]]


class Engine:
    def __init__(self, workspace: Path | str, settings: Settings | None, warnings: list[str] | None = None,
                 environ: Mapping[str, str] | None = None):
        """`settings` None: the defaults, made at their first read (see `load`)."""
        self.workspace = Path(workspace).resolve()
        self.state = StateDir(self.workspace)
        self._settings = settings
        # the settings as given while `_settings` waits for its first read (`load`)
        self._given: dict[str, Any] = {}
        self._on_warning: Callable[[str], None] | None = None
        self.warnings = list(warnings or [])
        # where keys and environment settings are read: never os.environ changed for everyone
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        # made on first use
        self._ledger: Ledger | None = None
        self._llm: LLM | None = None
        self._files: WorkspaceMap | None = None
        self._queue: SlotQueue | None = None
        self._queue_key: tuple[object, ...] = ()

    @classmethod
    def load(cls, workspace: Path | str, *layers: object, on_warning: Callable[[str], None] | None = None) -> Engine:
        """An engine whose settings are the environment and what the workspace's `.env` may
        set (`envfile`), then each layer over them (editor options, then `workspace/configuration`).
        They are validated at once, their warnings in `warnings`; with `on_warning`, at their
        first read, each warning then said through it: the commands that read no setting
        (queue, hypotheses, history where no run setting is given) start without pydantic
        (tests/cli/test_startup_imports.py), and a bad value is said by those that read it."""
        root = Path(workspace).resolve()
        environ, warnings = workspace_environ(root)
        raw, ignored = raw_settings(*layers, environ=environ)
        engine = cls(root, None, warnings + ignored, environ)
        engine._given, engine._on_warning = raw, on_warning
        if on_warning is None and any(raw.values()):
            engine.settings  # noqa: B018  # validated now: the caller reads `warnings` next
        return engine

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from .config import validate_settings

            self._settings, more = validate_settings(self._given)
            self.warnings += more
            if self._on_warning is not None:
                for warning in more:
                    self._on_warning(warning)
        return self._settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        self._settings = settings

    def _defaults_hold(self, section: str, *keys: str) -> bool:
        """Whether the settings of `section` (only `keys` of it, when named) are the defaults,
        known without validating any: a command reads the settings it needs, and validates
        (and warns about) those given only then."""
        given = self._given.get(section) or {}
        return self._settings is None and not (given.keys() & set(keys) if keys else given)

    def reload_settings(self, *layers: object) -> list[str]:
        """New editor settings over the same environment; the warnings about them."""
        from .config import load_settings

        settings, warnings = load_settings(*layers, environ=self.environ)
        self.configure(settings)
        return warnings

    def configure(self, settings: Settings) -> None:
        if settings.llm != self.settings.llm:
            self._llm = None
            if self._ledger is not None:
                self._ledger.set_budget(settings.llm.budget_usd, settings.llm.budget_tokens)
        self.settings = settings

    def context(self) -> AgentContext:
        """What an agent of one operation works with, under the settings of now."""
        from .context import AgentContext  # the agents' view: only the commands that run one

        return AgentContext(settings=self.settings, state=self.state, git=self.git, files=self.files,
                            environ=self.environ, connect=lambda: self.llm)

    @property
    def files(self) -> WorkspaceMap:
        """The workspace's map for the agent, kept up to date path by path (`WorkspaceMap`)."""
        if self._files is None:
            from .experiment.repomap import WorkspaceMap  # only the commands that run an agent

            self._files = WorkspaceMap(self.workspace)
        return self._files

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            # the LLM layer: only commands that ask the LLM import it
            from .llm.accounting import Ledger

            self._ledger = Ledger(budget_usd=self.settings.llm.budget_usd, budget_tokens=self.settings.llm.budget_tokens)
        return self._ledger

    def keep_ledger(self, path: Path, *, resume: bool) -> None:
        """Save the spend to `path` at every call. `resume` first loads what it holds, so a
        resumed session reports, and caps, the spend made before it was interrupted."""
        from .llm.accounting import Ledger  # the LLM layer, as in `ledger`

        llm = self.settings.llm
        if resume:
            self._ledger = Ledger.load(path, llm.budget_usd, llm.budget_tokens)
        else:
            self._ledger = Ledger(llm.budget_usd, llm.budget_tokens, path=path)
            # on disk too: a later resume must not inherit an older session's spend
            self._ledger.save(path)
        if self._llm is not None:
            self._llm.ledger = self._ledger

    @property
    def llm(self) -> LLM:
        """The LLM client, made on first use so commands that need none never pay for it."""
        if self._llm is None:
            from .llm.factory import make_llm  # the SDKs: only commands that ask the LLM

            self._llm = make_llm(self.settings.llm, self.ledger, workspace=self.workspace, environ=self.environ)
        return self._llm

    def usage(self) -> Spend:
        from .plain import from_json
        from .status import Spend  # as the other records a command reads: imported by those that do

        return Spend() if self._ledger is None else from_json(Spend, self._ledger.snapshot())

    def status(self, tasks: list[dict[str, str]] | None = None) -> Status:
        from .llm.providers import DEFAULT_PROVIDER, resolved_model
        from .status import Status  # as in `usage`

        if self._defaults_hold("llm", "provider", "model"):
            # the default provider and model need no validated settings: `status` starts without
            # pydantic (the usage it shows has no budget: this engine's ledger has spent nothing)
            provider, model = DEFAULT_PROVIDER, resolved_model(DEFAULT_PROVIDER, "")
        else:
            provider, model = self.settings.llm.provider, self.settings.llm.resolved_model()
        return Status(version=__version__, workspace=str(self.workspace), provider=provider, model=model,
                      tasks=tasks or [], usage=self.usage())

    def doctor(self) -> list[Check]:
        from .doctor import doctor  # it asks Docker and the LLM layer: only `doctor` pays for them

        return doctor(self.workspace, self.settings, self.environ, self.warnings)

    # ideas

    @property
    def ideas(self) -> IdeaAgent:
        from .ideas.agent import IdeaAgent  # the LLM layer: only the ideas commands

        return IdeaAgent(self.context())

    async def propose_hypotheses(self, source: str | Path | Paper, work: Work) -> IdeasRun:
        """`source`: a PDF's path or URI, or a `Paper` already made (a task description)."""
        if isinstance(source, (str, Path)):
            path = resolve_path(self.workspace, str(source))
            work.say(f"Reading {path.name}", 5)
            source = await self.read_paper(path, work)
        return await self.ideas.propose(source, work)

    async def read_paper(self, source: str | Path, work: Work) -> Paper:
        """The `Paper` at `source` (a PDF's path or URI), read in a thread. Online (the
        ideas.online setting), a paper that prints its arXiv id or DOI is corrected by its own
        record from Semantic Scholar, OpenAlex or arXiv; offline nothing is asked."""
        from .paper import parse_pdf  # the PDF reader: only the commands that read a paper

        path = resolve_path(self.workspace, str(source))
        paper = await _in_thread(parse_pdf, path, should_cancel=work.cancel.is_set)
        if self.settings.ideas.online and paper.identifiers:
            paper = await _in_thread(self._corrected, paper, work)
        return paper

    def _corrected(self, paper: Paper, work: Work) -> Paper:
        # the network clients: only when a paper is corrected online (logging too: cli/logs.py)
        import logging

        from .paper.enrich import enrich
        from .retrieval.records import fetch_record

        record, notes = fetch_record(paper.identifiers, cache_dir=self.state.cache("retrieval"),
                                     should_cancel=work.cancel.is_set, environ=self.environ)
        if record is not None:
            paper, changes = enrich(paper, record)
            notes += changes
        for note in notes:
            logging.getLogger(__name__).info("%s: %s", paper.path, note)
            work.say(note)
        return paper

    async def paper_markdown(self, source: str, work: Work) -> str:
        """The paper at `source` (a PDF's path or URI) as a Markdown outline."""
        from .paper.markdown import to_markdown  # the PDF reader, as in `read_paper`

        work.say(f"Reading {Path(str(source)).name}")
        return to_markdown(await self.read_paper(source, work))

    def hypotheses(self) -> list[Hypothesis]:
        # Every run asks: before any proposal there is nothing to load, and the store alone
        # (not the ideas agent) answers, so a run does not pay for the ideas phase's imports.
        return self._ideas_store().hypotheses() if self.hypotheses_proposed() else []

    def hypotheses_proposed(self) -> bool:
        proposals = self.state.root / "ideas"
        return proposals.is_dir() and any(proposals.iterdir())

    def hypothesis_summaries(self) -> list[HypothesisSummary]:
        """`hypotheses` as the read-only commands list them, read without the models (pydantic)
        unless a file needs them to say what is wrong with it."""
        from .ideas.summary import HypothesisSummary, read_summaries
        from .plain import from_json

        if not self.hypotheses_proposed():
            return []
        try:
            return read_summaries(self.state)
        except ValueError:
            # the store reads it as before: it says what is wrong, or reads what it takes
            return [from_json(HypothesisSummary, h.model_dump(mode="json")) for h in self.hypotheses()]

    def hypothesis_dumps(self) -> list[dict[str, Any]]:
        """`hypotheses` as `model_dump(mode="json")` gives them: read as stored, without the
        models (pydantic), when every stored one is what the model dumps (`hypotheses --json`)."""
        from .ideas.summary import read_dumps

        if not self.hypotheses_proposed():
            return []
        dumps = read_dumps(self.state)
        return dumps if dumps is not None else [h.model_dump(mode="json") for h in self.hypotheses()]

    def _ideas_store(self) -> IdeaStore:
        # the hypotheses' models: a workspace without any never loads them
        from .ideas.store import IdeaStore

        return IdeaStore(self.state)

    def decide(self, hypothesis_id: str, status: HypothesisStatus, note: str = "") -> Hypothesis:
        """Record the decision and rewrite the hypotheses document; the store answers, not
        the ideas agent, so accept and reject do not pay for the LLM layer's imports."""
        from .ideas.summary import unknown

        wanted, summaries = str(hypothesis_id).strip(), self.hypothesis_summaries()
        if not any(wanted in (h.id, h.slug) for h in summaries):
            raise unknown(wanted, summaries)  # said before the models (pydantic) load
        from .ideas import document  # the hypotheses document: only decisions rewrite it

        store = self._ideas_store()
        hypothesis = store.decide(hypothesis_id, status, note)
        run, _ = store.find(hypothesis.id)
        document.write(self.workspace, run)
        return hypothesis

    async def refine(self, hypothesis_id: str, feedback: str | None, work: Work) -> Hypothesis:
        return await self.ideas.refine(hypothesis_id, feedback, work)

    # implementation

    @property
    def git(self) -> GitWorkspace:
        from .workspace.git import GitWorkspace  # GitPython: only the commands that change git

        return GitWorkspace(self.workspace)

    async def ensure_repository(self, confirm_init: ConfirmInit) -> None:
        """Make sure the workspace is a git repository with a commit; offer to create one."""
        from .workspace.errors import NoCommitsError, NotARepositoryError

        git = self.git
        try:
            await _in_thread(git.ensure_repo)
        except (NotARepositoryError, NoCommitsError) as exc:
            if not await confirm_init(str(exc)):
                raise
            await _in_thread(git.ensure_repo, True)

    async def implement(self, hypothesis_id: str, reviewer: Reviewer, work: Work, confirm_init: ConfirmInit,
                        base: str | None = None) -> ImplementState:
        from .experiment.agent import ImplementAgent  # the LLM layer: only implementation

        _run, hypothesis = self._ideas_store().find(hypothesis_id)
        if hypothesis.status != "accepted":
            raise MlrError(f"{hypothesis.id} is {hypothesis.status}: accept it before implementing it")
        await self.ensure_repository(confirm_init)
        return await ImplementAgent(self.context(), hypothesis).run(reviewer, work, base=base)

    def undo(self) -> str:
        return self.git.undo_last_agent_commit()

    # execution

    def objective(self, hypothesis: Hypothesis | HypothesisSummary | None = None) -> Objective | None:
        """The objective that judges runs here (`run_setup.run_objective`), for `hypothesis`,
        default the one whose branch is checked out."""
        # the hypotheses are read as their summaries: `history` starts without pydantic
        return self._objective(hypothesis or self._checked_out(self.hypothesis_summaries()))

    def _objective(self, plan: Hypothesis | HypothesisSummary | None) -> Objective | None:
        """`objective` for `plan`, the checkout's hypothesis not asked for when it is None."""
        from .run_setup import run_objective

        # the default settings name no metric and no direction: read as such, without building
        # them (pydantic), so `history` starts without it
        run = None if self._defaults_hold("run") else self.settings.run
        return run_objective(run.metric if run else None, run.direction if run else None, self.workspace, plan)

    def current_hypothesis(self) -> Hypothesis | None:
        return self._checked_out(self.hypotheses())

    def _checked_out(self, hypotheses: list[H]) -> H | None:
        """Of `hypotheses`, the one whose branch is checked out."""
        from .workspace.commits import head_info

        # the hypotheses first: without any, no `git status` to ask (start-up of `history`)
        head = head_info(self.workspace) if hypotheses else None
        if head is None or not head.branch:
            return None
        return next((h for h in hypotheses if h.branch == head.branch), None)

    def run_request(self, command: str | list[str] | None = None, timeout: float | None = None,
                    hypothesis: Hypothesis | None = None) -> RunRequest:
        """What a run executes: `command`, else the setting's, `hypothesis`'s (default the one
        checked out, asked only when the command is not given) or the task's."""
        from .run_setup import run_request  # as in `objective`

        plan = hypothesis if hypothesis is not None or command is not None else self.current_hypothesis()
        return run_request(self.settings.run, self.workspace, command, timeout, plan)

    async def run(self, work: Work, *, command: str | list[str] | None = None, runner: RunnerName | None = None,
                  timeout: float | None = None, on_line: LineCallback | None = None, baseline: bool = False,
                  rev: str | None = None, branch: str | None = None,
                  hypothesis: Hypothesis | None = None, objective: Objective | None = None,
                  search_node: str | None = None) -> RunRecord:
        """Run the experiment on `rev` (a commit, branch or tag; default: the checkout's
        working copy) in a worktree of its own, once a slot of the queue is free. `hypothesis`:
        the one it is a run of (its command and objective), default the one whose branch is
        `branch` (the branch a commit `rev` was taken from, which the record names; without it
        `runners/placing` says which branch a sha is of), `rev` or the checkout.
        `objective`: what judges it, default the hypothesis's (`objective`). A session with an
        objective of its own (a search's, an autonomous one's) passes it with each run, so the
        engine's settings, which judge the later commands' runs, never change; an operation of
        many runs passes `command` and `objective` read once, so no run reads task.toml again.
        `search_node`: the search's node it is a run of, shown by the queue and kept in the record."""
        # the run machinery (process trees, log sinks, Docker): only the commands that run
        from .run_setup import run_request
        from .runners import pick_runner
        from .runners.base import new_run_id
        from .runners.execute import execute
        from .runners.placing import SlotUse
        from .runners.queue import cancelled_by, relay_cancel

        if hypothesis is None:
            hypothesis = self.current_hypothesis() if rev is None else self._hypothesis_on(branch or rev)
        # what names the command and the objective the call leaves out: the run's hypothesis,
        # else (a `rev` of none) the checkout's, asked once and only when one of them is left out
        plan = hypothesis
        if plan is None and rev is not None and (command is None or objective is None):
            plan = self.current_hypothesis()
        request = run_request(self.settings.run, self.workspace, command, timeout, plan)
        chosen = await _in_thread(pick_runner, runner or self.settings.run.runner, self.settings.run.image)
        objective = objective or self._objective(plan)
        run_id = new_run_id()
        queued = time.monotonic()
        queue = self.slot_queue()
        gpus = None if chosen.local_gpus else 0  # see `Runner.local_gpus`
        async with cancelled_by(queue, run_id, work.cancel), queue.lease(run_id, node=search_node, gpus=gpus) as lease:
            slot = SlotUse(lease.slot.index, lease.gpu_ids, time.monotonic() - queued)
            work.say(f"Running `{request.command_text()}` on {rev or 'the working copy'} in slot {slot.index} "
                     f"({chosen.reason})", None)
            async with relay_cancel(lease) as cancel:
                return await _in_thread(
                    execute, request, chosen, rev=rev, branch=branch, run_id=run_id, slot=slot,
                    primary_metric=objective.metric if objective else None,
                    direction=objective.direction if objective else None,
                    hypothesis=hypothesis.id if hypothesis else None, baseline=baseline, search_node=search_node,
                    on_line=on_line, cancel=cancel, mlflow_uri=self.settings.tracking.mlflow_uri,
                    pool=len(queue.plan.slots) if self.settings.run.reuse_worktrees else 0,
                )

    async def run_hypotheses(self, work: Work, ids: list[str] | None = None, *, baseline: bool = False,
                             runner: RunnerName | None = None, timeout: float | None = None,
                             on_line: LineCallback | None = None,
                             on_end: Callable[[BatchItem], None] | None = None) -> list[BatchItem]:
        """Run the branch head of every accepted hypothesis (only `ids`, when given) and, with
        `baseline`, the base branch's, all queued at once (`runners/batch.py`): each one's
        record, or the line saying why it has none."""
        from .runners.batch import plan_batch, run_batch  # the run machinery, as in `run`

        planned = await _in_thread(plan_batch, self.workspace, self.hypotheses(), ids, baseline)
        return await run_batch(planned, lambda target, lines: self.run(
            work, runner=runner, timeout=timeout, on_line=lines, baseline=target.baseline, rev=target.commit,
            branch=target.branch, hypothesis=target.hypothesis), on_line, on_end)

    def slot_queue(self) -> SlotQueue:
        """The queue every run of this engine waits in, cut from the `run` settings; made
        again when they change while no run holds or waits for a slot."""
        import logging  # as the run machinery: not on the light commands' path (cli/logs.py)

        from .runners.queue import SlotQueue
        from .runners.slots import GPU_IDS_ENV, plan_from_settings

        run = self.settings.run
        # asking the machine for its GPUs runs nvidia-smi: once per change of the settings
        key = (run.parallel, run.gpus_per_run, tuple(run.gpu_ids) if run.gpu_ids is not None else None,
               self.environ.get(GPU_IDS_ENV))
        if self._queue is None or (key != self._queue_key and self._queue.idle):
            plan = plan_from_settings(run, self.environ)
            for warning in plan.warnings:
                logging.getLogger(__name__).warning("%s", warning)
            self._queue, self._queue_key = SlotQueue(self.workspace, plan), key
        return self._queue

    def _hypothesis_on(self, rev: str) -> Hypothesis | None:
        return next((h for h in self.hypotheses() if h.branch == rev), None)

    def run_record(self, run_id: str) -> RunRecord:
        from .runners.summary import record_file

        path = record_file(self.workspace, run_id)  # an unknown run is refused before the models load
        from .runners.model import RunRecord

        return RunRecord.model_validate_json(path.read_text(encoding="utf-8"))

    def checkout_run(self, run_id: str, path: str | None = None) -> RunCheckout:
        """Check out the commit run `run_id` ran as a new git worktree outside the workspace
        (`workspace/checkout.py`), for the researcher to work in."""
        record = self.run_record(run_id)
        from .workspace.checkout import checkout_run  # pydantic: once the run is known

        return checkout_run(self.workspace, record, path)

    async def fix(self, run_id: str, reviewer: Reviewer, work: Work, on_line: LineCallback | None = None) -> FixResult:
        """One reviewed fix for a failed run; an accepted fix is committed and run again."""
        from .experiment.debug import FixResult, propose_fix  # the LLM layer: only fixing

        record = self.run_record(run_id)
        hypothesis = self.current_hypothesis()
        await _in_thread(self.git.check_clean_for_agent)
        outcome = await propose_fix(self.context(), record, reviewer, work, [], hypothesis.id if hypothesis else None)
        if outcome is None:
            raise MlrError(f"no fix was proposed for run {run_id}")
        if not outcome.commit:
            return FixResult(accepted=False, reason=outcome.review.reason)
        return FixResult(accepted=True, commit=outcome.commit, run=await self.run(work, on_line=on_line))

    async def debug(self, reviewer: Reviewer, work: Work, on_line: LineCallback | None = None,
                    max_attempts: int | None = None) -> DebugReport:
        from .experiment.debug import debug_loop  # the LLM layer: only debugging
        from .run_setup import run_command

        await _in_thread(self.git.check_clean_for_agent)
        hypothesis = self.current_hypothesis()
        attempts = self.settings.run.debug_attempts if max_attempts is None else max_attempts
        # every run of the loop is of the same checkout: its command and objective read once
        command, objective = run_command(self.settings.run, self.workspace, hypothesis), self._objective(hypothesis)
        return await debug_loop(self.context(), reviewer, work, max_attempts=attempts,
                                run=lambda: self.run(work, on_line=on_line, command=command, hypothesis=hypothesis,
                                                     objective=objective),
                                hypothesis=hypothesis.id if hypothesis else None)

    # search

    def search_journal(self, session: str | None = None) -> Journal:
        """Search session `session`'s journal (default: the latest session's)."""
        from .search.store import load_session  # the search: only its commands

        return load_session(self.workspace, session)

    async def search_act(self, work: Work, node_id: str, action: NodeActionName, *, instruction: str = "",
                         session: str | None = None) -> NodeAction:
        """Improve (with the user's `instruction`), debug, prune or promote a node of a search:
        queued for the session's live search, else done here (`search/loop.act`)."""
        from .search.loop import act  # the search and its agents: only its commands

        return await act(self, work, node_id, action, instruction, session)

    def history(self, branch: str | None = None, *, all_branches: bool = False) -> HistoryModel:
        """`history_table` as a model: the editor's (NaN sent as null, `lsp/results.to_json`)."""
        from .history.model import HistoryModel

        return HistoryModel(self.history_table(branch, all_branches=all_branches))

    def history_table(self, branch: str | None = None, *, all_branches: bool = False) -> HistoryTable:
        """The runs along `branch` (default: the current one); with `all_branches` and no
        `branch`, along the base branch and every hypothesis branch. Plain data: the CLI's
        `history` starts without pydantic."""
        from .history.store import history

        objective = self.objective()
        return history(self.workspace, branch, all_branches=all_branches, metric=objective.metric if objective else None,
                       direction=objective.direction if objective else None)

    def compare(self, run_a: str, run_b: str) -> RunComparison:
        """Runs `run_a` and `run_b` side by side: metrics, settings and the code diff. Plain
        data, read without pydantic: the CLI's `compare` starts within its 120 ms."""
        from .history.compare import compare_runs, read_run  # the code diff: only `compare`

        return compare_runs(self.workspace, read_run(self.workspace, run_a), read_run(self.workspace, run_b))

    def runs(self) -> list[RunRecord]:
        from .history.store import load_runs

        return load_runs(self.workspace)

    def queue(self, *, all_ended: bool = False) -> list[QueuedRun]:
        """The runs waiting, running and lately ended (`all_ended`: every one kept)."""
        from .runners.queue_records import queue_view  # the files, not the queue's event loop

        return queue_view(self.workspace, all_ended=all_ended)

    def cancel_queued(self, run_id: str) -> QueueEntry:
        """Cancel a waiting or running run, whichever process owns it (`runners/queue_records.cancel`)."""
        from .runners.queue_records import cancel  # as in `queue`

        return cancel(self.workspace, run_id)


async def _in_thread(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """`asyncio.to_thread`, with asyncio imported at the first call: the commands that only
    read (history, compare, accept, status) never start an event loop, and importing asyncio
    (with ssl) is a third of their start-up."""
    import asyncio

    return await asyncio.to_thread(fn, *args, **kwargs)

