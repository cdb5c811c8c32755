"""One reviewed change: the LLM proposes edits, the researcher reviews the diff, an accepted
change becomes one git commit. Implementation steps and debugging fixes both go through here.

A reply proposes a change as a `SUMMARY:` line, an optional `WHY:` paragraph and edit blocks
(see `edits.py`). An edit that does not apply is sent back with the reason, a few times, then
reported. A rejected change leaves the working tree exactly as it was.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

from ..errors import MlrError
from ..llm.base import Message
from ..work import Work
from ..workspace.paths import safe_path
from .edits import EditError, FileChange, apply_edits, holds_text, parse_edits, unified_diff, write_changes

log = logging.getLogger(__name__)

SUMMARY = re.compile(r"^\s*SUMMARY:\s*(.+)$", re.MULTILINE)
WHY = re.compile(r"^\s*WHY:\s*(.+?)(?:\n\s*\n|\Z)", re.MULTILINE | re.DOTALL)
_ids = itertools.count(1)


class EditFailedError(MlrError):
    pass


@dataclass(frozen=True)
class Proposal:
    id: str
    hypothesis: str
    step: str
    summary: str
    why: str
    changes: tuple[FileChange, ...]

    @property
    def diff(self) -> str:
        return unified_diff(self.changes)

    @property
    def paths(self) -> list[str]:
        return [c.path for c in self.changes]


@dataclass(frozen=True)
class Review:
    accepted: bool
    reason: str = ""
    # True when the reviewing client already put the new content on disk (or in its buffers)
    applied_by_client: bool = False


Reviewer = Callable[[Proposal], Awaitable[Review]]


@dataclass
class Outcome:
    proposal: Proposal
    review: Review
    commit: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def new_proposal_id() -> str:
    return f"p{int(time.time())}-{next(_ids)}"


async def propose(llm, messages: list[Message], workspace: Path, *, task: str, call: str,
                  retries: int, hypothesis: str, step: str, work: Work) -> Proposal | str:
    """Ask for a change; return the Proposal, or the reply itself when it holds no edit
    (the caller reads DONE / READ requests from it)."""
    history = list(messages)
    for attempt in range(retries + 1):
        work.check()
        reply = await llm.text(history, task=task, call=call)
        try:
            edits = parse_edits(reply)
            if not edits:
                return reply
            changes = await asyncio.to_thread(apply_edits, workspace, edits)
        except EditError as exc:
            if attempt == retries:
                raise EditFailedError(f"the proposed edit could not be applied after {retries + 1} tries: {exc}") from None
            history += [Message("assistant", reply), Message("user", f"That edit could not be applied: {exc}\nReply again with corrected edit blocks.")]
            continue
        if not changes:
            return reply
        summary = SUMMARY.search(reply)
        why = WHY.search(reply)
        return Proposal(
            id=new_proposal_id(), hypothesis=hypothesis, step=step,
            summary=(summary.group(1).strip() if summary else f"Edit {', '.join(c.path for c in changes)}")[:120],
            why=why.group(1).strip() if why else "",
            changes=tuple(changes),
        )
    raise AssertionError("unreachable")


def materialise(workspace: Path, changes: tuple[FileChange, ...]) -> None:
    """Put the accepted content on disk. A client may already have written some files; the
    rest must still hold what the change was computed from, else nothing is written."""
    pending = [c for c in changes if not holds_text(safe_path(workspace, c.path), c.after)]
    if pending:
        write_changes(workspace, pending)


def commit_message(proposal: Proposal, title: str) -> str:
    body = proposal.why or f"Part of the experiment for: {title}"
    return f"{proposal.summary}\n\n{body}"


async def review_and_commit(git, workspace: Path, proposal: Proposal, reviewer: Reviewer, *, title: str,
                            trailers: dict[str, str]) -> Outcome:
    started = time.perf_counter()
    review = await reviewer(proposal)
    reviewed = time.perf_counter()
    if not review.accepted:
        return Outcome(proposal, review, seconds={"review": reviewed - started})
    await asyncio.to_thread(materialise, workspace, proposal.changes)
    sha = await asyncio.to_thread(git.commit_paths, proposal.paths, commit_message(proposal, title), trailers)
    return Outcome(proposal, review, sha, seconds={"review": reviewed - started, "commit": time.perf_counter() - reviewed})
