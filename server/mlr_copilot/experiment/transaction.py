"""An accepted change as a recoverable transaction, so a process killed between writing the
change's files and committing them never leaves the user to clean up with git.

Before anything of a change is written (and before an editor is asked to apply it), its intent
is recorded under `.mlr/txn/<id>.json`: every file's content before and after, the branch, its
commit and the commit message. The record goes once the commit has landed, or once the files
are back as they were. A record left by a process that is gone is settled at the next agent
start (`settle`, called where the agent checks the tree is clean, by undo and at server start):

* the commit landed (the branch's next commit on the recorded parent has the recorded message):
  the record goes and nothing is touched;
* else the change is rolled back, file by file, where a file still differs from git and holds,
  byte for byte, what the change wrote. Rolled back rather than committed: the edit was never
  committed, so nothing is lost, and the agent proposes it again from its saved state;
* a file that holds anything else (changed by someone since) is never touched: the record stays
  and the agent refuses to start, naming the file, until it is committed or discarded.

Records of live processes (another CLI, another editor's server, a review still pending in
this process) are left alone. A record is workspace content, so untrusted: its paths pass
`safe_path`, and a file git already holds as it is on disk is never written.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from pydantic import BaseModel, ValidationError

from ..errors import MlrError
from ..runners.base import owner_alive, run_owner
from ..state import StateDir, write_json
from ..workspace.commits import format_message
from ..workspace.errors import DirtyTreeError
from ..workspace.git import GitWorkspace
from ..workspace.paths import safe_path
from .edit_blocks import FileChange
from .edits import holds_text, write_changes

log = logging.getLogger(__name__)

# Transactions of this process still under way (a review pending, a commit running): their
# records are not settled, even though their owner is alive and asks.
_open: set[str] = set()


class Intent(BaseModel):
    id: str
    owner_host: str
    owner_pid: int
    ref: str
    parent: str
    message: str
    summary: str
    files: list[FileChange]

    def path(self, workspace: Path) -> Path:
        return _folder(workspace) / f"{self.id}.json"


def _folder(workspace: Path) -> Path:
    return StateDir(workspace).transactions


def begin(git: GitWorkspace, changes: list[FileChange], summary: str, message: str, trailers: dict[str, str]) -> Intent:
    """Record the intent to write `changes` and commit them on the current branch."""
    host, pid = run_owner()
    sha, ref = git.head()
    intent = Intent(id=f"{pid}-{secrets.token_hex(4)}", owner_host=host, owner_pid=pid, ref=ref, parent=sha,
                    message=format_message(message, trailers), summary=summary, files=list(changes))
    _open.add(intent.id)
    StateDir(git.root).folder("txn")  # `.mlr/` ignoring itself
    write_json(intent.path(git.root), intent.model_dump(mode="json"))
    return intent


def amend(workspace: Path, intent: Intent, changes: list[FileChange]) -> Intent:
    """The intent narrowed to what the reviewer accepted, saved where it differs."""
    if changes == intent.files:
        return intent
    intent = intent.model_copy(update={"files": list(changes)})
    write_json(intent.path(workspace), intent.model_dump(mode="json"))
    return intent


def close(workspace: Path, intent: Intent) -> None:
    """The change is committed, or its files are back: nothing is left to settle."""
    intent.path(workspace).unlink(missing_ok=True)
    _open.discard(intent.id)


def abandon(intent: Intent) -> None:
    """This process leaves the change where it is; the next agent start settles its record."""
    _open.discard(intent.id)


class InterruptedEditError(DirtyTreeError):
    pass


def settle(git: GitWorkspace) -> None:
    """Finish every change a process that is gone left between its files and its commit;
    `InterruptedEditError` names the files someone changed since, which are left alone."""
    folder = _folder(git.root)
    if not folder.is_dir():
        return
    stuck: list[tuple[Intent, list[str]]] = []
    for path in sorted(folder.glob("*.json")):
        try:
            intent = Intent.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as exc:
            log.warning("ignoring the unreadable change record %s: %s", path, str(exc).splitlines()[0])
            continue
        if _live(intent):
            continue
        kept = _settle_one(git, intent)
        if kept:
            stuck.append((intent, kept))
        else:
            path.unlink(missing_ok=True)
    if stuck:
        paths = [rel for _, kept in stuck for rel in kept]
        changes = "; ".join(f"'{intent.summary}' ({intent.path(git.root)})" for intent, _ in stuck)
        raise InterruptedEditError(
            f"MLR-Copilot was stopped while committing a change ({changes}), and {', '.join(paths)} changed "
            "again since; they were left as they are. Commit them to keep that content, or discard it "
            f"(git checkout -- {' '.join(paths)}), then try again", paths)


def _live(intent: Intent) -> bool:
    if (intent.owner_host, intent.owner_pid) == run_owner():
        return intent.id in _open
    return owner_alive(intent.owner_host, intent.owner_pid)


def _settle_one(git: GitWorkspace, intent: Intent) -> list[str]:
    """Roll back what can be rolled back; return the files left alone because they changed."""
    landed = git.message_on_top_of(intent.parent, intent.ref)
    if landed is not None and landed.strip() == intent.message.strip():
        log.info("the interrupted change '%s' was committed; its record is removed", intent.summary)
        return []
    try:
        targets = {change.path: safe_path(git.root, change.path) for change in intent.files}
    except MlrError as exc:
        log.warning("ignoring the change record %s: %s", intent.path(git.root), exc)
        return []
    differ = git.path_codes(list(targets))
    back, kept = [], []
    for change in intent.files:
        target = targets[change.path]
        if change.path not in differ or holds_text(target, change.before):
            continue
        if holds_text(target, change.after):
            back.append(FileChange(path=change.path, before=change.after, after=change.before))
        else:
            kept.append(change.path)
    write_changes(git.root, back)
    git.forget_additions([c.path for c in back if c.after is None])
    if back:
        log.warning("rolled back the interrupted change '%s' (%s); the agent proposes it again",
                    intent.summary, ", ".join(c.path for c in back))
    return kept
