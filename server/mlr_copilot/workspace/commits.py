"""Commits as the project reads and writes them: the one `CommitInfo`, the `MLR-*` trailers,
where HEAD is and the commits of a branch.

Light on purpose (no GitPython): every run asks where HEAD is, and the history table lists
branches, through `gitsafe.run_text`, one git process per question.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from mlr_copilot.plain import EMPTY_DICT, EMPTY_LIST
from mlr_copilot.workspace import gitsafe
from mlr_copilot.workspace.errors import GitWorkspaceError

HYPOTHESIS_TRAILER = "MLR-Hypothesis"
REVERTS_TRAILER = "MLR-Reverts"
# Branches the agent makes, one per hypothesis.
BRANCH_PREFIX = "mlr/"
# The identity of agent commits and notes where git has none configured.
DEFAULT_IDENTITY = ("MLR-Copilot", "mlr-copilot@localhost")

_TRAILER_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_FIELD = "\x1f"
_RECORD = "\x1e"
_LOG_FIELDS = ("%H", "%h", "%s", "%cI", "%P", "%(trailers:only,unfold)")


class CommitInfo(NamedTuple):
    """One commit; `date` is None only for a placeholder of a run made outside any commit.
    A plain record (`plain.py`): `history` starts without pydantic."""

    sha: str
    short: str
    subject: str
    trailers: dict[str, str] = EMPTY_DICT
    date: datetime | None = None
    parents: list[str] = EMPTY_LIST

    @property
    def hypothesis(self) -> str | None:
        return self.trailers.get(HYPOTHESIS_TRAILER) or None


def parse_trailers(block: str) -> dict[str, str]:
    trailers: dict[str, str] = {}
    for line in block.splitlines():
        key, sep, value = line.partition(":")
        if sep and _TRAILER_KEY.match(key.strip()):
            trailers[key.strip()] = value.strip()
    return trailers


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


def log_format(body: bool = False) -> str:
    """The `git log` option whose output `parse_log` reads (with `body`, each message's body)."""
    return f"--format={_FIELD.join([*_LOG_FIELDS, *(['%b'] if body else [])])}{_RECORD}"


def parse_log(out: str) -> list[tuple[CommitInfo, str]]:
    """(commit, body: empty unless asked for) of each record of `log_format`'s output."""
    commits = []
    for record in out.split(_RECORD):
        record = record.lstrip("\n")
        if not record:
            continue
        sha, short, subject, date, parents, trailers, *rest = record.split(_FIELD)
        info = CommitInfo(sha=sha, short=short, subject=subject, trailers=parse_trailers(trailers),
                          date=datetime.fromisoformat(date), parents=parents.split())
        commits.append((info, rest[0] if rest else ""))
    return commits


class HeadInfo(NamedTuple):
    commit: str
    branch: str | None
    dirty: bool


def head_info(workspace: Path | str) -> HeadInfo | None:
    """HEAD of the workspace repository; None when it is not a git repository or has no commit.
    One `git status` answers all three questions: every run asks them, and each git process
    costs several milliseconds."""
    try:
        # Tracked changes only: untracked outputs (checkpoints, plots) do not make a run dirty.
        status = gitsafe.run_text(workspace, "status", "--porcelain=v2", "--branch", "--untracked-files=no",
                                  gitsafe.NO_SUBMODULES)
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


def default_branch(workspace: Path | str) -> str | None:
    """The repository's base branch: origin's HEAD, else init.defaultBranch, main or master.
    One `for-each-ref` lists the branches and where origin's HEAD points, and the config is
    asked only when that does not settle it: each git process costs several milliseconds of
    the start-up of `history` (bench/bench_startup.py)."""
    listed = gitsafe.run_text(workspace, "for-each-ref", "--format=%(refname)%00%(symref)", "refs/heads/",
                              "refs/remotes/origin/HEAD")
    if listed.returncode != 0:
        return None
    heads, remote_head = set(), ""
    for line in listed.stdout.splitlines():
        ref, _, target = line.partition("\0")
        if ref == "refs/remotes/origin/HEAD":
            remote_head = target.removeprefix("refs/remotes/").split("/", 1)[-1]
        else:
            heads.add(ref.removeprefix("refs/heads/"))
    if remote_head in heads:
        return remote_head
    configured = gitsafe.run_text(workspace, "config", "--get", "init.defaultBranch").stdout.strip()
    return next((name for name in (configured, "main", "master") if name and name in heads), None)


def branch_commits(workspace: Path | str, branch: str | None = None, *, limit: int = 500) -> list[CommitInfo]:
    """The commits of `branch` (default: the current one), newest first, back to and including
    its merge base with the default branch; the whole (capped) history on the default branch.
    A `branch` from outside is checked first (`workspace.refs.branch_ref`)."""
    return commits_since_base(workspace, branch, default_branch(workspace), limit=limit)


def commits_since_base(workspace: Path | str, branch: str | None, default: str | None, *,
                       limit: int = 500) -> list[CommitInfo]:
    """`branch_commits` with the default branch known (`default_branch`), for a caller that
    lists several branches against it."""
    tip = branch or "HEAD"
    range_args = [tip]
    # the default branch's own history is whole: no merge base to ask for
    if default is not None and tip not in (default, f"refs/heads/{default}"):
        base = gitsafe.run_text(workspace, "merge-base", "--end-of-options", default, tip).stdout.strip()
        tip_sha = gitsafe.run_text(workspace, "rev-parse", "--verify", "-q", "--end-of-options", tip).stdout.strip()
        if base and base != tip_sha:
            range_args = [tip, f"^{base}^@"]
    result = gitsafe.run_text(workspace, "log", f"--max-count={limit}", log_format(), "--end-of-options",
                              *range_args, "--")
    if result.returncode != 0:
        return []
    return [commit for commit, _ in parse_log(result.stdout)]
