"""The search's operators. Each makes at most one new commit (a node) from a parent and says
what it changed: draft (today's implement loop for a hypothesis, from the baseline commit),
debug (one fix of a failed node), improve (one atomic change to a working node); reflect makes
no commit but evidence.

The prompts put what stays the same first and what changes from call to call last, so a
provider's prefix cache serves most of each: every operator's prompt (reflect's too) opens, as
the draft's implement steps do, with the starter files as the search's baseline commit has them
and the task (see `experiment.promptfiles`), then its own instructions; the node's changed files
come after, then what is the node's own (its id, result, what its siblings tried, in an order
that only grows at its end), and the researcher's instruction, when there is one, last: nothing
stable follows a part that changes from call to call."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import prompts
from ..autonomous.pipeline import accept_all, failure_summary
from ..errors import MlrError
from ..experiment import promptfiles
from ..experiment.change import propose, review_and_commit
from ..experiment.debug import propose_fix
from ..workspace.refs import commit_of
from .execute import check_out

if TYPE_CHECKING:
    from ..engine import Engine
    from ..llm.base import Message
    from ..work import Work
    from .model import Journal, Node


# the improve prompt's last section, only when the researcher gave one: a "(none)" after the
# siblings' list, which grows from call to call, is text no prefix cache could serve
INSTRUCTION_HEADING = "# The researcher's instruction"


@dataclass(frozen=True)
class Change:
    commit: str
    summary: str


async def _yes(problem: str) -> bool:
    return True


async def draft(engine: Engine, journal: Journal, hypothesis_id: str, work: Work) -> Change | None:
    """The implement loop for the hypothesis's plan, on its branch from the baseline commit."""
    hypothesis = next((h for h in engine.hypotheses() if h.id == hypothesis_id), None)
    if hypothesis is None:
        raise MlrError(f"no hypothesis {hypothesis_id} to draft")
    if hypothesis.status != "accepted":
        engine.decide(hypothesis_id, "accepted", "accepted by the search")
    state = await engine.implement(hypothesis_id, accept_all, work, _yes, base=journal.base_commit)
    if state.status == "nothing-implemented" or not state.commits:
        return None
    commit = await asyncio.to_thread(commit_of, engine.workspace, state.branch)
    done = f" ({state.message})" if state.message else ""
    return Change(commit, f"draft of {hypothesis_id}: {hypothesis.title}{done}")


async def debug(engine: Engine, journal: Journal, node: Node, work: Work) -> Change | None:
    """One fix of the failed `node` from its diagnosed failures and log tail."""
    await asyncio.to_thread(check_out, engine, journal.branch, node.commit)
    record = engine.run_record(node.runs[-1])
    outcome = await propose_fix(engine.context(), record, accept_all, work, [], node.hypothesis, base=journal.base_commit)
    if outcome is None or not outcome.commit:
        return None
    return Change(outcome.commit, outcome.proposal.summary)


async def improve(engine: Engine, journal: Journal, node: Node, work: Work, instruction: str = "") -> Change | None:
    """One atomic, explained change to the working `node`."""
    await asyncio.to_thread(check_out, engine, journal.branch, node.commit)
    messages = await asyncio.to_thread(improve_messages, engine, journal, node, instruction)
    result = await propose(engine.llm, messages, engine.workspace, git=engine.git, task="search:improve",
                           call="search.improve", retries=engine.settings.implement.max_edit_retries,
                           hypothesis=node.hypothesis or "none", step=f"improve-{node.id}", work=work)
    if isinstance(result, str):
        return None
    outcome = await review_and_commit(engine.git, engine.workspace, result, accept_all, title=f"improve {node.id}",
                                      trailers={"MLR-Hypothesis": node.hypothesis or "none", "MLR-Step": f"improve {node.id}"})
    return Change(outcome.commit, result.summary) if outcome.commit else None


async def reflect(engine: Engine, journal: Journal) -> str:
    """What worked and what did not, from every measured node, as evidence for the ideas."""
    base = f"{journal.baseline_value:.6g}" if journal.baseline_value is not None else "unknown"
    workspace = engine.workspace
    messages = await asyncio.to_thread(
        prompts.messages, "search_reflect", results_file=engine.settings.run.results_file,
        files=promptfiles.baseline_text(workspace, journal.base_commit), task=promptfiles.task_text(workspace),
        metric=journal.metric, baseline=base, nodes=nodes_text(journal))
    return (await engine.llm.text(messages, task="search:reflect", call="search.reflect")).strip()


def _line(journal: Journal, node: Node) -> str:
    delta = journal.delta(node)
    result = (f"{journal.metric}={node.value:.6g}" + (f" ({delta:+.1%} vs baseline)" if delta is not None else "")
              if node.status == "passed" else f"{node.status}: {node.why or 'no metric'}")
    return f"- {node.id} ({node.operator} of {node.parent or 'baseline'}): {node.summary} -> {result}"


def nodes_text(journal: Journal) -> str:
    return "\n".join(_line(journal, n) for n in journal.nodes if n.status != "pending") or "(none)"


def improve_messages(engine: Engine, journal: Journal, node: Node, instruction: str) -> list[Message]:
    workspace = engine.workspace
    tried = [_line(journal, n) for n in journal.nodes if n.id != node.id and n.parent in (node.parent, node.id)]
    changed = promptfiles.changed_since(workspace, journal.base_commit, node.commit)
    return prompts.messages(
        "search_improve", results_file=engine.settings.run.results_file,
        files=promptfiles.baseline_text(workspace, journal.base_commit), task=promptfiles.task_text(workspace),
        files_changed=promptfiles.files_text(workspace, changed, note_unreadable=False),
        node=node.id, operator=node.operator, commit=node.commit[:12],
        path=" -> ".join(n.id for n in journal.path_to(node)), result=_line(journal, node),
        tried="\n".join(tried) or "(nothing yet)",
        instruction=f"\n\n{INSTRUCTION_HEADING}\n{instruction}" if instruction else "",
    )


def why_failed(engine: Engine, record_id: str) -> str:
    return failure_summary(engine.workspace, engine.run_record(record_id))
