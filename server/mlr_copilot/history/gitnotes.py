"""The little git this package needs, called directly: where HEAD is, whether the tree is
dirty, the commits of a branch, and run summaries appended as notes under `refs/notes/mlr`
(so `git log --notes=mlr` shows them and no commit is added to the user's history)."""

from __future__ import annotations

import functools
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..workspace import gitsafe

log = logging.getLogger(__name__)

NOTES_REF = "mlr"
HYPOTHESIS_TRAILER = "MLR-Hypothesis"
# Used for the notes commit only when the user has no git identity configured.
FALLBACK_IDENTITY = ("-c", "user.name=MLR-Copilot", "-c", "user.email=mlr-copilot@localhost")


def git(workspace: Path | str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        gitsafe.command(*args),
        cwd=workspace,
        env=gitsafe.environment(workspace),
        capture_output=True,
        # ref names and paths are bytes: a planted branch `caf\xff` must not raise here
        encoding="utf-8",
        errors="replace",
        check=check,
        stdin=subprocess.DEVNULL,
    )


@dataclass(frozen=True)
class HeadInfo:
    commit: str
    branch: str | None
    dirty: bool


def head_info(workspace: Path | str) -> HeadInfo | None:
    """HEAD of the workspace repository; None when it is not a git repository or has no commit.
    One `git status` answers all three questions: every run asks them, and each git process
    costs several milliseconds."""
    try:
        # Tracked changes only: untracked outputs (checkpoints, plots) do not make a run dirty.
        status = git(workspace, "status", "--porcelain=v2", "--branch", "--untracked-files=no", gitsafe.NO_SUBMODULES,
                     check=False)
    except OSError:
        return None
    if status.returncode != 0:
        return None
    commit = branch = None
    dirty = False
    for line in status.stdout.splitlines():
        if line.startswith("# branch.oid "):
            commit = line.removeprefix("# branch.oid ")
        elif line.startswith("# branch.head "):
            branch = line.removeprefix("# branch.head ")
        elif not line.startswith("#"):
            dirty = True
    if commit is None or commit == "(initial)":
        return None
    return HeadInfo(commit, None if branch == "(detached)" else branch, dirty)


@functools.lru_cache(maxsize=64)
def _has_identity(workspace: str) -> bool:
    return git(workspace, "var", "GIT_COMMITTER_IDENT", check=False).returncode == 0


def append_note(workspace: Path | str, commit: str, text: str) -> bool:
    """Append one line to the commit's note under refs/notes/mlr; False (logged) on failure.
    The user's own identity is tried first and the fallback only when git has none, so the
    common case is a single git process."""
    # a record read back from .mlr/ may name anything as its commit: never read as an option
    args = ("notes", f"--ref={NOTES_REF}", "append", "-m", text, "--end-of-options", commit)
    result = git(workspace, *args, check=False)
    if result.returncode != 0 and not _has_identity(str(workspace)):
        result = git(workspace, *FALLBACK_IDENTITY, *args, check=False)
    if result.returncode != 0:
        log.warning("could not attach the run note to %s: %s", commit[:12], result.stderr.strip())
        return False
    return True


def read_notes(workspace: Path | str, commit: str) -> str:
    result = git(workspace, "notes", f"--ref={NOTES_REF}", "show", "--end-of-options", commit, check=False)
    return result.stdout if result.returncode == 0 else ""


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    short: str
    subject: str
    hypothesis: str | None


def default_branch(workspace: Path | str) -> str | None:
    """The repository's base branch: origin's HEAD, else init.defaultBranch, main or master."""
    remote_head = git(workspace, "symbolic-ref", "--short", "-q", "refs/remotes/origin/HEAD", check=False)
    candidates = []
    if remote_head.returncode == 0 and remote_head.stdout.strip():
        candidates.append(remote_head.stdout.strip().split("/", 1)[-1])
    configured = git(workspace, "config", "--get", "init.defaultBranch", check=False).stdout.strip()
    candidates += [name for name in (configured, "main", "master") if name]
    for name in candidates:
        if git(workspace, "rev-parse", "--verify", "-q", f"refs/heads/{name}", check=False).returncode == 0:
            return name
    return None


def branch_commits(workspace: Path | str, branch: str | None = None, *, limit: int = 500) -> list[CommitInfo]:
    """The commits of `branch` (default: the current one), newest first, back to and including
    its merge base with the default branch; the whole (capped) history on the default branch.
    A `branch` from outside is checked first (`workspace.refs.branch_ref`)."""
    tip = branch or "HEAD"
    range_args = [tip]
    default = default_branch(workspace)
    if default is not None:
        base = git(workspace, "merge-base", "--end-of-options", default, tip, check=False).stdout.strip()
        tip_sha = git(workspace, "rev-parse", "--verify", "-q", "--end-of-options", tip, check=False).stdout.strip()
        if base and base != tip_sha:
            range_args = [tip, f"^{base}^@"]
    fmt = f"%H%x00%h%x00%s%x00%(trailers:key={HYPOTHESIS_TRAILER},valueonly,separator=%x2C )%x1e"
    result = git(workspace, "log", f"--max-count={limit}", f"--format={fmt}", "--end-of-options", *range_args, "--", check=False)
    if result.returncode != 0:
        return []
    commits = []
    for entry in result.stdout.split("\x1e"):
        entry = entry.strip("\n")
        if not entry:
            continue
        sha, short, subject, hypothesis = (entry.split("\x00") + [""] * 4)[:4]
        commits.append(CommitInfo(sha, short, subject, hypothesis.strip() or None))
    return commits
