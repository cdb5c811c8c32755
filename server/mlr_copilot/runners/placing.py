"""Where a run executes: the exact tree of its commit in a worktree of its own
(`workspace/worktrees.py`), never the user's checkout.

Policy:

* The commit is `rev` when one is given (a branch, a tag, a sha: no checkout needed), else the
  checkout's working copy: HEAD itself when nothing is uncommitted, else a hidden snapshot
  commit of it (`workspace/snapshot.py`, a ref under `refs/mlr/snapshots/`), so a run of a
  dirty tree is isolated and reproducible too. The user's HEAD, index and files are untouched.
* A workspace that is not a git repository with a commit has no tree to check out: its runs
  execute in the folder itself, as they always did, and their records have no commit.
* A results file the commit itself holds is left over from an earlier run: its time is set to
  the epoch in the worktree, so the run's judge tells it from one the run writes.
* The worktree is handed back to the pool of reused ones (`workspace/worktree_pool.py`,
  `run.reuseWorktrees`) or removed when the run ends, however it ends; a clean-up or removal
  that fails is a warning of the run (the next start's `prune` retries it), never its failure.
* What the run keeps goes to `.mlr/runs/<run-id>/` (`MLR_OUTPUT_DIR`); an empty one is removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..state import STATE_DIR
from ..workspace import gitsafe, worktree_pool, worktrees
from ..workspace.commits import BRANCH_PREFIX, head_info
from ..workspace.refs import BadRefError, commit_of
from ..workspace.snapshot import snapshot
from .supervise import Placement

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlotUse:
    """The slot a run held: its index, its GPUs, and how long the run waited for it."""

    index: int
    gpu_ids: tuple[str, ...]
    wait_s: float


@dataclass(frozen=True)
class Source:
    """The code a run executes, as its record tells it."""

    commit: str | None
    branch: str | None
    dirty: bool
    uncommitted: bool = False
    snapshot_ref: str | None = None
    snapshot_of: str | None = None


def source(workspace: Path, run_id: str, rev: str | None, branch: str | None = None) -> Source:
    """The commit `rev` names, else the checkout's working copy (snapshotted when it holds
    uncommitted work). `branch`: the branch `rev` was taken from, when the caller knows it.
    WorktreeError (one line) for a `rev` that names no commit."""
    if rev is not None:
        try:
            commit = commit_of(workspace, rev)
        except BadRefError as exc:
            raise worktrees.WorktreeError(f"cannot run {rev!r}: {exc}") from None
        return Source(commit, branch or _branch_at(workspace, rev, commit), dirty=False)
    head = head_info(workspace)
    if head is None:
        return Source(None, None, dirty=False)
    if not head.dirty and not _untracked(workspace):
        # the common case (agents commit before they run): one git process instead of seven
        return Source(head.commit, head.branch, dirty=False)
    shot = snapshot(workspace, run_id)
    return Source(shot.commit, head.branch, head.dirty, shot.uncommitted, shot.ref,
                  head.commit if shot.uncommitted else None)


def _branch_at(workspace: Path, rev: str, commit: str) -> str | None:
    """The branch a run of `rev` is of: `rev` itself when it names a local branch. A sha (or a
    tag), as batches and auto runs pass for a branch head fixed in advance, names none; then the
    branch is inferred when it is unambiguous: exactly one branch with `commit` at its head that
    is a hypothesis branch (`mlr/*`) or the current one. Two such branches (a hypothesis branch
    not yet moved from the base branch) leave it unknown rather than guessed."""
    listed = gitsafe.run_text(workspace, "for-each-ref", "--format=%(HEAD)%(objectname) %(refname:short)",
                              "refs/heads/")
    if listed.returncode != 0:
        return None
    candidates: set[str] = set()
    for line in listed.stdout.splitlines():
        sha, _, name = line[1:].partition(" ")
        if name == rev:
            return rev
        if sha == commit and (line.startswith("*") or name.startswith(BRANCH_PREFIX)):
            candidates.add(name)
    return candidates.pop() if len(candidates) == 1 else None


def _untracked(workspace: Path) -> bool:
    """Whether the working copy may hold untracked files a snapshot would take (outside
    `.mlr/`; `snapshot` decides on the rest)."""
    listed = gitsafe.run(workspace, "ls-files", "-z", "--others", "--exclude-standard", "--directory",
                         "--no-empty-directory")
    if listed.returncode != 0:
        return True
    return any(path and not path.startswith(STATE_DIR.encode() + b"/") for path in listed.stdout.split(b"\0"))


@contextlib.contextmanager
def placed(workspace: Path, run_id: str, commit: str | None, results_file: str,
           gpu_ids: tuple[str, ...] | None, warnings: list[str], *, pool: int = 0,
           slot: int = 0) -> Iterator[Placement | None]:
    """`commit` checked out for run `run_id` while the block runs (None without a commit: the
    run executes in the workspace), in a worktree of a pool of `pool` reused ones (`slot`'s
    first; 0: a worktree of its own); a clean-up or removal that fails is added to `warnings`."""
    if commit is None:
        yield None
        return
    with worktree_pool.leased(workspace, run_id, commit, pool, slot, warnings) as tree:
        _backdate(tree.path, results_file)
        yield Placement(tree=tree.path, commit=commit, output_dir=worktrees.output_dir(workspace, run_id),
                        env=worktrees.run_env(tree, {}), gpu_ids=gpu_ids)


def _backdate(tree: Path, results_file: str) -> None:
    path = (tree / results_file).resolve()
    if path.is_relative_to(tree) and path.is_file():
        os.utime(path, (0, 0))


def kept_outputs(workspace: Path, run_id: str) -> str | None:
    """The run's outputs folder, workspace-relative, when the run left something in it; an
    empty one is removed."""
    folder = worktrees.output_dir(workspace, run_id)
    if any(folder.iterdir()):
        return folder.relative_to(workspace).as_posix()
    with contextlib.suppress(OSError):
        folder.rmdir()
    return None
