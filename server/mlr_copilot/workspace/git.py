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
import time
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import git
from pydantic import BaseModel, ConfigDict

from mlr_copilot.errors import MlrError
from mlr_copilot.slugs import slugify
from mlr_copilot.state import StateDir
from mlr_copilot.workspace import gitsafe
from mlr_copilot.workspace.paths import is_secret_name, relative_posix
from mlr_copilot.workspace.refs import check_branch_name, commit_of

log = logging.getLogger(__name__)

NOTES_REF = "mlr"
HYPOTHESIS_TRAILER = "MLR-Hypothesis"
REVERTS_TRAILER = "MLR-Reverts"
BRANCH_PREFIX = "mlr/"
DEFAULT_IDENTITY = ("MLR-Copilot", "mlr-copilot@localhost")
STARTER_MESSAGE = "Starter code"
# Files this large are kept out of the starter commit (listed in .git/info/exclude) so
# datasets and checkpoints never bloat the user's history.
STARTER_MAX_FILE_BYTES = 20 * 1024 * 1024

_TRAILER_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_IGNORE_RULE = re.compile(r"(.+?):(\d+):(.*)")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_REVERTS_LINE = re.compile(r"This reverts commit ([0-9a-f]{40})")
_LOCKED = re.compile(r"\.lock'?: File exists|cannot lock ref")
LOCK_WAIT_S = 10.0
LOCK_RETRY_S = 0.1
_FIELD = "\x1f"
_RECORD = "\x1e"


# Every path handed to git here names one file: a file the LLM called `*.py` must not match
# the user's other files as a glob would.
_LITERAL = {"GIT_LITERAL_PATHSPECS": "1"}


class GitWorkspaceError(MlrError):
    """A git operation on the workspace failed."""


class NotARepositoryError(GitWorkspaceError):
    pass


class NoCommitsError(GitWorkspaceError):
    pass


class DirtyTreeError(GitWorkspaceError):
    def __init__(self, message: str, paths: list[str]):
        super().__init__(message)
        self.paths = paths


class DetachedHeadError(GitWorkspaceError):
    pass


class OperationInProgressError(GitWorkspaceError):
    pass


class NothingToUndoError(GitWorkspaceError):
    pass


class _Head(NamedTuple):
    sha: str
    ref: str


class CommitInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    sha: str
    short: str
    subject: str
    trailers: dict[str, str]
    date: datetime
    parents: list[str]


def _list_paths(paths: list[str], limit: int = 15) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def _porcelain_paths(status: str) -> list[tuple[str, str]]:
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


def parse_trailers(block: str) -> dict[str, str]:
    trailers: dict[str, str] = {}
    for line in block.splitlines():
        key, sep, value = line.partition(":")
        if sep and _TRAILER_KEY.match(key.strip()):
            trailers[key.strip()] = value.strip()
    return trailers


class GitWorkspace:
    """Git operations on one workspace whose root is the repository's top level."""

    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()
        self._repo: git.Repo | None = None
        self._identity: dict[str, str] | None = None

    # -- plumbing -------------------------------------------------------------------------

    @property
    def repo(self) -> git.Repo:
        if self._repo is None:
            self._repo = self._open()
        return self._repo

    def _open(self) -> git.Repo:
        if not self.root.is_dir():
            raise NotARepositoryError(f"{self.root} is not a folder")
        try:
            repo = git.Repo(self.root, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise NotARepositoryError(
                f"{self.root} is not a git repository. MLR-Copilot records every accepted edit as a "
                "git commit: run `git init` there and commit your starting code, or let "
                "MLR-Copilot initialise it (it commits the current files as \"Starter code\")."
            ) from None
        top = Path(repo.working_tree_dir or "").resolve() if repo.working_tree_dir else None
        if top != self.root:
            raise NotARepositoryError(
                f"{self.root} is inside the git repository {top}, not its top level; "
                f"open {top} as the workspace instead"
            )
        return repo

    def _git(self, *args: str, env: dict[str, str] | None = None, strip: bool = True) -> str:
        waited = 0.0
        while True:
            try:
                return self.repo.git.execute(
                    gitsafe.command(*args), env=gitsafe.environment(self.root, {**_LITERAL, **(env or {})}),
                    strip_newline_in_stdout=strip, stdout_as_string=True,
                )
            except git.CommandError as exc:
                detail = (exc.stderr or exc.stdout or "").strip().removeprefix("stderr: ").strip("'\n ") or str(exc)
            # An editor's git integration refreshes its status in the background and holds
            # index.lock (or a ref lock) for a moment; the failed command changed nothing.
            if not _LOCKED.search(detail):
                raise GitWorkspaceError(f"git {args[0]} failed in {self.root}: {detail}")
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
        try:
            return self.repo.git.execute(gitsafe.command(*args), env=gitsafe.environment(self.root, _LITERAL),
                                         stdout_as_string=True)
        except git.CommandError:
            return None

    def _identity_env(self) -> dict[str, str]:
        """Author/committer variables, set to MLR-Copilot only where git has no identity."""
        if self._identity is None:
            env: dict[str, str] = {}
            for role in ("AUTHOR", "COMMITTER"):
                if self._git_ok("-c", "user.useConfigOnly=true", "var", f"GIT_{role}_IDENT") is None:
                    env[f"GIT_{role}_NAME"], env[f"GIT_{role}_EMAIL"] = DEFAULT_IDENTITY
            self._identity = env
        return self._identity

    # -- repository state -----------------------------------------------------------------

    def ensure_repo(self, init: bool = False) -> None:
        """Check the workspace is a repository with a first commit; with `init`, make both."""
        try:
            self.repo
        except NotARepositoryError:
            if not init or self._inside_other_repo():
                raise
            self._init()
        if self._has_commits():
            return
        if not init:
            raise NoCommitsError(
                f"the git repository {self.root} has no commits yet. Commit your starting code "
                "(`git add -A && git commit -m 'Starter code'`) or let MLR-Copilot make that first commit."
            )
        self._starter_commit()

    def _inside_other_repo(self) -> bool:
        try:
            git.Repo(self.root, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            return False
        return True

    def _init(self) -> None:
        if not self.root.is_dir():
            raise NotARepositoryError(f"{self.root} is not a folder")
        try:
            configured = git.Git(str(self.root)).execute(gitsafe.command("config", "--get", "init.defaultBranch"),
                                                         env=gitsafe.environment(None))
        except git.CommandError:
            configured = ""
        args = gitsafe.command("init", "-q", *([] if configured else ["--initial-branch=main"]))
        try:
            git.Git(str(self.root)).execute(args, env=gitsafe.environment(None))
        except git.CommandError as exc:
            raise NotARepositoryError(f"could not initialise a git repository in {self.root}: {exc.stderr}") from None
        self._repo = None
        StateDir(self.root).ensure()
        log.info("initialised a git repository in %s", self.root)

    def _has_commits(self) -> bool:
        return self._git_ok("rev-parse", "--verify", "-q", "HEAD^{commit}") is not None

    def _starter_commit(self) -> None:
        StateDir(self.root).ensure()
        self._exclude_from_starter()
        self._git("add", "-A", "--", ".")
        self._git("commit", "-q", "--no-verify", "--allow-empty", "-m", STARTER_MESSAGE, env=self._identity_env())
        log.info("committed the starter code in %s", self.root)

    def _exclude_from_starter(self) -> None:
        """List large files and secrets files in .git/info/exclude, so `add -A` leaves them out."""
        listed = self._git("ls-files", "-o", "--exclude-standard", "-z", strip=False)
        large, secret = [], []
        for rel in filter(None, listed.split("\0")):
            parts = rel.split("/")
            hit = next((n for n, part in enumerate(parts, start=1) if is_secret_name(part)), None)
            if hit is not None:
                # a folder named like one (a virtualenv called `.env`) is excluded as a whole
                secret.append("/".join(parts[:hit]) + ("/" if hit < len(parts) else ""))
                continue
            try:
                if (self.root / rel).lstat().st_size > STARTER_MAX_FILE_BYTES:
                    large.append(rel)
            except OSError:
                continue
        secret = list(dict.fromkeys(secret))
        sections = [(why, rels) for why, rels in (("large files", large), ("secrets files", secret)) if rels]
        if not sections:
            return
        exclude = Path(self._git("rev-parse", "--git-path", "info/exclude"))
        exclude = exclude if exclude.is_absolute() else self.root / exclude
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with exclude.open("a", encoding="utf-8") as handle:
            for why, rels in sections:
                handle.write(f"\n# {why} kept out of the starter commit by MLR-Copilot\n")
                for rel in rels:
                    handle.write("/" + re.sub(r"([\\*?\[\]!#])", r"\\\1", rel) + "\n")
                log.warning("kept %d %s out of the starter commit: %s", len(rels), why, _list_paths(rels))

    def _operation_in_progress(self) -> str | None:
        git_dir = Path(self.repo.git_dir)
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

    def forget_additions(self, rels: list[str]) -> None:
        """Drop the index entries of new files that are gone again (intended additions left by
        an interrupted commit), so they do not read as the user's staged changes."""
        if rels:
            self._git("reset", "--quiet", "--", *rels)

    def current_branch(self) -> str | None:
        """The checked-out branch's short name, or None on a detached HEAD."""
        ref = self._git_ok("symbolic-ref", "-q", "HEAD")
        return ref.removeprefix("refs/heads/") if ref else None

    def _check_state(self) -> _Head:
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
        return _Head(sha, ref)

    def _read_head(self) -> tuple[str | None, str | None]:
        """(HEAD's commit, None before the first; the branch ref it is on, None if detached).

        Read from the repository's files, as GitPython reads refs: an agent step commits in a
        few git processes and this spares one. A reftable repository, which has no such files,
        is asked with rev-parse.
        """
        if (Path(self.repo.common_dir) / "reftable").is_dir():
            out = self._git_ok("rev-parse", "--symbolic-full-name", "HEAD", "HEAD")
            if out is None:
                sha, ref = None, self._git_ok("symbolic-ref", "-q", "HEAD")
            else:
                ref, sha = out.split()
        else:
            head = self.repo.head
            ref = None if head.is_detached else head.ref.path
            try:
                sha = git.SymbolicReference.dereference_recursive(self.repo, "HEAD")
            except ValueError:
                sha = None
        # A HEAD on anything but a local branch is as good as detached for an agent commit.
        return sha, ref if ref and ref.startswith("refs/heads/") else None

    def _tracked_changes(self) -> list[str]:
        status = self._git("status", "--porcelain=v1", "-z", "--untracked-files=no", gitsafe.NO_SUBMODULES, strip=False)
        return [path for _, path in _porcelain_paths(status)]

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
        for code, path in _porcelain_paths(out):
            # an ignored or untracked folder is listed as itself, for every file inside it
            for rel in rels:
                if rel == path or (path.endswith("/") and rel.startswith(path) and os.path.lexists(self.root / rel)):
                    codes[rel] = code
        return codes

    def _ignore_rules(self, rels: list[str]) -> dict[str, str]:
        """The ignore rule (`source:line: pattern`) of each of `rels` git would not add."""
        if not rels:
            return {}
        try:
            # one line per path, in order ("::" where none matches); check-ignore knows no
            # pathspec magic, and takes each path as written
            out = self.repo.git.execute(["git", "check-ignore", "-v", "--non-matching", "--", *rels],
                                        env={"GIT_LITERAL_PATHSPECS": "0"}, stdout_as_string=True)
        except git.CommandError:
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

    def check_clean_for_agent(self) -> _Head:
        """Raise unless the agent may start: on a branch, no operation under way, no tracked
        changes. Returns where HEAD is. An accepted change a killed process left half-written is
        settled first (see `experiment/transaction.py`): it is the agent's, not the user's."""
        from mlr_copilot.experiment.transaction import settle

        head = self._check_state()
        settle(self)
        changed = self._tracked_changes()
        if changed:
            raise DirtyTreeError(
                f"{len(changed)} tracked file(s) have uncommitted changes in {self.root}: "
                f"{_list_paths(changed)}. Commit or stash them first so MLR-Copilot's edits "
                "never mix with yours (untracked files are fine).",
                changed,
            )
        return head

    # -- branches -------------------------------------------------------------------------

    def branch_for(self, hypothesis_slug: str) -> str:
        return BRANCH_PREFIX + slugify(hypothesis_slug, 48, fallback="hypothesis")

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
                f"the index has staged changes ({_list_paths(staged)}); MLR-Copilot commits only its own "
                "edits, so unstage those first (`git restore --staged <file>`) or commit them",
                staged,
            )
        present = []
        for rel in rels:
            try:
                info = (self.root / rel).lstat()
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(info.st_mode):
                raise GitWorkspaceError(f"cannot commit {rel}: it is not a regular file")
            present.append(rel)
        # git trusts a file whose size and time match its index entry; a file rewritten with
        # the same size and its old time kept (a copy that preserves times) would look unchanged.
        # Its time set to now makes git read the content.
        for rel in present:
            os.utime(self.root / rel)
        full_message = format_message(message, trailers or {})
        args = ("commit", "--quiet", "--only", "--no-verify", "--no-gpg-sign", "--cleanup=verbatim",
                "-m", full_message, "--", *rels)
        env = self._identity_env()
        try:
            self._git(*args, env=env)
        except GitWorkspaceError:
            # `commit --only` knows no untracked path: record the new ones as intended
            # additions and try once more (only a step that adds files pays for this).
            new = self._untracked(present)
            if not new:
                self._raise_uncommitted(head, rels)
            ignored = self._ignore_rules(new)
            if ignored:
                # never forced in: an ignored file may hold secrets or data the user keeps out of git
                raise GitWorkspaceError(f"cannot commit {_list_paths(sorted(ignored))}: ignored by git "
                                        f"({'; '.join(ignored.values())}); MLR-Copilot never adds an ignored file")
            self._git("add", "--intent-to-add", "--", *new)
            try:
                self._git(*args, env=env)
            except GitWorkspaceError:
                self._git("reset", "--quiet", "--", *new)
                self._raise_uncommitted(head, rels)
        sha, _ = self._read_head()
        return sha

    def _untracked(self, rels: list[str]) -> list[str]:
        out = self._git("ls-files", "-z", "--", *rels, strip=False) if rels else ""
        tracked = set(filter(None, out.split("\0")))
        return [rel for rel in rels if rel not in tracked]

    def _raise_uncommitted(self, head: _Head, rels: list[str]) -> None:
        """Re-raise the commit's failure, named as such when the paths have nothing to commit."""
        if self._git_ok("diff", "--quiet", "--no-ext-diff", "--no-textconv", gitsafe.NO_SUBMODULES, head.sha, "--", *rels) is not None:
            raise GitWorkspaceError(f"nothing to commit: {_list_paths(rels)} already match the last commit") from None
        raise

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
        fields = ["%H", "%h", "%s", "%cI", "%P", "%(trailers:only,unfold)"] + (["%b"] if body else [])
        rev = branch or "HEAD"
        if rev == "HEAD" and not self._has_commits():
            return []
        fmt = f"--format={_FIELD.join(fields)}{_RECORD}"
        out = self._git("log", f"--max-count={limit}", fmt, rev, "--", strip=False)
        commits = []
        for record in out.split(_RECORD):
            record = record.lstrip("\n")
            if not record:
                continue
            sha, short, subject, date, parents, trailers, *rest = record.split(_FIELD)
            info = CommitInfo(
                sha=sha,
                short=short,
                subject=subject,
                trailers=parse_trailers(trailers),
                date=datetime.fromisoformat(date),
                parents=parents.split(),
            )
            commits.append((info, rest[0] if rest else ""))
        return commits

    def diff_for(self, sha: str) -> str:
        return self._git("show", "--format=", "--patch", "--no-color", "--no-ext-diff", "--no-textconv",
                         "--end-of-options", sha, "--")

    def diff_between(self, old: str, new: str) -> tuple[str, list[str]]:
        """The patch from commit `old` to commit `new` (each checked by `refs.commit_of`) and
        the secrets files it leaves out: their names are shown, never their content."""
        old, new = commit_of(self.root, old), commit_of(self.root, new)
        changed = self._git("diff", "--name-only", "-z", "--no-renames", "--end-of-options", old, new, "--", strip=False)
        paths = [p for p in changed.split("\0") if p]
        secret = sorted({p for p in paths if any(is_secret_name(part) for part in p.split("/"))})
        # the other paths by name: every pathspec here is literal (`_LITERAL`), so no exclude magic
        shown = [p for p in paths if p not in secret]
        patch = self._git("diff", "--stat", "--patch", "--no-color", "--no-ext-diff", "--no-textconv",
                          "--end-of-options", old, new, "--", *shown) if shown else ""
        return patch, secret

    def changed_paths(self, sha: str) -> list[str]:
        out = self._git("diff-tree", "--no-commit-id", "--name-only", "-r", "-z", "--root", "--end-of-options", sha, strip=False)
        return [p for p in out.split("\0") if p]

    # -- undo -----------------------------------------------------------------------------

    def last_agent_commit(self) -> CommitInfo | None:
        """The newest commit on this branch with an `MLR-Hypothesis` trailer not yet reverted.

        Reverts made by undo carry `MLR-Reverts`; a user's own `git revert` is recognised by
        the "This reverts commit <sha>" line git writes.
        """
        reverted: set[str] = set()
        for commit, body in self._log(None, 10_000, body=True):
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

    def undo_last_agent_commit(self) -> str:
        """Revert the last agent commit with a new commit; return its sha."""
        from mlr_copilot.experiment.transaction import settle

        self._check_state()
        settle(self)
        target = self.last_agent_commit()
        if target is None:
            raise NothingToUndoError(f"no MLR-Copilot commit to undo on branch {self.current_branch()}")
        staged = self._staged_paths()
        touched = set(self.changed_paths(target.sha))
        status = self._git("status", "--porcelain=v1", "-z", "--untracked-files=all", gitsafe.NO_SUBMODULES, strip=False)
        blocking = sorted({p for code, p in _porcelain_paths(status) if p in touched} | set(staged))
        if blocking:
            raise DirtyTreeError(
                f"cannot undo {target.short} ({target.subject!r}): {_list_paths(blocking)} have uncommitted "
                "changes; commit or stash them first",
                blocking,
            )
        env = self._identity_env()
        try:
            self._git("revert", "--no-commit", target.sha, env=env)
        except GitWorkspaceError as exc:
            # Only a revert that stopped on conflicts leaves REVERT_HEAD; anything else (a held
            # index.lock, a file in the way) is named as git named it.
            if not (Path(self.repo.git_dir) / "REVERT_HEAD").exists():
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

    # -- notes ----------------------------------------------------------------------------

    def add_note(self, sha: str, text: str) -> None:
        """Append `text` to the commit's note under refs/notes/mlr (an existing note is kept)."""
        self._git("notes", f"--ref={NOTES_REF}", "append", "-m", text, "--end-of-options", sha, env=self._identity_env())

    def read_notes(self, sha: str) -> str:
        note = self._git_ok("notes", f"--ref={NOTES_REF}", "show", "--end-of-options", sha)
        return note or ""


def format_message(message: str, trailers: dict[str, str]) -> str:
    """`message` followed by a trailer block of `Key: value` lines."""
    body = message.strip()
    if not body:
        raise GitWorkspaceError("a commit message is required")
    lines = []
    for key, value in trailers.items():
        if not _TRAILER_KEY.match(key):
            raise GitWorkspaceError(f"invalid trailer key {key!r}: use letters, digits and '-'")
        value = " ".join(str(value).split())
        if not value:
            raise GitWorkspaceError(f"trailer {key!r} has an empty value")
        lines.append(f"{key}: {value}")
    return body + ("\n\n" + "\n".join(lines) if lines else "") + "\n"

