"""The workspace as a git repository: a branch per hypothesis, a commit per accepted edit.

Policy for the user's own changes (nothing here ever touches the user's uncommitted files):

* The agent refuses to start (`check_clean_for_agent`, `DirtyTreeError` listing the paths)
  while any tracked file is modified, deleted or staged, so its edits never mix with work
  the user has not committed. Untracked files are allowed and are never swept into an agent
  commit: `commit_paths` commits exactly the paths of the accepted edit and nothing else.
* `commit_paths` refuses while the user has anything staged, and commits with
  `git commit --only`, which builds the commit in a temporary index under the index lock, so
  even a race with the user's `git add` cannot leak into it. It never adds an ignored file,
  and every path reaches git literally (no glob, no pathspec magic).
* The agent writes only over what git could give back (`refusals`): a tracked file without
  uncommitted changes, or a new path git does not ignore. The user's untracked and ignored
  files exist nowhere else, so they are never written, deleted or committed.
* It also refuses on a detached HEAD (`DetachedHeadError`), during a merge, rebase,
  cherry-pick, revert or bisect (`OperationInProgressError`) and in a repository without
  commits (`NoCommitsError`).
* Undo never rewrites history: it adds a revert commit (trailer `MLR-Reverts: <sha>`), and
  refuses if the files it would touch have uncommitted changes.
* `ensure_repo(init=True)` commits the existing files as "Starter code", respecting
  .gitignore; files over 20 MB and secrets files (`.env`, `.env.*`, credentials, private keys,
  see `paths.SECRET_NAME`) are listed in `.git/info/exclude` instead of being committed.
* Agent commits do not run the user's commit hooks, and use the configured git identity, or
  `MLR-Copilot <mlr-copilot@localhost>` where none is configured.
* Every git command runs as `gitsafe` builds it: no hook, fsmonitor, pager, filter, textconv
  or other program the repository's own configuration names is ever run.

Agent commits carry trailers such as `MLR-Hypothesis: h1` and `MLR-Step: 2`; run records are
attached with git notes under `refs/notes/mlr`, so `git log --notes=mlr` shows them.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from contextlib import closing
from pathlib import Path

from mlr_copilot.state import StateDir
from mlr_copilot.workspace import gitsafe
from mlr_copilot.workspace.commits import (
    HYPOTHESIS_TRAILER,
    REVERTS_TRAILER,
    CommitInfo,
    format_message,
    walk_log,
)
from mlr_copilot.workspace.errors import (
    DirtyTreeError,
    GitWorkspaceError,
    NoCommitsError,
    NotARepositoryError,
    NothingToUndoError,
    list_paths,
)
from mlr_copilot.workspace.paths import relative_posix
from mlr_copilot.workspace.refs import check_branch_name, commit_of
from mlr_copilot.workspace.repo import GitRepo, Head, porcelain_paths

log = logging.getLogger(__name__)

_REVERTS_LINE = re.compile(r"This reverts commit ([0-9a-f]{40})")


class GitWorkspace(GitRepo):
    """The agent's changes to the workspace's repository, under the policy above."""

    def ensure_repo(self, init: bool = False) -> None:
        """Check the workspace is a repository with a first commit; with `init`, make both."""
        # GitPython (starter.py's): only the commands that may make a repository
        from mlr_copilot.workspace.starter import init_repository, inside_other_repo

        try:
            _ = self.git_dir  # opening it checks the folder is a repository's top level
        except NotARepositoryError:
            if not init or inside_other_repo(self.root):
                raise
            init_repository(self.root)
        if self._has_commits():
            return
        if not init:
            raise NoCommitsError(
                f"the git repository {self.root} has no commits yet. Commit your starting code "
                "(`git add -A && git commit -m 'Starter code'`) or let MLR-Copilot make that first commit."
            )
        self._starter_commit()

    def _starter_commit(self) -> None:
        from mlr_copilot.workspace.starter import STARTER_MESSAGE, append_exclusions, exclusions

        StateDir(self.root).ensure()
        listed = self._git("ls-files", "-o", "--exclude-standard", "-z", strip=False)
        sections = exclusions(self.root, [rel for rel in listed.split("\0") if rel])
        if sections:
            exclude = Path(self._git("rev-parse", "--git-path", "info/exclude"))
            append_exclusions(exclude if exclude.is_absolute() else self.root / exclude, sections)
        self._git("add", "-A", "--", ".")
        self._git("commit", "-q", "--no-verify", "--allow-empty", "-m", STARTER_MESSAGE, env=self._identity_env())
        log.info("committed the starter code in %s", self.root)

    def check_clean_for_agent(self) -> Head:
        """Raise unless the agent may start: on a branch, no operation under way, no tracked
        changes. Returns where HEAD is. An accepted change a killed process left half-written is
        settled first (see `experiment/transaction.py`): it is the agent's, not the user's."""
        head = self._check_state()
        self._settle()
        changed = self._tracked_changes()
        if changed:
            raise DirtyTreeError(
                f"{len(changed)} tracked file(s) have uncommitted changes in {self.root}: "
                f"{list_paths(changed)}. Commit or stash them first so MLR-Copilot's edits "
                "never mix with yours (untracked files are fine).",
                changed,
            )
        return head

    def checkout_branch(self, name: str, base: str | None = None) -> None:
        """Switch to branch `name`, creating it from `base` (default: the current HEAD)."""
        head = self.check_clean_for_agent()
        # Checked even when it exists: a cloned repository can hold a branch named `-f`, which
        # `checkout` would take for an option (it has no working `--end-of-options`).
        name = check_branch_name(name)
        # show-ref matches refs exactly, where rev-parse would also take `main~1` for a branch.
        if self._git_ok("show-ref", "--verify", "-q", f"refs/heads/{name}") is not None:
            if head.ref != f"refs/heads/{name}":
                self._git("checkout", "-q", name, "--")
            return
        start = commit_of(self.root, base) if base is not None else "HEAD"
        self._git("checkout", "-q", "-b", name, start, "--")

    # -- commits --------------------------------------------------------------------------

    def commit_paths(self, paths: list[str], message: str, trailers: dict[str, str] | None = None) -> str:
        """Commit exactly `paths` (new, modified or deleted) as they are on disk; return the sha.

        `git commit --only` builds the commit in a temporary index made from HEAD and these
        paths, holding the index lock throughout, so nothing else the user has can reach it;
        afterwards the user's index matches the commit for these paths. New paths are recorded
        as intended additions first, which `git reset` takes back if the commit still fails.
        """
        head = self._check_state()
        if not paths:
            raise GitWorkspaceError("no files to commit")
        rels = sorted({relative_posix(self.root, p) for p in paths})
        staged = self._staged_paths()
        if staged:
            raise DirtyTreeError(
                f"the index has staged changes ({list_paths(staged)}); MLR-Copilot commits only its own "
                "edits, so unstage those first (`git restore --staged <file>`) or commit them",
                staged,
            )
        present = self._regular_files(rels)
        # git trusts a file whose size and time match its index entry; a file rewritten with
        # the same size and its old time kept (a copy that preserves times) would look unchanged.
        # Its time set to now makes git read the content.
        for rel in present:
            os.utime(self.root / rel)
        args = ("commit", "--quiet", "--only", "--no-verify", "--no-gpg-sign", "--cleanup=verbatim",
                "-m", format_message(message, trailers or {}), "--", *rels)
        env = self._identity_env()
        try:
            self._git(*args, env=env)
        except GitWorkspaceError as exc:
            self._commit_with_additions(args, env, head, rels, present, exc)
        return self.head_sha()

    def _regular_files(self, rels: list[str]) -> list[str]:
        """Those of `rels` on disk (the others are deletions); an error for any not a regular file."""
        present = []
        for rel in rels:
            try:
                info = (self.root / rel).lstat()
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(info.st_mode):
                raise GitWorkspaceError(f"cannot commit {rel}: it is not a regular file")
            present.append(rel)
        return present

    def _commit_with_additions(self, args: tuple[str, ...], env: dict[str, str], head: Head, rels: list[str],
                               present: list[str], failure: GitWorkspaceError) -> None:
        """`commit --only` knows no untracked path: record the new ones as intended additions
        and try once more (only a step that adds files pays for this)."""
        new = self._untracked(present)
        if not new:
            raise self._uncommitted(head, rels, failure) from None
        ignored = self._ignore_rules(new)
        if ignored:
            # never forced in: an ignored file may hold secrets or data the user keeps out of git
            raise GitWorkspaceError(f"cannot commit {list_paths(sorted(ignored))}: ignored by git "
                                    f"({'; '.join(ignored.values())}); MLR-Copilot never adds an ignored file")
        self._git("add", "--intent-to-add", "--", *new)
        try:
            self._git(*args, env=env)
        except GitWorkspaceError as exc:
            self._git("reset", "--quiet", "--", *new)
            raise self._uncommitted(head, rels, exc) from None

    def _untracked(self, rels: list[str]) -> list[str]:
        out = self._git("ls-files", "-z", "--", *rels, strip=False) if rels else ""
        tracked = set(filter(None, out.split("\0")))
        return [rel for rel in rels if rel not in tracked]

    def _uncommitted(self, head: Head, rels: list[str], failure: GitWorkspaceError) -> GitWorkspaceError:
        """The commit's failure, named as such when the paths have nothing to commit."""
        if self._git_ok("diff", "--quiet", "--no-ext-diff", "--no-textconv", gitsafe.NO_SUBMODULES, head.sha, "--", *rels) is not None:
            return GitWorkspaceError(f"nothing to commit: {list_paths(rels)} already match the last commit")
        return failure

    # -- undo -----------------------------------------------------------------------------

    def last_agent_commit(self) -> CommitInfo | None:
        """The newest commit on this branch with an `MLR-Hypothesis` trailer not yet reverted.

        Reverts made by undo carry `MLR-Reverts`; a user's own `git revert` is recognised by
        the "This reverts commit <sha>" line git writes. The log is read only back to that
        commit (at most 10 000 commits back).
        """
        if self._read_head()[0] is None:
            return None
        reverted: set[str] = set()
        with closing(walk_log(self.root, "--max-count=10000", "HEAD", "--", body=True)) as commits:
            for commit, body in commits:
                undone = commit.trailers.get(REVERTS_TRAILER)
                if not undone and HYPOTHESIS_TRAILER not in commit.trailers:
                    # only a commit of the user's own: an agent commit's message quotes the LLM,
                    # which could name any commit as reverted
                    undone = next(iter(_REVERTS_LINE.findall(body)), None)
                if undone:
                    reverted.add(undone)
                    continue
                if HYPOTHESIS_TRAILER in commit.trailers and commit.sha not in reverted:
                    return commit
        return None

    def _settle(self) -> None:
        """`experiment/transaction.settle`, its module (pydantic, the run machinery) loaded only
        when a change is waiting: `undo` starts without them."""
        if StateDir(self.root).transactions.is_dir():
            from mlr_copilot.experiment.transaction import settle

            settle(self)

    def undo_last_agent_commit(self) -> str:
        """Revert the last agent commit with a new commit; return its sha."""
        head = self._check_state()
        self._settle()
        target = self.last_agent_commit()
        if target is None:
            raise NothingToUndoError(f"no MLR-Copilot commit to undo on branch {head.ref.removeprefix('refs/heads/')}")
        staged = self._staged_paths()
        touched = set(self.changed_paths(target.sha))
        status = self._git("status", "--porcelain=v1", "-z", "--untracked-files=all", gitsafe.NO_SUBMODULES, strip=False)
        blocking = sorted({p for code, p in porcelain_paths(status) if p in touched} | set(staged))
        if blocking:
            raise DirtyTreeError(
                f"cannot undo {target.short} ({target.subject!r}): {list_paths(blocking)} have uncommitted "
                "changes; commit or stash them first",
                blocking,
            )
        env = self._identity_env()
        try:
            self._git("revert", "--no-commit", target.sha, env=env)
        except GitWorkspaceError as exc:
            # Only a revert that stopped on conflicts leaves REVERT_HEAD; anything else (a held
            # index.lock, a file in the way) is named as git named it.
            if not (self.git_dir / "REVERT_HEAD").exists():
                raise GitWorkspaceError(f"cannot undo {target.short} ({target.subject!r}): {exc}") from None
            self._git_ok("revert", "--abort")
            raise GitWorkspaceError(
                f"cannot undo {target.short} ({target.subject!r}) cleanly, later commits changed the same "
                f"lines; nothing was changed. Details: {exc}"
            ) from None
        message = format_message(
            f'Revert "{target.subject}"\n\nThis reverts commit {target.sha}.', {REVERTS_TRAILER: target.sha}
        )
        try:
            self._git("commit", "-q", "--no-verify", "-m", message, env=env)
        except GitWorkspaceError:
            self._git_ok("revert", "--abort")
            raise
        return self.head_sha()

