"""The search session: the baseline, the hypotheses, then node after node as the policy
chooses, each saved in the journal (and kept by its ref) before and after its run, until a
budget, the target or the tree's end stops it; then the honest measurement (`measure.py`) and
the best node promoted to its hypothesis's branch. As many nodes run at once as the run queue
has slots; the operators, which edit the checkout, take their turns one at a time meanwhile.

Resume after a kill (with any number of nodes in flight): a node saved before its run is run;
a node left "running" takes the run record its commit finished with if there is one (never
running it again), else it is run once more; a node interrupted twice is marked failed.

A user's requests of nodes (`steer.py`) are taken before the policy's choice at each step: the
live search's own process is the only one that writes its journal. With no live search,
`act` makes this process the session's owner for as long as it takes the requests, through the
same expand and run as the loop's."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..autonomous.pipeline import session_objective
from ..autonomous.resume import recorded_baseline, session_source
from ..errors import MlrError
from ..experiment.change import EditFailedError
from ..llm.base import BudgetExceededError
from ..runners.base import owner_alive, run_owner
from ..runners.proctree import start_ticks
from ..untrusted import one_line
from ..work import Cancelled, Work
from ..workspace.gitsafe import run_text
from ..workspace.refs import check_branch_name
from . import measure, operators, steer, store
from .execute import SessionRuns, run_node
from .model import Evidence, Journal, Node, NodeAction, NodeActionName
from .policy import Action, choose

if TYPE_CHECKING:
    from ..engine import Engine
    from ..runners.model import RunRecord

log = logging.getLogger(__name__)
StopReason = Literal["target", "nodes", "hours", "compute"]
MAX_ATTEMPTS = 2
# how often a search waiting for its runs looks for a user's prune or promote
STEER_POLL_S = 0.5
# the sessions this process is running (or acting on) now: its own pid in a journal is not enough,
# since a search that ended by an unexpected error leaves "running" behind
_LIVE: set[tuple[Path, str]] = set()


class Search:
    def __init__(self, engine: Engine, work: Work):
        self.engine = engine
        self.work = work
        self.settings = engine.settings.search
        self.opened = time.monotonic()
        # what each user's request taken by this process did, by request id
        self.acted: dict[str, NodeAction] = {}
        self.refused: dict[str, MlrError] = {}
        self.writer: store.JournalWriter | None = None  # the session's, once `_open` knows it
        self.runs: SessionRuns | None = None  # as `writer`
        self.refs = store.RefKeeper(engine.workspace)

    def save(self, journal: Journal) -> None:
        journal.usage = self.engine.usage()
        journal.elapsed_s += time.monotonic() - self.opened
        self.opened = time.monotonic()
        assert self.writer is not None  # `_open` made it before the first save
        self.writer.save(journal)

    async def run(self, *, hypotheses: int | None = None, resume: bool = False) -> Journal:
        workspace = self.engine.workspace
        session = await asyncio.to_thread(store.latest_session, workspace) if resume else None
        journal = await asyncio.to_thread(self._open, session)
        try:
            return await self._search(journal, hypotheses)
        finally:
            _LIVE.discard((workspace, journal.session))
            await asyncio.to_thread(self.refs.close)

    async def _search(self, journal: Journal, hypotheses: int | None) -> Journal:
        try:
            await self._baseline(journal)
            await self._hypotheses(journal, hypotheses or self.settings.initial_drafts)
            await self._grow(journal, await self._settle(journal))
        except BudgetExceededError as exc:
            journal.status, journal.message = "budget", str(exc)
        except Cancelled as exc:
            journal.status, journal.message = "cancelled", f"{exc}; `search --resume` continues the session"
        except MlrError as exc:
            journal.status, journal.message = "failed", str(exc)
        self.save(journal)
        if journal.status not in ("cancelled", "failed"):
            await self._measure(journal)
            await asyncio.to_thread(self._promote_best, journal)
        await asyncio.to_thread(self._return_to, journal, journal.base_branch)
        self.save(journal)
        return journal

    def _open(self, session: str | None) -> Journal:
        """Session `session` (a new one when None), owned by this process from now on."""
        engine = self.engine
        workspace = engine.workspace
        refuse_beside_a_live_search(workspace, session)
        resume = session is not None
        if session is not None:
            journal = store.load(workspace, session)
            journal.status, journal.message = "running", ""
        else:
            engine.git.ensure_repo()
            branch = engine.git.current_branch()
            if branch is None:
                raise MlrError("the search starts from a branch: check one out first")
            objective = session_objective(engine.settings.run, workspace)
            session = store.new_session_id(workspace)
            journal = Journal(session=session, metric=objective.metric, direction=objective.direction,
                              base_branch=branch, base_commit=engine.git.head_sha(), branch=f"mlr-search/{session}")
        host, pid = run_owner()
        journal.owner_host, journal.owner_pid, journal.owner_started = host, pid, start_ticks(pid)
        self.runs = SessionRuns.of(engine, journal.objective)
        engine.keep_ledger(store.journal_path(workspace, journal.session).parent / "ledger.json",
                           resume=resume)
        self.writer = store.JournalWriter(workspace, journal.session)
        self.save(journal)
        _LIVE.add((workspace, journal.session))
        return journal

    def _runs(self) -> SessionRuns:
        assert self.runs is not None  # `_open` made them before the first run
        return self.runs

    async def _baseline(self, journal: Journal) -> None:
        if journal.baseline_run is not None:
            return
        # a kill after the baseline ran and before the journal held it: its record, not a second run
        record = await asyncio.to_thread(recorded_baseline, self.engine.workspace, journal.base_commit, journal.started_at)
        if record is None:
            self.work.say("Running the baseline")
            record = await run_node(self.engine, self.work, self._runs(), commit=journal.base_commit, baseline=True)
            self.work.check("the baseline run")
        journal.baseline_run, journal.baseline_value = record.id, record.metrics.get(journal.metric)
        self.save(journal)
        if record.status != "passed" or journal.baseline_value is None:
            raise MlrError(f"the baseline run {record.id} did not report '{journal.metric}' ({record.status}: "
                           f"{operators.why_failed(self.engine, record.id)}); nothing else was tried")

    async def _hypotheses(self, journal: Journal, wanted: int) -> None:
        if journal.hypotheses:
            return
        known = [h for h in self.engine.hypotheses() if h.status != "rejected"]
        if len(known) < wanted:
            self.work.say("Proposing hypotheses")
            source = session_source(None, True, self.engine.workspace)
            run = await self.engine.propose_hypotheses(source, self.work)
            known = [h for h in run.hypotheses if h.status != "rejected"]
        journal.hypotheses = [h.id for h in sorted(known, key=lambda h: h.rank)][:wanted]
        self.save(journal)

    async def _settle(self, journal: Journal) -> list[Node]:
        """The nodes a kill left before or during their run: adopted or given up here, or
        returned to be run (again)."""
        again = []
        for node in journal.nodes:
            if node.status == "pending":
                again.append(node)
            elif node.status == "running":
                record = await asyncio.to_thread(measure.finished_run, self.engine, node.commit, node.created_at,
                                                 journal.run_ids())
                if record is not None:
                    self._finish(journal, node, record)
                elif node.attempts >= MAX_ATTEMPTS:
                    node.status, node.why = "failed", f"its run was interrupted {node.attempts} times"
                    self.save(journal)
                else:
                    again.append(node)
        return again

    def _stop(self, journal: Journal) -> StopReason | None:
        """Why the search stops now, if it does: the target reached, or a budget spent."""
        settings = self.settings
        delta = journal.delta(journal.best())
        if settings.target_improvement is not None and delta is not None and delta >= settings.target_improvement:
            return "target"
        if len(journal.nodes) >= settings.max_nodes:
            return "nodes"
        if settings.hours is not None and journal.elapsed_s + time.monotonic() - self.opened >= settings.hours * 3600:
            return "hours"
        if settings.compute_seconds is not None and journal.compute_s() >= settings.compute_seconds:
            return "compute"
        return None

    async def _grow(self, journal: Journal, waiting: list[Node]) -> None:
        """Up to as many nodes in flight as the run queue has slots: while they run, the
        policy chooses (a node in flight is neither passed nor failed, so never expanded)
        and the LLM proposes the next nodes from those that ended. `waiting`: the nodes to
        run first. A stop (a budget, the target, an error, a cancel) makes no more nodes and
        waits for those in flight (a cancel cancels their runs through `work`)."""
        slots = len((await asyncio.to_thread(self.engine.slot_queue)).plan.slots)
        flight: dict[asyncio.Task[None], Node] = {}
        try:
            while True:
                self.work.check("the search")
                reason = self._stop(journal)
                if len(flight) < slots and (waiting or reason is None):
                    node = waiting.pop(0) if waiting else await self._next(journal)
                    if node is not None:
                        flight[asyncio.create_task(self._run(journal, node))] = node
                        continue
                if not flight:
                    break
                ended, _ = await asyncio.wait(flight, timeout=STEER_POLL_S, return_when=asyncio.FIRST_COMPLETED)
                for task in ended:
                    del flight[task]
                    task.result()  # a cancelled run, or an error, stops the search
                if not ended:  # a prune asked meanwhile is done at once
                    await self._requested(journal, expand=False)
                elif self._stop(journal) is None:  # a reflection the search will not use is not paid for
                    await self._reflect_if_due(journal)
        finally:
            await _landed(flight)
        await self._requested(journal, expand=False)  # a prune or promote asked during the last run
        reason = self._stop(journal)
        if reason is None:
            journal.status, journal.message = "exhausted", "no node is left to expand"
        else:
            journal.status, journal.message = reason, STOPS[reason]

    async def _next(self, journal: Journal) -> Node | None:
        """The next node to run: the user's request first, else the policy's choice (None
        when neither has one). An operator that changes nothing makes a pruned node, and the
        next choice is made."""
        while (action := await self._requested(journal) or choose(journal, self.settings)) is not None:
            node = await self._expand(journal, action)
            if node is not None:
                return node
            if self._stop(journal) is not None:
                return None
        return None

    async def _expand(self, journal: Journal, action: Action) -> Node | None:
        """The new node the action makes, saved and kept by its ref before it runs."""
        started, spent = time.perf_counter(), self.engine.usage()
        parent = journal.node(action.parent) if action.parent else None
        self.work.say(f"{action.operator} {action.parent or action.hypothesis}")
        failed = f"{action.operator} proposed no change"
        try:
            change = await self._operate(journal, action, parent)
        except EditFailedError as exc:
            change, failed = None, f"{action.operator}: {one_line(exc)[:300]}"
        usage = self.engine.usage()
        node = Node(id=journal.next_id(), parent=action.parent, operator=action.operator, hypothesis=action.hypothesis,
                    commit=change.commit if change else (parent.commit if parent else journal.base_commit),
                    summary=change.summary if change else failed, instruction=action.instruction,
                    debug_depth=(parent.debug_depth + 1) if parent and action.operator == "debug" else 0,
                    llm_cost_usd=(usage.cost_usd or 0.0) - (spent.cost_usd or 0.0),
                    llm_tokens=usage.total_tokens - spent.total_tokens, seconds=time.perf_counter() - started)
        if change is None:
            # kept in the tree so the policy never asks the same thing again, never run
            node.status, node.why = "pruned", node.summary
        await asyncio.to_thread(self.refs.keep, journal.session, node.id, node.commit)
        journal.nodes.append(node)
        if action.request is not None:  # taken in the same save that holds its node
            journal.steered.append(action.request)
            done = self.acted[action.request]
            done.child, done.message = node.id, f"{node.id}: {one_line(node.summary)[:200]}"
        self.save(journal)
        return node if change is not None else None

    async def _operate(self, journal: Journal, action: Action, parent: Node | None) -> operators.Change | None:
        if action.operator == "draft":
            assert action.hypothesis is not None  # the policy names the hypothesis to draft
            journal.drafted.append(action.hypothesis)
            return await operators.draft(self.engine, journal, action.hypothesis, self.work)
        assert parent is not None  # the policy names the node to debug or improve
        if action.operator == "debug":
            return await operators.debug(self.engine, journal, parent, self.work)
        return await operators.improve(self.engine, journal, parent, self.work, action.instruction)

    async def _run(self, journal: Journal, node: Node) -> None:
        node.status, node.attempts = "running", node.attempts + 1
        self.save(journal)
        record = await run_node(self.engine, self.work, self._runs(), commit=node.commit, search_node=node.id)
        if record.status == "cancelled":
            raise Cancelled(f"the run of node {node.id}")
        self._finish(journal, node, record)

    def _finish(self, journal: Journal, node: Node, record: RunRecord) -> None:
        node.runs.append(record.id)
        node.compute_s += record.duration_s or 0.0
        node.value = record.metrics.get(journal.metric)
        passed = record.status == "passed" and journal.objective.better(node.value, None)
        if node.status != "pruned":  # a user may prune a node while it runs: it stays out of the tree
            node.status = "passed" if passed else "failed"
            node.why = "" if passed else operators.why_failed(self.engine, record.id)
        self.save(journal)

    async def _requested(self, journal: Journal, *, expand: bool = True) -> Action | None:
        """The user's queued requests, oldest first: prunes and promotes are done at once; the
        first improve or debug is the next step's action (the others wait for the steps after,
        and all of them when the search makes no more nodes: not `expand`)."""
        first: Action | None = None
        for request in await asyncio.to_thread(steer.pending, self.engine.workspace, journal):
            done = NodeAction(action=request.action, node=request.node)
            try:
                node = steer.check(journal, request.node, request.action)
                if request.action in ("improve", "debug"):
                    if first is None and expand:
                        self.acted[request.id] = done
                        first = Action(request.action, parent=node.id, hypothesis=node.hypothesis,
                                       instruction=request.instruction, request=request.id)
                    continue
                if request.action == "prune":
                    node.status, node.why = "pruned", "pruned by the user"
                    done.message = f"node {node.id} is pruned: the search never expands it again"
                else:
                    promotion = await asyncio.to_thread(steer.promote, self.engine, journal, node)
                    done.branch, done.message = promotion.branch, steer.said(promotion)
            except MlrError as exc:
                done.message, self.refused[request.id] = one_line(str(exc)), exc
            self.work.say(done.message)
            journal.steered.append(request.id)
            self.acted[request.id] = done
            self.save(journal)
        return first

    async def act(self, session: str, request: str) -> NodeAction:
        """Take the queued requests of `session` (`request` among them) as its owner, and say
        what `request` did. The session's status is left as it was."""
        prior = await asyncio.to_thread(store.load, self.engine.workspace, session)
        # "running" while this process owns it, so another one queues its requests meanwhile
        journal = await asyncio.to_thread(self._open, session)
        back = await asyncio.to_thread(self.engine.git.current_branch) or journal.base_branch
        try:
            while (action := await self._requested(journal)) is not None:
                node = await self._expand(journal, action)
                if node is not None:
                    await self._run(journal, node)
                    assert action.request is not None  # a requested action names its request
                    ran = self.acted[action.request]
                    ran.message = f"{ran.message} -> {_result(journal, node)}"
        except BaseException:
            if request not in journal.steered:  # the user is told it failed: it is not left for later
                journal.steered.append(request)
            raise
        finally:
            journal.status, journal.message = prior.status, prior.message
            self.save(journal)
            _LIVE.discard((self.engine.workspace, journal.session))
            await asyncio.to_thread(self.refs.close)
            await asyncio.to_thread(self._return_to, journal, back)
        if request in self.refused:
            raise self.refused[request]
        if request not in self.acted:
            raise MlrError(f"request {request} of search {session} was taken by another process")
        return self.acted[request]

    def _promote_best(self, journal: Journal) -> None:
        """The best node onto its hypothesis's branch, where the user's tools find it."""
        best = journal.best()
        if best is None or any(p.node == best.id and p.commit == best.commit for p in journal.promotions):
            return
        try:
            promotion = steer.promote(self.engine, journal, best)
        except MlrError as exc:
            journal.message = f"{journal.message}; the best node {best.id} was not promoted: {one_line(str(exc))}"
            return
        self.work.say(steer.said(promotion))

    async def _reflect_if_due(self, journal: Journal) -> None:
        every = self.settings.reflect_every
        measured = sum(n.status in ("passed", "failed") for n in journal.nodes)
        if not every or measured < every:
            return
        # the last multiple of `every` reached: runs that end together may step over one
        due = measured - measured % every
        evidence = next((e for e in journal.evidence if e.after_nodes == due), None)
        if evidence is None:
            self.work.say("Reflecting on what was measured")
            evidence = Evidence(after_nodes=due, text=await operators.reflect(self.engine, journal))
            journal.evidence.append(evidence)
            await asyncio.to_thread(store.save_evidence, self.engine.workspace, evidence.text)
            self.save(journal)
        if self.settings.ideas_after_reflect and not evidence.proposed:
            await self._new_hypotheses(journal, self.settings.ideas_after_reflect)
            evidence.proposed = True
            self.save(journal)

    async def _new_hypotheses(self, journal: Journal, count: int) -> None:
        """Hypotheses proposed in the light of the evidence (the ideas prompt includes it),
        the best `count` of the new ones drafted next: the results flow back into the ideas."""
        self.work.say("Proposing hypotheses from what was measured")
        run = await self.engine.propose_hypotheses(session_source(None, True, self.engine.workspace), self.work)
        new = [h.id for h in sorted(run.hypotheses, key=lambda h: h.rank)
               if h.status != "rejected" and h.id not in journal.hypotheses][:count]
        journal.hypotheses += new
        journal.extra_drafts += len(new)

    async def _measure(self, journal: Journal) -> None:
        try:
            await measure.measure(self.engine, journal, self.work, self._runs(), save=self.save)
        except Cancelled as exc:
            journal.status, journal.message = "cancelled", f"{exc} while measuring; `search --resume` measures again"
        except MlrError as exc:
            journal.message = f"{journal.message}; measuring failed: {exc}".strip("; ")

    def _return_to(self, journal: Journal, branch: str) -> None:
        """Back on the branch the user was on; the search's own branch goes (its nodes stay
        reachable by their refs), so the user's branch list stays clean."""
        try:
            self.engine.git.checkout_branch(branch)
        except MlrError as exc:
            log.warning("could not return to %s: %s", branch, exc)
            return
        run_text(self.engine.workspace, "branch", "-q", "-D", check_branch_name(journal.branch), "--")


async def _landed(flight: dict[asyncio.Task[None], Node]) -> None:
    """Wait for the runs in flight; their errors are the stop's to tell, not theirs again."""
    if flight:
        await asyncio.wait(flight)
        for task in flight:
            if not task.cancelled():
                task.exception()


def is_live(workspace: Path, journal: Journal) -> bool:
    """Whether a process runs the session now (this one, or another one still alive)."""
    if journal.status != "running":
        return False
    if (journal.owner_host, journal.owner_pid) == run_owner():
        return (workspace, journal.session) in _LIVE
    return owner_alive(journal.owner_host, journal.owner_pid, journal.owner_started)


def refuse_beside_a_live_search(workspace: Path, session: str | None = None) -> None:
    """Two searches in one workspace would switch each other's branches and mix their nodes
    (the latest session, and `session` when one is named)."""
    for name in {session, None}:
        try:
            journal = store.load_session(workspace, name)
        except MlrError:  # none yet, or an unreadable one, which a new session does not need
            continue
        if is_live(workspace, journal):
            raise MlrError(f"search {journal.session} is still running in this workspace (process "
                           f"{journal.owner_pid} on {journal.owner_host}): stop it first, then `search --resume` "
                           "continues it")


async def act(engine: Engine, work: Work, node_id: str, action: NodeActionName, instruction: str,
              session: str | None) -> NodeAction:
    """A user's request of a node: queued for the live search of the session if there is one,
    else taken here and now (`Search.act`)."""
    workspace = engine.workspace
    journal = await asyncio.to_thread(store.load_session, workspace, session)
    steer.check(journal, node_id, action)
    live = await asyncio.to_thread(is_live, workspace, journal)
    request = await asyncio.to_thread(steer.queue, workspace, journal, action, node_id, instruction)
    if live:
        return NodeAction(action=action, node=node_id, queued=True,
                          message=f"queued for search {journal.session}, which takes it before its next step")
    return await Search(engine, work).act(journal.session, request.id)


def _result(journal: Journal, node: Node) -> str:
    if node.status == "passed" and node.value is not None:
        return f"{journal.metric}={node.value:.6g}"
    return node.status + (f" ({one_line(node.why)[:200]})" if node.why else "")


STOPS: dict[StopReason, str] = {"target": "the target improvement was reached", "nodes": "the node budget is spent",
         "hours": "the wall-time budget is spent", "compute": "the experiment compute budget is spent"}
