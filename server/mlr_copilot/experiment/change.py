"""One reviewed change: the LLM proposes edits, the researcher reviews the diff, an accepted
change becomes one git commit. Implementation steps and debugging fixes both go through here.

A reply proposes a change as a `SUMMARY:` line, an optional `WHY:` paragraph and edit blocks
(see `edits.py`). An edit that does not apply, or names a path it may not touch, is sent back
with the reason, a few times, then reported. Among those paths are files git holds no copy of
(the user's untracked and ignored files, and tracked files with uncommitted changes): the agent
writes only over what it could restore. A rejected change leaves the working tree exactly
as it was. An accepted one is a recoverable transaction (`transaction.py`). A reviewer may accept only some files (an editor's refactor preview with changes
unticked): exactly what it applied is committed, or, if the commit fails, put back as it was.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MlrError
from ..llm.base import Message
from ..untrusted import visible
from ..work import Work
from ..workspace.paths import EditEscapeError, safe_path
from . import transaction
from .edit_blocks import Edit, EditError, FileChange, parse_edits
from .edits import apply_edits, holds_text, unified_diff, write_changes

if TYPE_CHECKING:
    from ..llm.client import LLM
    from ..workspace.git import GitWorkspace

log = logging.getLogger(__name__)

SUMMARY = re.compile(r"^\s*SUMMARY:\s*(.+)$", re.MULTILINE)
WHY = re.compile(r"^\s*WHY:\s*(.+?)(?:\n\s*\n|\Z)", re.MULTILINE | re.DOTALL)
_ids = itertools.count(1)


class EditFailedError(MlrError):
    pass


class CommitFailedError(MlrError):
    """An accepted change could not be committed; its files were put back as they were."""


class ForeignFileError(EditError):
    """A change would write over a file git holds no copy of, or add an ignored one."""


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
    # What the reviewer applied itself, when it did (an editor answering workspace/applyEdit):
    # each file's content after the review, None for a file that does not exist. A file that
    # still holds its content from before was left out. None: the whole change, not yet applied.
    applied: dict[str, str | None] | None = None


Reviewer = Callable[[Proposal], Awaitable[Review]]


@dataclass
class Outcome:
    proposal: Proposal
    review: Review
    commit: str | None = None
    committed: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def new_proposal_id() -> str:
    return f"p{int(time.time())}-{next(_ids)}"


def applicable(git: GitWorkspace, workspace: Path, edits: list[Edit], cancel: threading.Event | None = None) -> list[FileChange]:
    """The changes `edits` make, refused (`ForeignFileError`) where one would write a file that
    git could not give back. Setting `cancel` cuts a no-match hint's search short."""
    changes = apply_edits(workspace, edits, cancel)
    refused = git.refusals([c.path for c in changes])
    if refused:
        raise ForeignFileError("; ".join(refused.values()), next(iter(refused)))
    return changes


async def propose(llm: LLM, messages: list[Message], workspace: Path, *, git: GitWorkspace, task: str, call: str,
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
            changes = await asyncio.to_thread(applicable, git, workspace, edits, work.cancel)
        except (EditError, EditEscapeError) as exc:
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


def accepted_changes(proposal: Proposal, review: Review) -> tuple[list[FileChange], list[str]]:
    """The changes to commit as the reviewer applied them, and the paths it left out."""
    if review.applied is None:
        return list(proposal.changes), []
    taken, left_out = [], []
    for change in proposal.changes:
        now = review.applied.get(change.path, change.before)
        if now == change.before:
            left_out.append(change.path)
        else:
            taken.append(change.model_copy(update={"after": now}))
    return taken, left_out


def materialise(workspace: Path, changes: list[FileChange]) -> None:
    """Put the accepted content on disk. A client may already have written some files; the
    rest must still hold what the change was computed from, else nothing is written."""
    pending = [c for c in changes if not holds_text(safe_path(workspace, c.path), c.after)]
    if pending:
        write_changes(workspace, pending)


def restore(workspace: Path, changes: list[FileChange]) -> list[str]:
    """Put back the content from before `changes` wherever they are on disk; the paths that
    hold something else (changed again meanwhile) are left alone and returned."""
    undo, kept = [], []
    for change in changes:
        target = safe_path(workspace, change.path)
        if holds_text(target, change.after):
            undo.append(FileChange(path=change.path, before=change.after, after=change.before))
        elif not holds_text(target, change.before):
            kept.append(change.path)
    write_changes(workspace, undo)
    return kept


def _commit(git: GitWorkspace, workspace: Path, intent: transaction.Intent, changes: list[FileChange], message: str,
            trailers: dict[str, str]) -> str:
    try:
        intent = transaction.amend(workspace, intent, changes)
        materialise(workspace, changes)
        sha = git.commit_paths([c.path for c in changes], message, trailers)
    except Exception as exc:
        kept = restore(workspace, changes)
        transaction.close(workspace, intent)
        where = (f"; {', '.join(kept)} changed meanwhile and were left as they are" if kept
                 else "; the files are back as they were before the change")
        raise CommitFailedError(f"the accepted change could not be committed: {exc}{where}") from exc
    else:
        transaction.close(workspace, intent)
        return sha
    finally:
        transaction.abandon(intent)  # when it is neither committed nor back: the next start settles it


def commit_message(proposal: Proposal, title: str) -> str:
    """The LLM's summary and WHY, with their control characters made visible: git cannot take
    a NUL, and `git log` would hand an escape sequence to the user's terminal."""
    body = proposal.why or f"Part of the experiment for: {title}"
    return visible(f"{proposal.summary}\n\n{body}")


async def review_and_commit(git: GitWorkspace, workspace: Path, proposal: Proposal, reviewer: Reviewer, *, title: str,
                            trailers: dict[str, str]) -> Outcome:
    started = time.perf_counter()
    message = commit_message(proposal, title)
    # recorded before the reviewer sees it: an editor applies the change itself
    intent = await asyncio.to_thread(transaction.begin, git, list(proposal.changes), proposal.summary, message, trailers)
    try:
        review = await reviewer(proposal)
    except BaseException:
        transaction.abandon(intent)
        raise
    reviewed = time.perf_counter()
    changes, left_out = accepted_changes(proposal, review) if review.accepted else ([], [])
    if not changes:
        await asyncio.to_thread(transaction.close, workspace, intent)
        if review.accepted:
            review = Review(False, reason="the reviewer applied none of the changes")
        return Outcome(proposal, review, left_out=left_out, seconds={"review": reviewed - started})
    sha = await asyncio.to_thread(_commit, git, workspace, intent, changes, message, trailers)
    return Outcome(proposal, review, sha, committed=[c.path for c in changes], left_out=left_out,
                   seconds={"review": reviewed - started, "commit": time.perf_counter() - reviewed})
