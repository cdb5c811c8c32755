"""The workspace's repository as git shows it: every git command run through `gitsafe`, where
HEAD is, what the user has changed, what the agent may write, and the commits to read.

`GitWorkspace` (`workspace/git.py`) adds what changes the repository; its docstring states the
policy for the user's own changes.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path
from typing import NamedTuple

from mlr_copilot.workspace import gitsafe
from mlr_copilot.workspace.commits import DEFAULT_IDENTITY, CommitInfo, log_format, parse_log
from mlr_copilot.workspace.diffs import diff_between
from mlr_copilot.workspace.errors import (
    DetachedHeadError,
    GitWorkspaceError,
    NoCommitsError,
    NotARepositoryError,
    OperationInProgressError,
)
from mlr_copilot.workspace.stalelocks import clear_stale_locks

_IGNORE_RULE = re.compile(r"(.+?):(\d+):(.*)")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_LOCKED = re.compile(r"\.lock'?: File exists|cannot lock ref")
# Refs that live in each worktree's own git folder rather than the shared one.
_WORKTREE_REFS = ("refs/worktree/", "refs/bisect/", "refs/rewritten/")
log = logging.getLogger(__name__)
LOCK_WAIT_S = 10.0
LOCK_RETRY_S = 0.1

# Every path handed to git here names one file: a file the LLM called `*.py` must not match
# the user's other files as a glob would.
_LITERAL = {"GIT_LITERAL_PATHSPECS": "1"}


class Head(NamedTuple):
    sha: str
    ref: str


def porcelain_paths(status: str) -> list[tuple[str, str]]:
    """(two-letter status, path) pairs from `git status --porcelain=v1 -z`."""
    entries = status.split("\0")
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        out.append((code, path))
        if code[0] in "RC":
            i += 1  # the rename's source path follows as its own field
    return out


class GitRepo:
    """Git on one workspace whose root is the repository's top level."""

    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()
        self._dirs: tuple[Path, Path] | None = None
        self._identity: dict[str, str] | None = None

    # -- plumbing -------------------------------------------------------------------------
    # Plain git processes (no GitPython: importing it and its `git version` checks were most of
    # the start-up of `undo`).

    @property
    def git_dir(self) -> Path:
        """The repository's git folder (a linked worktree's own); opening it checks the
        workspace is a repository's top level."""
        return self._open()[0]

    @property
    def common_dir(self) -> Path:
        """The git folder the worktrees share (their refs, objects and configuration)."""
        return self._open()[1]

    def _open(self) -> tuple[Path, Path]:
        if self._dirs is not None:
            return self._dirs
        if not self.root.is_dir():
            raise NotARepositoryError(f"{self.root} is not a folder")
        done = gitsafe.run(self.root, "rev-parse", "--show-toplevel", "--absolute-git-dir", "--git-common-dir")
        lines = done.stdout.decode("utf-8", "surrogateescape").splitlines()
        said = done.stderr.decode("utf-8", "replace").strip()
        if done.returncode != 0 and said and "not a git repository" not in said:
            # a repository git refuses to open (another user's, a broken one): in git's words
            raise NotARepositoryError(f"git cannot open the repository at {self.root}: {said.splitlines()[-1]}")
        if done.returncode != 0 or len(lines) != 3:
            raise NotARepositoryError(
                f"{self.root} is not a git repository. MLR-Copilot records every accepted edit as a "
                "git commit: run `git init` there and commit your starting code, or let "
                "MLR-Copilot initialise it (it commits the current files as \"Starter code\")."
            )
        top = Path(lines[0]).resolve()
        if top != self.root:
            raise NotARepositoryError(
                f"{self.root} is inside the git repository {top}, not its top level; "
                f"open {top} as the workspace instead"
            )
        self._dirs = (Path(lines[1]), (self.root / lines[2]).resolve())
        return self._dirs

    def _execute(self, args: tuple[str, ...], env: dict[str, str], strip: bool = True) -> tuple[str | None, str]:
        """(stdout, None when git failed; what git said on failure) of `git ARGS` in the
        workspace; a trailing newline is stripped unless `strip` is false."""
        self._open()
        done = gitsafe.run(self.root, *args, env=env)
        out = done.stdout.decode("utf-8", "surrogateescape")
        if done.returncode != 0:
            said = (done.stderr or done.stdout).decode("utf-8", "surrogateescape").strip()
            return None, said or f"exit code {done.returncode}"
        return (out[:-1] if strip and out.endswith("\n") else out), ""

    def _git(self, *args: str, env: dict[str, str] | None = None, strip: bool = True) -> str:
        waited = 0.0
        swept = False
        while True:
            out, detail = self._execute(args, {**_LITERAL, **(env or {})}, strip)
            if out is not None:
                return out
            # An editor's git integration refreshes its status in the background and holds
            # index.lock (or a ref lock) for a moment; the failed command changed nothing.
            if not _LOCKED.search(detail):
                raise GitWorkspaceError(f"git {args[0]} failed in {self.root}: {detail}")
            if waited >= LOCK_WAIT_S and not swept:
                # a git killed just before this command began (with the command that started
                # it) left its lock too young to be judged stale at the start; it is old enough now
                swept = True
                removed = [w for w in clear_stale_locks(self.root) if w.startswith("removed ")]
                for warning in removed:
                    log.warning("%s", warning)
                if removed:
                    continue
            if waited >= LOCK_WAIT_S:
                raise GitWorkspaceError(
                    f"git {args[0]} failed in {self.root}: another git process held a lock for "
                    f"{LOCK_WAIT_S:g} s ({detail.splitlines()[0]}). If no git command is running there, remove "
                    "the stale .lock file it names and try again."
                )
            time.sleep(LOCK_RETRY_S)
            waited += LOCK_RETRY_S

    def _git_ok(self, *args: str) -> str | None:
        """Output of a git command that may legitimately fail (lookups), None on failure."""
        return self._execute(args, _LITERAL)[0]

    def _identity_env(self) -> dict[str, str]:
        """Author/committer variables, set to MLR-Copilot only where git has no identity."""
        if self._identity is None:
            env: dict[str, str] = {}
            for role in ("AUTHOR", "COMMITTER"):
                if self._git_ok("-c", "user.useConfigOnly=true", "var", f"GIT_{role}_IDENT") is None:
                    env[f"GIT_{role}_NAME"], env[f"GIT_{role}_EMAIL"] = DEFAULT_IDENTITY
            self._identity = env
        return self._identity

    # -- where HEAD is ---------------------------------------------------------------------

    def _has_commits(self) -> bool:
        return self._git_ok("rev-parse", "--verify", "-q", "HEAD^{commit}") is not None

    def _operation_in_progress(self) -> str | None:
        git_dir = self.git_dir
        markers = {
            "MERGE_HEAD": "a merge",
            "CHERRY_PICK_HEAD": "a cherry-pick",
            "REVERT_HEAD": "a revert",
            "rebase-merge": "a rebase",
            "rebase-apply": "a rebase or `git am`",
            "BISECT_LOG": "a bisect",
        }
        for name, what in markers.items():
            if (git_dir / name).exists():
                return what
        return None

    def head_sha(self) -> str:
        sha, _ = self._read_head()
        if sha is None:
            raise NoCommitsError(f"the git repository {self.root} has no commits yet")
        return sha

    def head(self) -> tuple[str, str]:
        """(HEAD's commit, its branch ref), or the reason the agent may not commit there."""
        return self._check_state()

    def current_branch(self) -> str | None:
        """The checked-out branch's short name, or None on a detached HEAD."""
        ref = self._git_ok("symbolic-ref", "-q", "HEAD")
        return ref.removeprefix("refs/heads/") if ref else None

    def _check_state(self) -> Head:
        what = self._operation_in_progress()
        if what:
            raise OperationInProgressError(
                f"{what} is in progress in {self.root}; finish or abort it before MLR-Copilot changes anything"
            )
        sha, ref = self._read_head()
        if sha is None:
            raise NoCommitsError(
                f"the git repository {self.root} has no commits yet; commit your starting code first"
            )
        if ref is None:
            raise DetachedHeadError(
                f"HEAD is detached in {self.root}; check out a branch (`git switch <branch>`) so "
                "MLR-Copilot's commits land on it"
            )
        return Head(sha, ref)

    def _read_head(self) -> tuple[str | None, str | None]:
        """(HEAD's commit, None before the first; the branch ref it is on, None if detached).

        Read from the repository's files: an agent step commits in a few git processes and
        this spares one. A reftable repository, which has no such files, is asked with rev-parse.
        """
        if (self.common_dir / "reftable").is_dir():
            out = self._git_ok("rev-parse", "--symbolic-full-name", "HEAD", "HEAD")
            if out is None:
                sha, ref = None, self._git_ok("symbolic-ref", "-q", "HEAD")
            else:
                ref, sha = out.split()
        else:
            head = self._ref_file("HEAD")
            ref = head.removeprefix("ref: ") if head and head.startswith("ref: ") else None
            sha = self._resolve(ref) if ref else head if head and _SHA.fullmatch(head) else None
        # A HEAD on anything but a local branch is as good as detached for an agent commit.
        return sha, ref if ref and ref.startswith("refs/heads/") else None

    def _ref_file(self, ref: str) -> str | None:
        """The content of `ref`'s own file (HEAD and the worktree's refs in its git folder, the
        others in the shared one), else its line of packed-refs; None for no such ref."""
        shared = ref.startswith("refs/") and not ref.startswith(_WORKTREE_REFS)
        try:
            return ((self.common_dir if shared else self.git_dir) / ref).read_text(encoding="utf-8").strip()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            pass
        try:
            packed = (self.common_dir / "packed-refs").read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return next((line.split(" ", 1)[0] for line in packed.splitlines() if line.endswith(f" {ref}")
                     and not line.startswith(("#", "^"))), None)

    def _resolve(self, ref: str) -> str | None:
        """The commit `ref` names through any symbolic refs; None for an unborn branch."""
        for _ in range(5):  # git's own limit on symbolic refs pointing at symbolic refs
            value = self._ref_file(ref)
            if value is None or not value.startswith("ref: "):
                return value if value and _SHA.fullmatch(value) else None
            ref = value.removeprefix("ref: ")
        return None

    # -- the user's changes, and what the agent may write ----------------------------------

    def _tracked_changes(self) -> list[str]:
        status = self._git("status", "--porcelain=v1", "-z", "--untracked-files=no", gitsafe.NO_SUBMODULES, strip=False)
        return [path for _, path in porcelain_paths(status)]

    def _staged_paths(self) -> list[str]:
        out = self._git("diff-index", "--cached", "--name-only", "-z", "HEAD", "--", strip=False)
        return [p for p in out.split("\0") if p]

    def path_codes(self, rels: list[str]) -> dict[str, str]:
        """Each of `rels` that differs from HEAD with its porcelain code (`??` untracked, `!!`
        ignored, else a tracked change); clean tracked paths and absent ones are left out."""
        if not rels:
            return {}
        out = self._git("status", "--porcelain=v1", "-z", "--ignored=matching", "--untracked-files=all",
                        "--", *rels, strip=False)
        codes: dict[str, str] = {}
        for code, path in porcelain_paths(out):
            # an ignored or untracked folder is listed as itself, for every file inside it
            for rel in rels:
                if rel == path or (path.endswith("/") and rel.startswith(path) and os.path.lexists(self.root / rel)):
                    codes[rel] = code
        return codes

    def _ignore_rules(self, rels: list[str]) -> dict[str, str]:
        """The ignore rule (`source:line: pattern`) of each of `rels` git would not add."""
        if not rels:
            return {}
        # one line per path, in order ("::" where none matches); check-ignore knows no
        # pathspec magic, and takes each path as written
        out = self._execute(("check-ignore", "-v", "--non-matching", "--", *rels), {"GIT_LITERAL_PATHSPECS": "0"})[0]
        if out is None:
            return {}
        rules = (_IGNORE_RULE.match(line.rsplit("\t", 1)[0]) for line in out.splitlines())
        return {rel: f"{rule[1]}:{rule[2]}: {rule[3]}" for rel, rule in zip(rels, rules) if rule}

    def refusals(self, rels: list[str]) -> dict[str, str]:
        """Why the agent may not write each of `rels` that it may not write, as one line for the
        user and the LLM alike. The agent writes only over what git holds: a path must be a
        tracked file without uncommitted changes, or a new path git does not ignore. An untracked
        or ignored file exists nowhere but on disk, so overwriting it would destroy it."""
        codes = self.path_codes(rels)
        absent = [rel for rel in rels if rel not in codes and not os.path.lexists(self.root / rel)]
        ignored = self._ignore_rules(absent)
        leave = "or leave it out of the change"
        why: dict[str, str] = {}
        for rel in rels:
            code = codes.get(rel)
            if code == "??":
                why[rel] = (f"refused {rel}: it is an untracked file of yours that git has no copy of, and MLR-Copilot "
                            f"never writes over a file it did not create; commit it or move it first, {leave}")
            elif code == "!!":
                why[rel] = (f"refused {rel}: it is ignored by git, so git has no copy of it, and MLR-Copilot never "
                            f"writes over or commits an ignored file; commit it (git add -f) or move it first, {leave}")
            elif code:
                why[rel] = (f"refused {rel}: it has uncommitted changes of yours; commit or stash them first, {leave}")
            elif rel in ignored:
                why[rel] = (f"refused {rel}: the path is ignored by git ({ignored[rel]}) and MLR-Copilot never adds "
                            f"an ignored file to a commit; use another path, {leave}")
        return why

    def forget_additions(self, rels: list[str]) -> None:
        """Drop the index entries of new files that are gone again (intended additions left by
        an interrupted commit), so they do not read as the user's staged changes."""
        if rels:
            self._git("reset", "--quiet", "--", *rels)

    # -- reading commits -------------------------------------------------------------------

    def message_on_top_of(self, parent: str, ref: str) -> str | None:
        """The full message of the commit made on branch `ref` directly on `parent`, if any: how
        an interrupted agent commit is told from one that landed."""
        if not (_SHA.fullmatch(parent) and ref.startswith("refs/heads/")):
            return None
        out = self._git_ok("rev-list", "--first-parent", "--reverse", "--parents", f"{parent}..{ref}", "--")
        first = (out or "").split("\n", 1)[0].split()
        if len(first) < 2 or first[1] != parent:
            return None
        return self._git_ok("log", "-1", "--format=%B", first[0], "--")

    def log(self, branch: str | None = None, limit: int = 50) -> list[CommitInfo]:
        return [commit for commit, _ in self._log(branch, limit)]

    def _log(self, branch: str | None, limit: int, body: bool = False) -> list[tuple[CommitInfo, str]]:
        rev = branch or "HEAD"
        if rev == "HEAD" and not self._has_commits():
            return []
        return parse_log(self._git("log", f"--max-count={limit}", log_format(body), rev, "--", strip=False))

    def diff_between(self, old: str, new: str) -> tuple[str, list[str]]:
        """The patch from commit `old` to commit `new` and the secrets files it leaves out:
        their names are shown, never their content (`diffs.diff_between`)."""
        return diff_between(self.root, old, new)

    def changed_paths(self, sha: str) -> list[str]:
        out = self._git("diff-tree", "--no-commit-id", "--name-only", "-r", "-z", "--root", "--end-of-options", sha, strip=False)
        return [p for p in out.split("\0") if p]

